import { inspect } from 'node:util';

/**
 * A Jupyter MIME bundle: MIME type → payload. Text types carry strings, JSON types
 * (vega-lite, data resource) carry plain JSON objects.
 */
export type MimeBundle = Record<string, unknown>;

/** The Deno kernel's convention, adopted here: an object that knows how to show itself. */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for('Jupyter.display') as never;

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

/**
 * The bundle a value displays as: its own bundle when it is Displayable (with text/plain
 * filled in if the object left it out, since every frontend needs a fallback), otherwise
 * text/plain alone.
 */
export async function mimeBundleOf(value: unknown): Promise<MimeBundle> {
  if (!isDisplayable(value)) return { 'text/plain': plainText(value) };
  const bundle = await value[JUPYTER_DISPLAY]();
  if (typeof bundle !== 'object' || bundle === null) {
    return { 'text/plain': plainText(value) };
  }
  return 'text/plain' in bundle ? { ...bundle } : { ...bundle, 'text/plain': plainText(value) };
}
