/**
 * How `mmkit export` writes files: atomically (a temp file in the target's folder, renamed into
 * place), and never over a file mmkit did not write: generated text files start with
 * GENERATED_MARKER, so a later export knows which ones are its own.
 */
import { promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { MmkitError } from '../errors';
import { MMKIT_VERSION } from '../version';

export const GENERATED_MARKER = '# Written by mmkit export';

/** The first line of a generated text file: `# Written by mmkit export <what> <version>[: <about>]`. */
export function generatedHeader(what: string, about?: string): string {
  return `${GENERATED_MARKER} ${what} ${MMKIT_VERSION}${about ? `: ${about}` : ''}\n`;
}

export async function isGeneratedFile(file: string): Promise<boolean> {
  const fh = await fsp.open(file, 'r').catch(() => undefined);
  if (!fh) return false;
  try {
    const head = Buffer.alloc(GENERATED_MARKER.length);
    await fh.read(head, 0, head.length, 0);
    return head.toString('utf8') === GENERATED_MARKER;
  } finally {
    await fh.close();
  }
}

export async function exists(file: string): Promise<boolean> {
  return fsp.stat(file).then(
    () => true,
    () => false,
  );
}

/** Throws FILE_EXISTS naming every file in `files` that exists and is not mmkit's (unless `overwrite`). */
export async function refuseForeignFiles(files: string[], overwrite: boolean, isOurs: (file: string) => Promise<boolean> = isGeneratedFile): Promise<void> {
  if (overwrite) return;
  const foreign: string[] = [];
  for (const f of files) if ((await exists(f)) && !(await isOurs(f))) foreign.push(f);
  if (foreign.length > 0) {
    throw new MmkitError('FILE_EXISTS', `Refusing to overwrite ${foreign.join(', ')}: not written by mmkit.`, {
      file: foreign[0],
      hint: 'Write to another folder, or pass --overwrite (SDK: { overwrite: true }) to replace it.',
    });
  }
}

/** Writes through a temp file beside the target, renamed into place; nothing is left behind on failure. Returns the target. */
export async function atomically(target: string, write: (tmp: string) => Promise<void>): Promise<string> {
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  try {
    await write(tmp);
    await fsp.rename(tmp, target);
    return target;
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

/** Writes generated text files (each must start with generatedHeader()), refusing foreign ones first. Returns the paths, absolute. */
export async function writeGeneratedFiles(files: Record<string, string>, overwrite = false): Promise<string[]> {
  const targets = Object.keys(files).map((f) => path.resolve(f));
  await refuseForeignFiles(targets, overwrite);
  const written: string[] = [];
  for (const [file, text] of Object.entries(files)) written.push(await atomically(path.resolve(file), (tmp) => fsp.writeFile(tmp, text)));
  return written;
}
