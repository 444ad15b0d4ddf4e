/** The one assertion for a deliberate failure: an MmkitError with this code whose message says what it must. */
import { expect } from 'vitest';
import { isMmkitError, type MmkitErrorCode } from '../sdk/errors';

export async function expectMmkitError(p: Promise<unknown> | (() => unknown), code: MmkitErrorCode, ...mentions: (string | RegExp)[]): Promise<void> {
  let thrown: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    thrown = e;
  }
  expect(isMmkitError(thrown), `expected an MmkitError ${code}, got ${String(thrown)}`).toBe(true);
  const e = thrown as Error & { code: string };
  expect(e.code, e.message).toBe(code);
  for (const m of mentions) expect(e.message).toMatch(m);
}
