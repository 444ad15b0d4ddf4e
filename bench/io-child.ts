import { ioChild } from './io';

// Runs alone in its own process so that its peak RSS is the load+save's own.
const [mode, src, dst] = process.argv.slice(2);
ioChild(mode as 'mmkit' | 'plain', src, dst).catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
