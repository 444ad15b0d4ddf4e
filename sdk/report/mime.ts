import { inspect } from 'node:util';

/**
 * A Jupyter MIME bundle: MIME type → payload. Text types carry strings, JSON types
 * (vega-lite, data resource) carry plain JSON objects.
 */
export type MimeBundle = Record<string, unknown>;

/** The Deno kernel's convention, adopted here: an object that knows how to show itself. */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for('Jupyter.display');

export interface Displayable {
  [JUPYTER_DISPLAY](): MimeBundle | Promise<MimeBundle>;
}

export function isDisplayable(value: unknown): value is Displayable {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as Partial<Displayable>)[JUPYTER_DISPLAY] === 'function'
  );
}

/** The plain-text form of any value, as Node's REPL shows it (strings quoted). */
export function plainText(value: unknown): string {
  return inspect(value, { colors: false, depth: 4 });
}
