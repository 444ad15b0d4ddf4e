import { statSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { readModel, writeModel } from '../sdk/onnx';
import { timeModel } from '../sdk/eval';
import { quantizeDynamic, normalizeDynamicQuantOptions } from '../sdk/passes/quantize-dynamic';
import { quantizeInt4 } from '../sdk/passes/quantize-int4';
import { report } from './measure';
import { BENCH_CACHE, vitB16File } from './vit-b16';

/** Dynamic int8 (size, batch-8 latency, time to quantize) and int4 (size) on the ViT-B/16-shaped model. */
export async function benchQuantize(): Promise<void> {
  const src = await vitB16File();
  const fp32 = await readModel(src);
  const t0 = process.hrtime.bigint();
  const int8 = quantizeDynamic(fp32, normalizeDynamicQuantOptions({}));
  const quantizeS = Number(process.hrtime.bigint() - t0) / 1e9;
  const out = path.join(BENCH_CACHE, 'vit-b16-int8.onnx');
  await writeModel(int8, out);
  const sizeRatio = statSync(out).size / statSync(src).size;
  report({ bench: 'quantize.vit-b16', metric: 'int8 dynamic size / fp32 size', value: sizeRatio, unit: 'ratio', target: '<= 0.27', pass: sizeRatio <= 0.27, detail: { fp32_mb: statSync(src).size / 2 ** 20, int8_mb: statSync(out).size / 2 ** 20 } });
  report({ bench: 'quantize.vit-b16', metric: 'time to quantize (dynamic int8)', value: quantizeS, unit: 's', target: '<= 5', pass: quantizeS <= 5 });
  const timing = { batchSize: 8, runs: 5, warmup: 1 };
  const f = await timeModel(fp32, timing);
  const q = await timeModel(await readModel(out), timing);
  const ratio = q.latency.perBatchMs.p50 / f.latency.perBatchMs.p50;
  report({ bench: 'quantize.vit-b16', metric: 'int8 dynamic latency / fp32 latency (batch 8, p50)', value: ratio, unit: 'ratio', target: '<= 0.6', pass: ratio <= 0.6, detail: { fp32_ms: f.latency.perBatchMs.p50, int8_ms: q.latency.perBatchMs.p50 } });
  rmSync(out, { force: true });
  const int4File = path.join(BENCH_CACHE, 'vit-b16-int4.onnx');
  await writeModel(quantizeInt4(fp32, { blockSize: 32 }), int4File);
  const int4Ratio = statSync(int4File).size / statSync(src).size;
  report({ bench: 'quantize.vit-b16', metric: 'int4 (block 32) size / fp32 size', value: int4Ratio, unit: 'ratio', target: '<= 0.17', pass: int4Ratio <= 0.17, detail: { int4_mb: statSync(int4File).size / 2 ** 20 } });
  rmSync(int4File, { force: true });
}
