import { inspect } from 'node:util';
import type { TopLevelSpec } from 'vega-lite' with { 'resolution-mode': 'import' };
import { MmkitError } from '../errors';
import { JUPYTER_DISPLAY, type Displayable, type MimeBundle } from './mime';

export type VegaLiteSpec = TopLevelSpec;

/** JupyterLab and VS Code render vega-lite only under the v5 MIME type, with a v5 $schema. */
export const VEGALITE_MIME = 'application/vnd.vegalite.v5+json';
const VEGALITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

/**
 * Renders a vega-lite spec to SVG in Node (no canvas needed). vega and vega-lite are ESM
 * with top-level await, so they load through native import(), which our build keeps.
 */
export async function renderSVG(spec: VegaLiteSpec): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  let view: InstanceType<typeof vega.View> | undefined;
  try {
    const compiled = vegaLite.compile(spec).spec;
    view = new vega.View(vega.parse(compiled), { renderer: 'none' });
    return await view.toSVG();
  } catch (cause) {
    throw new MmkitError('BAD_OPTION', `Could not render the chart "${chartTitle(spec)}" to SVG: ${String(cause)}.`, {
      cause,
      hint: 'Check the vega-lite spec (fields named in encodings must exist in the data).',
    });
  } finally {
    view?.finalize();
  }
}

function chartTitle(spec: VegaLiteSpec): string {
  const title = (spec as { title?: unknown }).title;
  if (typeof title === 'string') return title;
  if (typeof title === 'object' && title !== null && typeof (title as { text?: unknown }).text === 'string') {
    return (title as { text: string }).text;
  }
  return 'untitled chart';
}

/**
 * A vega-lite chart. One spec serves both places: the notebook gets it under the v5 MIME
 * type (interactive in JupyterLab) with an SVG rendered in Node beside it, reports embed
 * the SVG. No text/html in the bundle: JupyterLab would show that instead of the chart.
 */
export class Chart implements Displayable {
  readonly spec: VegaLiteSpec;
  private svg?: Promise<string>;

  constructor(spec: VegaLiteSpec) {
    this.spec = { $schema: VEGALITE_SCHEMA, ...spec } as VegaLiteSpec;
  }

  get title(): string {
    return chartTitle(this.spec);
  }

  /** The chart as standalone SVG markup (rendered once, then reused). */
  toSVG(): Promise<string> {
    this.svg ??= renderSVG(this.spec);
    return this.svg;
  }

  async [JUPYTER_DISPLAY](): Promise<MimeBundle> {
    return {
      [VEGALITE_MIME]: this.spec,
      'image/svg+xml': await this.toSVG(),
      'text/plain': `Chart: ${this.title}`,
    };
  }

  [inspect.custom](): string {
    return `Chart: ${this.title}`;
  }
}
