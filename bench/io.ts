import { execFileSync } from 'node:child_process';
import { promises as fsp, statSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { readModel, writeModel } from '../sdk/onnx';
import { alternatingMedians, report } from './measure';
import { BENCH_CACHE, vitB16File } from './vit-b16';

/** One load+save (or plain copy) in a fresh process; prints its peak RSS in bytes. */
export async function ioChild(mode: 'mmkit' | 'plain', src: string, dst: string): Promise<void> {
  if (mode === 'mmkit') await writeModel(await readModel(src), dst);
  else await fsp.writeFile(dst, await fsp.readFile(src));
  process.stdout.write(String(process.resourceUsage().maxRSS * 1024));
}

function peakRss(mode: 'mmkit' | 'plain', src: string, dst: string): number {
  const out = execFileSync(process.execPath, [path.join(__dirname, 'io-child.js'), mode, src, dst], { encoding: 'utf8' });
  return Number(out.trim());
}

/** ONNX load+save of a ~350 MB ViT-B/16 against a plain read+write of the same bytes. */
export async function benchIo(): Promise<void> {
  const src = await vitB16File();
  const size = statSync(src).size;
  const dst = path.join(BENCH_CACHE, 'io-out.onnx');
  // Alternating rounds: the disk's write-back of one copy then slows both sides alike, not the one that follows.
  const [plain, mmkit] = await alternatingMedians([async () => fsp.writeFile(dst, await fsp.readFile(src)), async () => writeModel(await readModel(src), dst)]);
  report({ bench: 'io.vit-b16', metric: 'load+save time / plain read+write', value: mmkit / plain, unit: 'ratio', target: '<= 2', pass: mmkit / plain <= 2, detail: { mmkit_s: mmkit, plain_s: plain, file_mb: size / 2 ** 20 } });
  const rss = peakRss('mmkit', src, dst);
  const plainRss = peakRss('plain', src, dst);
  report({ bench: 'io.vit-b16', metric: 'peak RSS of load+save / file size', value: rss / size, unit: 'ratio', target: '<= 2.5', pass: rss / size <= 2.5, detail: { peak_mb: rss / 2 ** 20, plain_copy_peak_mb: plainRss / 2 ** 20, file_mb: size / 2 ** 20 } });
  rmSync(dst, { force: true });
}
