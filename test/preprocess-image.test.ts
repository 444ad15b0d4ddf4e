import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMmkitError } from '../sdk/errors';
import { centerCrop, decodeImage, ImageProcessor, optionsFromConfig, readImage, resize, toChannels, type Pixels } from '../sdk/preprocess';
import { testTempDir } from './helpers/temp';

const ASSETS = path.join(__dirname, 'assets');
const image = (name: string): string => path.join(ASSETS, 'images', name);

interface ReferenceCase {
  image: string;
  config: Record<string, unknown>;
  pixel_dims: number[];
  pixels: number[];
  dims?: number[];
  data?: number[];
}
/** Made by assets/make-preprocess-assets.py with PIL and numpy, the way transformers preprocesses. */
const reference = JSON.parse(fs.readFileSync(path.join(ASSETS, 'preprocess-reference.json'), 'utf8')) as {
  jpeg_decoded_by_pil: number[];
  cases: Record<string, ReferenceCase>;
};

const gray = (width: number, height: number, values: number[]): Pixels => ({ width, height, channels: 1, data: Uint8Array.from(values) });

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('resize, crop and channels by hand', () => {
  it('bilinear shrink widens the kernel (antialiasing): [10 20 30 40] → [17 33]', () => {
    // out 0: centre 1, taps x=0,1,2 with triangle weights .75,.75,.25 → (7.5+15+7.5)/1.75 = 17.14
    // out 1: centre 3, taps x=1,2,3 with weights .25,.75,.75 → (5+22.5+30)/1.75 = 32.86
    expect(Array.from(resize(gray(4, 1, [10, 20, 30, 40]), 2, 1, 'bilinear').data)).toEqual([17, 33]);
  });

  it('bilinear enlarge interpolates between pixel centres: [0 100] → [0 25 75 100]', () => {
    expect(Array.from(resize(gray(2, 1, [0, 100]), 4, 1, 'bilinear').data)).toEqual([0, 25, 75, 100]);
    // The same along y.
    expect(Array.from(resize(gray(1, 2, [0, 100]), 1, 4, 'bilinear').data)).toEqual([0, 25, 75, 100]);
  });

  it('nearest picks the pixel under each output centre', () => {
    expect(Array.from(resize(gray(4, 1, [10, 20, 30, 40]), 2, 1, 'nearest').data)).toEqual([20, 40]);
  });

  it('center crop takes the middle (top = ⌊(H−h)/2⌋) and pads with zeros when larger', () => {
    const img = gray(4, 5, Array.from({ length: 20 }, (_, i) => i + 1));
    expect(Array.from(centerCrop(img, 3, 2).data)).toEqual([6, 7, 10, 11, 14, 15]);
    expect(Array.from(centerCrop(gray(1, 1, [9]), 2, 3).data)).toEqual([0, 0, 0, 0, 9, 0]);
  });

  it('RGB → gray uses PIL\'s luma weights; gray → RGB repeats; alpha is dropped', () => {
    const rgba: Pixels = { width: 2, height: 1, channels: 4, data: Uint8Array.from([255, 0, 0, 10, 0, 0, 255, 200]) };
    expect(Array.from(toChannels(rgba, 1).data)).toEqual([76, 29]); // 255·0.299, 255·0.114
    expect(Array.from(toChannels(rgba, 3).data)).toEqual([255, 0, 0, 0, 0, 255]);
    expect(Array.from(toChannels(gray(1, 1, [7]), 3).data)).toEqual([7, 7, 7]);
  });

  it('rescale and normalise: (v/255 − mean)/std per channel, NCHW out', () => {
    const p = new ImageProcessor({ mean: [0.5, 0, 0.5], std: [0.5, 1, 0.25] });
    const rgb: Pixels = { width: 2, height: 1, channels: 3, data: Uint8Array.from([255, 51, 0, 0, 255, 102]) };
    const t = p.processPixels([rgb]);
    expect(t.dims).toEqual([1, 3, 1, 2]);
    const expected = [1, -1, 0.2, 1, -2, (0.4 - 0.5) / 0.25];
    expect(maxAbsDiff(t.data as Float32Array, expected)).toBeLessThan(1e-6);
  });
});

