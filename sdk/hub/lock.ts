import { promises as fs } from 'node:fs';
import { MmkitError } from '../errors';

const POLL_MS = 50;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` while holding `lockFile`, so two downloads of one blob (two notebooks, or two
 * pipelines in one) never write the same partial file. The lock holds its owner's pid; a lock
 * left by a process that died is taken over.
 */
export async function withFileLock<T>(lockFile: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  for (;;) {
    try {
      await fs.writeFile(lockFile, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = Number(await fs.readFile(lockFile, 'utf8').catch(() => ''));
    if (Number.isInteger(owner) && owner > 0 && !alive(owner)) {
      await fs.rm(lockFile, { force: true });
      continue;
    }
    if (signal?.aborted) {
      throw new MmkitError('CANCELLED', `Cancelled while waiting for another download to release ${lockFile}.`, { file: lockFile });
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockFile, { force: true });
  }
}
