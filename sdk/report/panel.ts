import { inspect } from 'node:util';
import { Chart } from './chart';
import { escapeHtml } from './html';
import { JUPYTER_DISPLAY, type Displayable, type MimeBundle } from './mime';
import { factsEntry, type ReportFacts } from './report-facts';
import { Table } from './table';

/** A sentence worth flagging (shown highlighted), e.g. "int8 model is slower than fp32". */
export class Warning {
  constructor(readonly text: string) {}
}

export type PanelPart = Table | Chart | Warning | string;

/**
 * Several tables, charts, warnings and notes shown together under a title: HTML with the
 * charts inlined as SVG in notebooks and reports, plain text in terminals. (A lone Chart
 * keeps its vega-lite bundle; a panel is a document, so it is HTML.)
 */
export class Panel implements Displayable {
  /**
   * @param facts recipe and model hashes this panel is about, passed on to the notebook's
   *   HTML report (see REPORT_MIME)
   */
  constructor(
    readonly title: string,
    readonly parts: readonly PanelPart[],
    readonly facts?: ReportFacts,
  ) {}

  get tables(): Table[] {
    return this.parts.filter((p): p is Table => p instanceof Table);
  }

  get charts(): Chart[] {
    return this.parts.filter((p): p is Chart => p instanceof Chart);
  }

  get warnings(): string[] {
    return this.parts.filter((p): p is Warning => p instanceof Warning).map((w) => w.text);
  }

  async toHTML(): Promise<string> {
    const html = await Promise.all(
      this.parts.map(async (part) => {
        if (part instanceof Table) return part.toHTML();
        if (part instanceof Chart) return `<div class="mmkit-chart">${await part.toSVG()}</div>`;
        if (part instanceof Warning) {
          return `<p class="mmkit-warning" style="background:#fff4e5;border-left:4px solid #e67e00;padding:.3em .6em">⚠ ${escapeHtml(part.text)}</p>`;
        }
        return `<p>${escapeHtml(part)}</p>`;
      }),
    );
    return `<section class="mmkit-panel"><h3>${escapeHtml(this.title)}</h3>${html.join('\n')}</section>`;
  }

  toText(): string {
    const text = this.parts.map((part) => {
      if (part instanceof Table) return part.toText();
      if (part instanceof Chart) return `[chart: ${part.title}]`;
      if (part instanceof Warning) return `⚠ ${part.text}`;
      return part;
    });
    return `${this.title}\n${'='.repeat(this.title.length)}\n\n${text.join('\n\n')}`;
  }

  async [JUPYTER_DISPLAY](): Promise<MimeBundle> {
    return { 'text/html': await this.toHTML(), 'text/plain': this.toText(), ...(this.facts ? factsEntry(this.facts) : {}) };
  }

  [inspect.custom](): string {
    return this.toText();
  }
}
