/** The assertions for a deliberate failure: an MmkitError, with this code, whose message says what it must. */
import { expect } from 'vitest';
import { isMmkitError, type MmkitError, type MmkitErrorCode } from '../../sdk/errors';

function asMmkitError(thrown: unknown, what: string): MmkitError {
  expect(isMmkitError(thrown), `expected an MmkitError${what}, got ${String(thrown)}`).toBe(true);
  return thrown as MmkitError;
}

/** The MmkitError that `fn` throws (fails the test when it throws nothing, or something else). */
export function mmkitErrorOf(fn: () => unknown): MmkitError {
  try {
    fn();
  } catch (e) {
    return asMmkitError(e, '');
  }
  return asMmkitError(undefined, ' to be thrown');
}

/** The MmkitError that `p` rejects with, or that the function `p` throws or rejects with. */
export function mmkitRejectionOf(p: Promise<unknown> | (() => unknown)): Promise<MmkitError> {
  return rejectionOf(p, '');
}

/** Fails unless `p` fails with an MmkitError of `code` whose message matches every mention; returns the error. */
export async function expectMmkitError(p: Promise<unknown> | (() => unknown), code: MmkitErrorCode, ...mentions: (string | RegExp)[]): Promise<MmkitError> {
  const e = await rejectionOf(p, ` ${code}`);
  expect(e.code, e.message).toBe(code);
  for (const m of mentions) expect(e.message).toMatch(m);
  return e;
}

async function rejectionOf(p: Promise<unknown> | (() => unknown), what: string): Promise<MmkitError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return asMmkitError(e, what);
  }
  return asMmkitError(undefined, `${what} to be thrown`);
}
