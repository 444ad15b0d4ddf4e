import * as fs from 'node:fs/promises';
import * as path from 'node:path';

const COMMIT_HASH = /^[0-9a-f]{40}$/;

/**
 * One repo's folder in the hub cache, laid out as huggingface_hub lays it out, so Python and
 * mmkit share downloads:
 *
 *   models--org--name/blobs/<etag>                 file contents, named by their ETag
 *   models--org--name/refs/<revision>              the commit hash a branch or tag pointed to
 *   models--org--name/snapshots/<commit>/<path>    links into blobs/, one tree per commit
 *   models--org--name/.no_exist/<commit>/<path>    empty markers: the hub has no such file
 */
export class RepoCache {
  readonly dir: string;

  constructor(cacheDir: string, repo: string) {
    this.dir = path.join(cacheDir, `models--${repo.split('/').join('--')}`);
  }

  blobPath(etag: string): string {
    return path.join(this.dir, 'blobs', etag);
  }

  snapshotPath(commit: string, file: string): string {
    return path.join(this.dir, 'snapshots', commit, ...file.split('/'));
  }

  private missingMarker(commit: string, file: string): string {
    return path.join(this.dir, '.no_exist', commit, ...file.split('/'));
  }

  /** The commit a revision resolved to last time; a commit hash stands for itself. */
  async commitFor(revision: string): Promise<string | undefined> {
    if (COMMIT_HASH.test(revision)) return revision;
    try {
      return (await fs.readFile(path.join(this.dir, 'refs', ...revision.split('/')), 'utf8')).trim() || undefined;
    } catch {
      return undefined;
    }
  }

  /** Servers that name no commit get refs/<revision> = <revision>: the snapshot is named by the revision. */
  async writeRef(revision: string, commit: string): Promise<void> {
    if (COMMIT_HASH.test(revision)) return;
    const file = path.join(this.dir, 'refs', ...revision.split('/'));
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, commit);
  }

  /** 'present' (path given), 'missing' (the hub said 404 for this commit) or 'unknown'. */
  async lookup(commit: string, file: string): Promise<{ state: 'present'; path: string } | { state: 'missing' | 'unknown' }> {
    const snapshot = this.snapshotPath(commit, file);
    if (await exists(snapshot)) return { state: 'present', path: snapshot };
    if (await exists(this.missingMarker(commit, file))) return { state: 'missing' };
    return { state: 'unknown' };
  }

  async markMissing(commit: string, file: string): Promise<void> {
    const marker = this.missingMarker(commit, file);
    await fs.mkdir(path.dirname(marker), { recursive: true });
    await fs.writeFile(marker, '');
  }

  /**
   * Puts a blob into a snapshot tree: a relative symlink, as huggingface_hub makes, or a copy
   * where the file system refuses links (Windows without developer mode).
   */
  async link(commit: string, file: string, etag: string): Promise<string> {
    const snapshot = this.snapshotPath(commit, file);
    const blob = this.blobPath(etag);
    await fs.mkdir(path.dirname(snapshot), { recursive: true });
    // Made beside it and renamed over it: concurrent links of one file never see a half state.
    const temp = `${snapshot}.${process.pid}-${Math.random().toString(36).slice(2)}`;
    try {
      await fs.symlink(path.relative(path.dirname(snapshot), blob), temp);
    } catch {
      await fs.copyFile(blob, temp);
    }
    await fs.rename(temp, snapshot);
    return snapshot;
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}
