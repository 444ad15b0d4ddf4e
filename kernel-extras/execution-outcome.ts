import { format, inspect } from 'node:util';

/** The content of an `error` message and of an execute_reply with status "error". */
export interface ErrorContent {
  ename: string;
  evalue: string;
  traceback: string[];
}

// Stack frames from the kernel's own machinery say nothing about the user's cell.
const KERNEL_FRAME = /\(node:|at node:|[\\/]node_modules[\\/]tslab[\\/]|[\\/]kernel-extras[\\/]/;

function errorOfThrown(thrown: unknown): ErrorContent {
  if (thrown instanceof Error || (typeof thrown === 'object' && thrown !== null && 'message' in thrown && 'name' in thrown)) {
    const { name, message, stack } = thrown as Error;
    const frames = (stack ?? `${name}: ${message}`).split('\n');
    const traceback = frames.filter((line, i) => i === 0 || !KERNEL_FRAME.test(line));
    return { ename: String(name), evalue: String(message), traceback };
  }
  const evalue = inspect(thrown);
  return { ename: 'Uncaught', evalue, traceback: [`Uncaught ${evalue}`] };
}

/**
 * Turns what tslab's executor reported through its console.error while a cell failed into
 * an error message. tslab reports a thrown value as one argument and each TypeScript
 * diagnostic as a printf-style line ("%s%d:%d - %s", file, line, column, text).
 */
export function errorContentOf(reports: readonly unknown[][]): ErrorContent {
  if (reports.length === 1 && reports[0].length === 1) return errorOfThrown(reports[0][0]);
  const lines = reports.map((args) => format(...args));
  if (lines.length === 0) return { ename: 'Error', evalue: 'the cell failed without reporting why', traceback: [] };
  const first = reports[0];
  const evalue = first.length === 5 ? String(first[4]) : lines[0];
  return { ename: 'CompileError', evalue, traceback: lines };
}

/** Diagnostics reported for a cell that still ran (tslab's module cells), as stderr text. */
export function diagnosticsText(reports: readonly unknown[][]): string {
  return reports.map((args) => format(...args) + '\n').join('');
}
