import { MmkitError } from '../errors';

/** A list-of-strings option (node names, op types), copied; absent means empty. `op` names the step in the error. */
export function stringList(op: string, value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new MmkitError('BAD_OPTION', `${op}: ${what} must be a list of strings.`, { hint: `Got ${JSON.stringify(value)}.` });
  }
  return [...(value as string[])];
}
