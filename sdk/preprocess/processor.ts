import { promises as fs } from 'node:fs';
import type { TensorData } from '../tensor-data';
import { MmkitError, messageOf } from '../errors';
import { optionsFromConfig, type ImageProcessorOptions } from './config';
import { decodeImage, readImage } from './decode';
import { centerCrop, isPixels, toChannels, type Pixels } from './pixels';
import { resize } from './resample';

/** An image given as decoded pixels, PNG/JPEG bytes, or a file path. */
export type ImageSource = Pixels | Uint8Array | string;

/**
 * Turns images into a model's float32 NCHW input, step for step as Hugging Face's image
 * processors do it: channels (RGB or gray), resize with PIL's filters, center crop, rescale,
 * normalise. 8-bit steps match PIL to the bit; the float steps are done in float32 like numpy.
 */
export class ImageProcessor {
  readonly options: Readonly<ImageProcessorOptions>;
  readonly channels: 1 | 3;

  constructor(options: ImageProcessorOptions = {}) {
    const { mean, std } = options;
    const channels = options.channels ?? (mean?.length === 1 ? 1 : 3);
    for (const [name, list] of [['mean', mean], ['std', std]] as const) {
      if (list && list.length !== 1 && list.length !== channels) {
        throw new MmkitError('BAD_OPTION', `ImageProcessor ${name} has ${list.length} values for ${channels} channels.`, { hint: `Give one value, or one per channel.` });
      }
    }
    if ((mean === undefined) !== (std === undefined) || std?.some((s) => s === 0)) {
      throw new MmkitError('BAD_OPTION', 'ImageProcessor needs mean and std together, and no std of 0.', { hint: 'Pass both (e.g. the image_mean and image_std of the model), or neither.' });
    }
    this.options = options;
    this.channels = channels;
  }

  /** From a parsed preprocessor_config.json. */
  static fromConfig(config: Record<string, unknown>, source?: string): ImageProcessor {
    return new ImageProcessor(optionsFromConfig(config, source));
  }

  static async fromFile(file: string): Promise<ImageProcessor> {
    let config: unknown;
    try {
      config = JSON.parse(await fs.readFile(file, 'utf8'));
    } catch (e) {
      throw new MmkitError('BAD_OPTION', `${file} is not a readable preprocessor config (${messageOf(e)}).`, { file, hint: 'Pass the preprocessor_config.json that came with the model.', cause: e });
    }
    return ImageProcessor.fromConfig(config as Record<string, unknown>, file);
  }

  /** The 8-bit image the model sees: channels converted, resized and cropped. */
  prepare(img: Pixels): Pixels {
    const { resize: size, crop, resample = 'bilinear' } = this.options;
    let out = toChannels(img, this.channels);
    if (size && 'shortestEdge' in size) {
      const [height, width] = shortestEdgeSize(out.height, out.width, size.shortestEdge);
      out = resize(out, width, height, resample);
    } else if (size) {
      out = resize(out, size.width, size.height, resample);
    }
    return crop ? centerCrop(out, crop.height, crop.width) : out;
  }

  /** Decoded images to one float32 [N, C, H, W] tensor. */
  processPixels(images: readonly Pixels[]): TensorData {
    const prepared = images.map((img) => this.prepare(img));
    if (prepared.length === 0) throw new MmkitError('BAD_OPTION', 'ImageProcessor.process got no images.', { hint: 'Pass at least one image.' });
    const { width, height } = prepared[0];
    const odd = prepared.findIndex((p) => p.width !== width || p.height !== height);
    if (odd >= 0) {
      throw new MmkitError('SHAPE_MISMATCH', `Images 0 and ${odd} come out ${width}×${height} and ${prepared[odd].width}×${prepared[odd].height}, so they cannot share a batch.`, {
        hint: 'Resize to a fixed {height, width} or add a center crop (do_center_crop/crop_size).',
      });
    }
    const c = this.channels;
    const plane = width * height;
    const out = new Float32Array(prepared.length * c * plane);
    const { rescaleFactor = 1 / 255, mean, std } = this.options;
    const f = Math.fround;
    for (let n = 0; n < prepared.length; n++) {
      const data = prepared[n].data;
      for (let ch = 0; ch < c; ch++) {
        const m = mean ? f(mean[mean.length === 1 ? 0 : ch]) : 0;
        const s = std ? f(std[std.length === 1 ? 0 : ch]) : 1;
        const dst = (n * c + ch) * plane;
        for (let i = 0; i < plane; i++) {
          const v = f(data[i * c + ch] * rescaleFactor);
          out[dst + i] = mean ? f(f(v - m) / s) : v;
        }
      }
    }
    return { data: out, dims: [prepared.length, c, height, width], dtype: 'float32' };
  }

  /** Images (pixels, PNG/JPEG bytes or file paths) to one float32 [N, C, H, W] tensor. */
  async process(images: ImageSource | readonly ImageSource[]): Promise<TensorData> {
    const list = Array.isArray(images) ? (images as readonly ImageSource[]) : [images as ImageSource];
    const pixels = await Promise.all(list.map((src) => (isPixels(src) ? src : typeof src === 'string' ? readImage(src) : decodeImage(src))));
    return this.processPixels(pixels);
  }
}

/** [height, width] with the short side at `edge` and the long side scaled and truncated, as transformers does. */
export function shortestEdgeSize(height: number, width: number, edge: number): [number, number] {
  if (width <= height) return [Math.trunc((edge * height) / width), edge];
  return [edge, Math.trunc((edge * width) / height)];
}