describe('against PIL and transformers (reference made by assets/make-preprocess-assets.py)', () => {
  for (const [name, c] of Object.entries(reference.cases)) {
    it(`${name}: the 8-bit image equals PIL's to the bit${c.data ? ', the tensor within 1e-6' : ''}`, async () => {
      const p = ImageProcessor.fromConfig(c.config);
      const prepared = p.prepare(await readImage(image(c.image)));
      expect([prepared.height, prepared.width, prepared.channels]).toEqual(c.pixel_dims);
      expect(Array.from(prepared.data)).toEqual(c.pixels);
      if (c.data) {
        const t = await p.process(image(c.image));
        expect(t.dims).toEqual([1, ...c.dims!]);
        expect(maxAbsDiff(t.data as Float32Array, c.data)).toBeLessThan(1e-6);
      }
    });
  }

  it('JPEG decoding agrees with libjpeg (PIL) within 3 levels, under 1 on average (IDCTs differ in rounding)', async () => {
    const jpeg = toChannels(await readImage(image('pattern.jpg')), 3);
    expect([jpeg.width, jpeg.height]).toEqual([37, 23]);
    const pil = reference.jpeg_decoded_by_pil;
    expect(maxAbsDiff(jpeg.data, pil)).toBeLessThanOrEqual(3);
    expect(jpeg.data.reduce((sum, v, i) => sum + Math.abs(v - pil[i]), 0) / pil.length).toBeLessThan(1);
  });

  it('PNG and JPEG of the same picture preprocess to nearly the same tensor', async () => {
    const p = ImageProcessor.fromConfig(reference.cases['vit-bilinear-down'].config);
    const t = await p.process([image('pattern.png'), fs.readFileSync(image('pattern.jpg'))]);
    expect(t.dims).toEqual([2, 3, 16, 16]);
    const per = 3 * 16 * 16;
    const d = t.data as Float32Array;
    expect(maxAbsDiff(d.subarray(0, per), d.subarray(per))).toBeLessThan(0.05);
  });
});

describe('preprocessor_config.json', () => {
  it('reads ViT and CLIP configs, including a bare integer size', () => {
    expect(optionsFromConfig({ image_processor_type: 'ViTImageProcessor', do_resize: true, size: 224, resample: 2, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] })).toEqual({
      resize: { height: 224, width: 224 },
      resample: 'bilinear',
      rescaleFactor: 1 / 255,
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
    });
    const clip = optionsFromConfig({ feature_extractor_type: 'CLIPFeatureExtractor', size: 224, crop_size: 224, do_center_crop: true, resample: 3, do_normalize: false });
    expect(clip).toEqual({ resize: { shortestEdge: 224 }, resample: 'bicubic', crop: { height: 224, width: 224 }, rescaleFactor: 1 / 255 });
    expect(optionsFromConfig({ do_rescale: false, do_normalize: false })).toEqual({ rescaleFactor: 1 });
  });

  it('shortest-edge resizing keeps the aspect and truncates the long side', () => {
    const p = new ImageProcessor({ resize: { shortestEdge: 10 } });
    expect(p.prepare(gray(37, 23, new Array(37 * 23).fill(0)))).toMatchObject({ width: 16, height: 10 }); // ⌊10·37/23⌋ = 16
  });

  it('bad configs name the key and the file', () => {
    const bad = (cfg: Record<string, unknown>, key: RegExp): void => {
      expect(() => ImageProcessor.fromConfig(cfg, 'repo/preprocessor_config.json')).toThrowError(expect.objectContaining({ code: 'BAD_OPTION', message: expect.stringMatching(key) }));
    };
    bad({ size: { shortest_edge: 0 } }, /repo\/preprocessor_config.json: 'size'/);
    bad({ size: 224, resample: 9 }, /'resample' should be a PIL filter code/);
    bad({ image_mean: 'x' }, /'image_mean' should be a list of numbers/);
    bad({ image_mean: [0.5, 0.5], image_std: [0.5, 0.5] }, /mean has 2 values for 3 channels/);
  });
});

describe('image decoding errors', () => {
  it('unknown formats and damaged files are named', async () => {
    const dir = testTempDir('img');
    const gif = path.join(dir, 'a.gif');
    fs.writeFileSync(gif, 'GIF89a....');
    const cut = path.join(dir, 'cut.png');
    fs.writeFileSync(cut, fs.readFileSync(image('pattern.png')).subarray(0, 100));
    for (const [file, code, phrase] of [[gif, 'UNSUPPORTED', 'neither PNG nor JPEG'], [cut, 'BAD_DATASET', 'not a readable PNG'], [path.join(dir, 'none.png'), 'FILE_NOT_FOUND', 'cannot be read']]) {
      const e = await readImage(file).then(() => undefined, (x: unknown) => x);
      expect(isMmkitError(e) && e.code).toBe(code);
      expect((e as Error).message).toContain(file);
      expect((e as Error).message).toContain(phrase);
    }
    expect(() => decodeImage(new Uint8Array([1, 2, 3]))).toThrowError(/image bytes is neither/);
  });

  it('images that come out in different sizes cannot share a batch', () => {
    const p = new ImageProcessor({ resize: { shortestEdge: 4 } });
    expect(() => p.processPixels([gray(4, 4, new Array(16).fill(0)), gray(8, 4, new Array(32).fill(0))])).toThrowError(/come out 4×4 and 8×4.*center crop/);
  });
});
