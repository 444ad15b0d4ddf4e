import { MmkitError } from '../errors';
import { RESAMPLE_BY_PIL_CODE, type ResampleFilter } from './resample';

export type ResizeSpec = { shortestEdge: number } | { height: number; width: number };

/** What an ImageProcessor does, in order: channels, resize, center crop, rescale, normalise. */
export interface ImageProcessorOptions {
  /** Target size; absent: no resize. */
  resize?: ResizeSpec;
  /** Default bilinear. */
  resample?: ResampleFilter;
  crop?: { height: number; width: number };
  /** Pixel values (0..255) are multiplied by this; default 1/255; 1 keeps them as they are. */
  rescaleFactor?: number;
  /** Per-channel (x − mean) / std after rescaling; both absent: no normalisation. */
  mean?: readonly number[];
  std?: readonly number[];
  /** 1 (gray) or 3 (RGB); default: 1 when mean has one entry, else 3. */
  channels?: 1 | 3;
}

// Hugging Face's defaults for processors whose config leaves the statistics out.
const IMAGENET_STANDARD = [0.5, 0.5, 0.5];

/**
 * Reads a Hugging Face preprocessor_config.json (image_processor_type ViT, CLIP, DeiT,
 * ConvNext...): do_resize/size/resample, do_center_crop/crop_size, do_rescale/rescale_factor,
 * do_normalize/image_mean/image_std. A bare integer `size` means the shortest edge for
 * processors that crop afterwards (CLIP, ConvNext, BiT) and a square otherwise (ViT), as the
 * Python processors read it.
 */
export function optionsFromConfig(config: Record<string, unknown>, source = 'preprocessor_config.json'): ImageProcessorOptions {
  const bad = (key: string, why: string): MmkitError =>
    new MmkitError('BAD_OPTION', `${source}: '${key}' ${why} (got ${JSON.stringify(config[key])}).`, {
      file: source,
      hint: 'Fix the preprocessor config, or build an ImageProcessor from explicit options.',
    });
  const flag = (key: string, fallback: boolean): boolean => {
    const v = config[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') throw bad(key, 'should be true or false');
    return v;
  };
  const positiveInt = (key: string, v: unknown): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw bad(key, 'should hold whole numbers ≥ 1');
    return v;
  };
  const kind = String(config.image_processor_type ?? config.feature_extractor_type ?? '');
  const crops = flag('do_center_crop', false) && config.crop_size !== undefined;
  const sizeOf = (key: string, squareForInt: boolean): ResizeSpec => {
    const v = config[key];
    if (typeof v === 'number') {
      const n = positiveInt(key, v);
      return squareForInt ? { height: n, width: n } : { shortestEdge: n };
    }
    if (typeof v !== 'object' || v === null) throw bad(key, 'should be a number or {height, width} / {shortest_edge}');
    const o = v as Record<string, unknown>;
    if (o.height !== undefined || o.width !== undefined) return { height: positiveInt(key, o.height), width: positiveInt(key, o.width) };
    if (o.shortest_edge !== undefined) {
      if (o.longest_edge !== undefined) throw bad(key, 'combines shortest_edge with longest_edge, which mmkit does not support yet');
      return { shortestEdge: positiveInt(key, o.shortest_edge) };
    }
    throw bad(key, 'should have height and width, or shortest_edge');
  };
  const numbers = (key: string, fallback: readonly number[]): readonly number[] => {
    const v = config[key];
    if (v === undefined || v === null) return fallback;
    const list = typeof v === 'number' ? [v] : v;
    if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) throw bad(key, 'should be a list of numbers');
    return list as number[];
  };

  const opts: ImageProcessorOptions = {};
  if (flag('do_resize', config.size !== undefined) && config.size !== undefined) {
    opts.resize = sizeOf('size', !(crops || /CLIP|ConvNext|Bit/i.test(kind)));
  }
  if (config.resample !== undefined) {
    const filter = RESAMPLE_BY_PIL_CODE[config.resample as number];
    if (!filter) throw bad('resample', `should be a PIL filter code 0..5 (${RESAMPLE_BY_PIL_CODE.map((f, i) => `${i} ${f}`).join(', ')})`);
    opts.resample = filter;
  }
  if (crops) {
    const crop = sizeOf('crop_size', true);
    if ('shortestEdge' in crop) throw bad('crop_size', 'should be a number or {height, width}');
    opts.crop = crop;
  }
  if (flag('do_rescale', true)) {
    const factor = config.rescale_factor ?? 1 / 255;
    if (typeof factor !== 'number' || !(factor > 0)) throw bad('rescale_factor', 'should be a positive number');
    opts.rescaleFactor = factor;
  } else {
    opts.rescaleFactor = 1;
  }
  if (flag('do_normalize', true)) {
    opts.mean = numbers('image_mean', IMAGENET_STANDARD);
    opts.std = numbers('image_std', IMAGENET_STANDARD);
  }
  if (config.num_channels !== undefined) {
    if (config.num_channels !== 1 && config.num_channels !== 3) throw bad('num_channels', 'should be 1 or 3');
    opts.channels = config.num_channels;
  }
  return opts;
}
