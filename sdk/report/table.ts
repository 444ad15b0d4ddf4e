import { inspect } from 'node:util';
import { escapeHtml } from './html';
import { JUPYTER_DISPLAY, type Displayable, type MimeBundle } from './mime';

export type CellValue = string | number | boolean | bigint | null | undefined;
export type Row = Record<string, CellValue>;

/** Table Schema field types (frictionless data), as carried by application/vnd.dataresource+json. */
export type FieldType = 'number' | 'integer' | 'string' | 'boolean' | 'any';

export interface DataResource {
  schema: { fields: { name: string; type: FieldType }[] };
  data: Record<string, string | number | boolean | null>[];
}

export interface TableOptions {
  /** Column order; default: keys in order of first appearance. */
  columns?: string[];
  /** Shown above the table in HTML and text. */
  title?: string;
  /** Significant digits for non-integer numbers in HTML and text (the data keeps full precision). */
  digits?: number;
}

function fieldType(values: readonly CellValue[]): FieldType {
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length === 0) return 'any';
  if (present.every((v) => typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v)))) return 'integer';
  if (present.every((v) => typeof v === 'number')) return 'number';
  if (present.every((v) => typeof v === 'boolean')) return 'boolean';
  return 'string';
}

function jsonCell(value: CellValue): string | number | boolean | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return value;
}

/**
 * Rows with named columns that show as an HTML table in notebooks (escaped text/html, the
 * application/vnd.dataresource+json data, text/plain) and as aligned text in terminals.
 */
export class Table implements Displayable {
  readonly columns: readonly string[];
  readonly rows: readonly Row[];
  readonly title?: string;
  private readonly digits: number;

  constructor(rows: readonly Row[], options: TableOptions = {}) {
    this.rows = rows.map((row) => ({ ...row }));
    this.columns = options.columns ?? [...new Set(rows.flatMap((row) => Object.keys(row)))];
    this.title = options.title;
    this.digits = options.digits ?? 4;
  }

  /** The values of one column, in row order. */
  column(name: string): CellValue[] {
    return this.rows.map((row) => row[name]);
  }

  formatCell(value: CellValue): string {
    if (value === null || value === undefined) return '';
    if (typeof value === 'number' && !Number.isInteger(value) && Number.isFinite(value)) {
      return String(Number(value.toPrecision(this.digits)));
    }
    return String(value);
  }

  toDataResource(): DataResource {
    return {
      schema: { fields: this.columns.map((name) => ({ name, type: fieldType(this.column(name)) })) },
      data: this.rows.map((row) => Object.fromEntries(this.columns.map((c) => [c, jsonCell(row[c])]))),
    };
  }

  toHTML(): string {
    const numeric = new Set(this.columns.filter((c) => ['number', 'integer'].includes(fieldType(this.column(c)))));
    const cell = (tag: 'td' | 'th', column: string, text: string) =>
      `<${tag}${numeric.has(column) ? ' style="text-align:right"' : ''}>${escapeHtml(text)}</${tag}>`;
    const head = `<tr>${this.columns.map((c) => cell('th', c, c)).join('')}</tr>`;
    const body = this.rows.map((row) => `<tr>${this.columns.map((c) => cell('td', c, this.formatCell(row[c]))).join('')}</tr>`);
    const caption = this.title ? `<caption>${escapeHtml(this.title)}</caption>` : '';
    return `<table class="mmkit-table">${caption}<thead>${head}</thead><tbody>${body.join('')}</tbody></table>`;
  }

  toText(): string {
    const cells = this.rows.map((row) => this.columns.map((c) => this.formatCell(row[c])));
    const widths = this.columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
    const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
    const lines = [line([...this.columns]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)];
    return (this.title ? [this.title, ...lines] : lines).join('\n');
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    return {
      'text/html': this.toHTML(),
      'application/vnd.dataresource+json': this.toDataResource(),
      'text/plain': this.toText(),
    };
  }

  [inspect.custom](): string {
    return this.toText();
  }
}
