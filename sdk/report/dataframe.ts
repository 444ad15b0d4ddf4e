import type { DataFrame } from 'danfojs-node';
import { JUPYTER_DISPLAY } from './mime';
import { Table, type CellValue, type Row, type TableOptions } from './table';

/** What mmkit reads from a danfojs DataFrame (any copy of danfojs). */
export interface DataFrameLike {
  columns: string[];
  values: unknown[];
}

export function isDataFrameLike(value: unknown): value is DataFrameLike {
  if (typeof value !== 'object' || value === null) return false;
  const frame = value as Partial<DataFrameLike>;
  return value.constructor?.name === 'DataFrame' && Array.isArray(frame.columns) && Array.isArray(frame.values);
}

function cellOf(value: unknown): CellValue {
  return typeof value === 'object' || typeof value === 'function' || typeof value === 'symbol' ? String(value) : (value as CellValue);
}

/** A DataFrame's rows as a Table (danfojs keeps a one-column frame's values flat). */
export function tableOfDataFrame(frame: DataFrameLike, options: TableOptions = {}): Table {
  const rows = frame.values.map((values): Row => {
    const cells = Array.isArray(values) ? values : [values];
    return Object.fromEntries(frame.columns.map((name, i) => [name, cellOf(cells[i])]));
  });
  return new Table(rows, { columns: frame.columns, ...options });
}

let danfo: typeof import('danfojs-node') | undefined;

/**
 * Loads danfojs-node on first use (it takes seconds) and teaches its DataFrame to display
 * itself as an HTML table.
 */
function loadDanfo(): typeof import('danfojs-node') {
  if (!danfo) {
    danfo = require('danfojs-node') as typeof import('danfojs-node');
    Object.defineProperty(danfo.DataFrame.prototype, JUPYTER_DISPLAY, {
      configurable: true,
      value(this: DataFrameLike) {
        return tableOfDataFrame(this)[JUPYTER_DISPLAY]();
      },
    });
  }
  return danfo;
}

/** Rows (or a Table) as a danfojs DataFrame that shows as an HTML table in notebooks. */
export function toDataFrame(rows: readonly Row[] | Table): DataFrame {
  const table = rows instanceof Table ? rows : new Table(rows);
  const { DataFrame: Frame } = loadDanfo();
  const data = table.rows.map((row) => Object.fromEntries(table.columns.map((c) => [c, row[c] ?? null])));
  return new Frame(data, { columns: [...table.columns] });
}
