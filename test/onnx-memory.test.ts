/**
 * Saving streams weights from memory to disk: peak memory stays near the model's own size.
 * Kept in its own file so the test runs in a fresh worker whose peak RSS is its own.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect, test } from 'vitest';
import { ModelBuilder, readModel, writeModel } from '../sdk/onnx';

const MB = 1024 * 1024;
const peakRss = () => process.resourceUsage().maxRSS * 1024;

test('saving a 352 MB model peaks at under 1.25× the file size (model included)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmkit-onnx-mem-'));
  try {
    const baseline = Math.max(peakRss(), process.memoryUsage().rss);
    const b = new ModelBuilder();
    let h = b.input('x', 'float32', [1, 2048]);
    for (let i = 0; i < 22; i++) {
      // fill() makes every page resident, so RSS really holds the weights.
      h = b.op('MatMul', [h, b.initializer(`w${i}`, 'float32', [2048, 2048], new Float32Array(2048 * 2048).fill(i / 1000))]);
    }
    b.output(h, 'float32', [1, 2048]);
    const result = await writeModel(b.build(), path.join(dir, 'big.onnx'));
    const fileBytes = fs.statSync(result.files[0]).size;
    expect(fileBytes).toBeGreaterThan(350 * MB);
    const used = peakRss() - baseline;
    console.log(`file ${(fileBytes / MB).toFixed(0)} MB, peak RSS above baseline ${(used / MB).toFixed(0)} MB (${(used / fileBytes).toFixed(2)}×)`);
    expect(used).toBeLessThan(1.25 * fileBytes);

    // The streamed file is a complete model: it loads and saves again to the same size.
    const loaded = await readModel(result.files[0]);
    await writeModel(loaded, path.join(dir, 'again.onnx'));
    expect(fs.statSync(path.join(dir, 'again.onnx')).size).toBe(fileBytes);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
