import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** Hex digest of a file, streamed (models can be large); `prefix` is hashed before the bytes. */
export async function hashFile(file: string, algorithm: 'sha256' | 'sha1' = 'sha256', prefix = ''): Promise<string> {
  const hash = createHash(algorithm);
  if (prefix) hash.update(prefix);
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
