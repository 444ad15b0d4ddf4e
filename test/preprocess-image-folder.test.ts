import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch } from '../sdk/data';
import { imageFolder } from '../sdk/data/image-folder';
import type { TensorData } from '../sdk/tensor-data';
import { ModelBuilder } from '../sdk/onnx';
import { ImageProcessor } from '../sdk/preprocess';
import { createSession } from '../sdk/runtime';

type Rgb = [number, number, number];

/** A solid-colour RGBA image. */
function solid(width: number, height: number, [r, g, b]: Rgb): { width: number; height: number; data: Buffer } {
  const data = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set([r, g, b, 255], i * 4);
  return { width, height, data };
}

function writePng(file: string, width: number, height: number, rgb: Rgb): void {
  const png = new PNG({ width, height });
  solid(width, height, rgb).data.copy(png.data);
  fs.writeFileSync(file, PNG.sync.write(png));
}

const RED: Rgb = [255, 0, 0];
const GREEN: Rgb = [0, 255, 0];
const BLUE: Rgb = [0, 0, 255];
const GRAY: Rgb = [51, 51, 51];

let root = '';
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mmkit-folder-'));
  const put = (rel: string, fill: (file: string) => void): void => {
    fs.mkdirSync(path.dirname(path.join(root, 'pets', rel)), { recursive: true });
    fill(path.join(root, 'pets', rel));
  };
  // Classes sort as bird < cat < dog; sizes differ, the processor makes them equal.
  put('dog/b.png', (f) => writePng(f, 10, 6, BLUE));
  put('dog/a.PNG', (f) => writePng(f, 7, 7, GREEN));
  put('cat/x.png', (f) => writePng(f, 5, 9, RED));
  put('cat/notes.txt', (f) => fs.writeFileSync(f, 'not an image'));
  put('bird/g.jpg', (f) => fs.writeFileSync(f, jpeg.encode(solid(8, 8, GRAY), 100).data));
  put('.hidden/h.png', (f) => writePng(f, 4, 4, RED));
  fs.mkdirSync(path.join(root, 'empty', 'cls'), { recursive: true });
  fs.mkdirSync(path.join(root, 'flat'));
  writePng(path.join(root, 'flat', 'a.png'), 4, 4, RED);
  put('../broken/cls/ok.png', (f) => writePng(f, 4, 4, RED));
  put('../broken/cls/zz-cut.png', (f) => fs.writeFileSync(f, fs.readFileSync(path.join(root, 'broken', 'cls', 'ok.png')).subarray(0, 40)));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

async function all(ds: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of ds) out.push(b);
  return out;
}

/** Per-item, per-channel mean of an [N, C, H, W] tensor. */
function channelMeans(t: TensorData): number[][] {
  const [n, c, h, w] = t.dims;
  const d = t.data as Float32Array;
  return Array.from({ length: n }, (_, i) =>
    Array.from({ length: c }, (_, ch) => d.subarray((i * c + ch) * h * w, (i * c + ch + 1) * h * w).reduce((a, v) => a + v, 0) / (h * w)),
  );
}

describe('imageFolder', () => {
  it('labels by sorted class folder, lists classes, resizes to size×size in [0, 1]', async () => {
    const ds = imageFolder(path.join(root, 'pets'), { size: 4, batchSize: 3 });
    expect(ds.size).toBe(4);
    expect(ds.info.classes).toEqual(['bird', 'cat', 'dog']);
    expect(ds.name).toBe('imageFolder:pets');
    const batches = await all(ds);
    expect(batches.map((b) => (b.inputs as TensorData).dims)).toEqual([[3, 3, 4, 4], [1, 3, 4, 4]]);
    expect(batches.flatMap((b) => Array.from(b.label!))).toEqual([0, 1, 2, 2]);
    // bird (JPEG gray 51 → 0.2 within JPEG's rounding), cat red, dog: a.PNG green then b.png blue.
    const means = batches.flatMap((b) => channelMeans(b.inputs as TensorData));
    const expected = [[0.2, 0.2, 0.2], [1, 0, 0], [0, 1, 0], [0, 0, 1]];
    means.forEach((m, i) => m.forEach((v, ch) => expect(v).toBeCloseTo(expected[i][ch], 2)));
  });

  it('feeds a real ONNX model through a processor from a preprocessor config', async () => {
    const processor = ImageProcessor.fromConfig({ size: { height: 6, width: 6 }, resample: 3, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] });
    const ds = imageFolder(path.join(root, 'pets'), { processor });
    const b = new ModelBuilder({ opset: 17 });
    b.input('pixel_values', 'float32', ['batch', 3, 6, 6]);
    b.node('GlobalAveragePool', ['pixel_values'], {}, { outputs: ['pooled'] });
    b.output('pooled', 'float32', ['batch', 3, 1, 1]);
    const session = await createSession(b.build());
    const [batch] = await all(ds);
    const { pooled } = await session.run({ pixel_values: batch.inputs as TensorData });
    await session.dispose();
    // Solid colours normalise to (v/255 − 0.5)/0.5: 255 → 1, 0 → −1, 51 → −0.6.
    const expected = [[-0.6, -0.6, -0.6], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]].flat();
    // PNG colours come out exact; the JPEG gray (item 0) within JPEG's rounding.
    Array.from(pooled.data as Float32Array).forEach((v, i) => expect(Math.abs(v - expected[i])).toBeLessThan(i < 3 ? 0.02 : 1e-6));
  });

  it('makes 1-channel inputs for gray models', async () => {
    const processor = ImageProcessor.fromConfig({ size: { height: 3, width: 3 }, image_mean: [0], image_std: [1] });
    const [batch] = await all(imageFolder(path.join(root, 'pets'), { processor }));
    expect((batch.inputs as TensorData).dims).toEqual([4, 1, 3, 3]);
    // PIL luma of pure red, green, blue: 76, 150, 29.
    expect(channelMeans(batch.inputs as TensorData).slice(1).map(([v]) => Math.round(v * 255))).toEqual([76, 150, 29]);
  });

  it('clear errors: missing, empty or flat folders, unreadable images, conflicting options', async () => {
    expect(() => imageFolder(path.join(root, 'nope'))).toThrowError(expect.objectContaining({ code: 'FILE_NOT_FOUND', message: expect.stringContaining('nope') }));
    expect(() => imageFolder(path.join(root, 'flat'))).toThrowError(/has no class folders.*<dir>\/<class name>\/<image>/);
    expect(() => imageFolder(path.join(root, 'empty'))).toThrowError(/\(cls\) hold no \.png\/\.jpg\/\.jpeg images/);
    expect(() => imageFolder(path.join(root, 'pets'), { extensions: ['.webp'] })).toThrowError(/hold no \.webp images/);
    expect(() => imageFolder(path.join(root, 'pets'), { size: 4, processor: new ImageProcessor() })).toThrowError(/processor or a size/);
    const broken = imageFolder(path.join(root, 'broken'), { size: 4 });
    await expect(all(broken)).rejects.toThrowError(expect.objectContaining({ code: 'BAD_DATASET', message: expect.stringContaining(path.join('cls', 'zz-cut.png')) }));
  });
});
