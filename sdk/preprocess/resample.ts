import { MmkitError } from '../errors';
import type { Pixels } from './pixels';

/** PIL's resampling filters, by the names and numbers preprocessor_config.json uses. */
export type ResampleFilter = 'nearest' | 'lanczos' | 'bilinear' | 'bicubic' | 'box' | 'hamming';
export const RESAMPLE_BY_PIL_CODE: readonly ResampleFilter[] = ['nearest', 'lanczos', 'bilinear', 'bicubic', 'box', 'hamming'];

interface Kernel {
  support: number;
  weight(x: number): number;
}

const sinc = (x: number): number => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));

const KERNELS: Record<Exclude<ResampleFilter, 'nearest'>, Kernel> = {
  box: { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: { support: 1, weight: (x) => Math.max(0, 1 - Math.abs(x)) },
  hamming: {
    support: 1,
    weight: (x) => {
      const a = Math.abs(x);
      if (a === 0) return 1;
      if (a >= 1) return 0;
      return (Math.sin(Math.PI * a) / (Math.PI * a)) * (0.54 + 0.46 * Math.cos(Math.PI * a));
    },
  },
  bicubic: {
    support: 2,
    weight: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
  lanczos: { support: 3, weight: (x) => (x > -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

// PIL filters 8-bit images in fixed point with this many fractional bits; matching it makes
// our resize agree with PIL (and so with Hugging Face's processors) to the last bit.
const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

interface Taps {
  start: Int32Array;
  count: Int32Array;
  /** Fixed-point weights, `width` per output position. */
  weights: Float64Array;
  width: number;
}

/** For each output position, the input span and its weights (PIL's precompute_coeffs). */
function taps(inSize: number, outSize: number, kernel: Kernel): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const inverse = 1 / filterScale; // multiplied, not divided, as PIL does: the weights agree to the bit
  const support = kernel.support * filterScale;
  const width = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * width);
  const w = new Float64Array(width);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const n = Math.min(inSize, Math.trunc(center + support + 0.5)) - lo;
    let sum = 0;
    for (let k = 0; k < n; k++) {
      w[k] = kernel.weight((k + lo - center + 0.5) * inverse);
      sum += w[k];
    }
    for (let k = 0; k < n; k++) {
      const v = sum === 0 ? w[k] : w[k] / sum;
      weights[o * width + k] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    start[o] = lo;
    count[o] = n;
  }
  return { start, count, weights, width };
}

function clip8(acc: number): number {
  const v = Math.floor(acc / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** One separable pass along x (axis 'x') or y, rounding to 8 bits as PIL does between passes. */
function pass(img: Pixels, outSize: number, axis: 'x' | 'y', kernel: Kernel): Pixels {
  const { width: w, height: h, channels: c, data } = img;
  const along = axis === 'x' ? w : h;
  const t = taps(along, outSize, kernel);
  const outW = axis === 'x' ? outSize : w;
  const outH = axis === 'x' ? h : outSize;
  const out = new Uint8Array(outW * outH * c);
  // Distance between neighbouring samples along the filtered axis, in array elements.
  const stride = axis === 'x' ? c : w * c;
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const o = axis === 'x' ? x : y;
      const base = axis === 'x' ? (y * w + t.start[o]) * c : (t.start[o] * w + x) * c;
      for (let ch = 0; ch < c; ch++) {
        let acc = ONE / 2;
        for (let k = 0, i = base + ch; k < t.count[o]; k++, i += stride) acc += data[i] * t.weights[o * t.width + k];
        out[(y * outW + x) * c + ch] = clip8(acc);
      }
    }
  }
  return { width: outW, height: outH, channels: c, data: out };
}

/** PIL's NEAREST: the input pixel under each output pixel's centre. */
function nearest(img: Pixels, width: number, height: number): Pixels {
  const c = img.channels;
  const out = new Uint8Array(width * height * c);
  const sx0 = img.width / width;
  const sy0 = img.height / height;
  for (let y = 0; y < height; y++) {
    const sy = Math.min(img.height - 1, Math.floor((y + 0.5) * sy0));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(img.width - 1, Math.floor((x + 0.5) * sx0));
      out.set(img.data.subarray((sy * img.width + sx) * c, (sy * img.width + sx + 1) * c), (y * width + x) * c);
    }
  }
  return { width, height, channels: c, data: out };
}

/**
 * Resizes like PIL's Image.resize (antialiased when shrinking: the kernel widens with the
 * scale), horizontally then vertically, in PIL's fixed-point arithmetic.
 */
export function resize(img: Pixels, width: number, height: number, filter: ResampleFilter): Pixels {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new MmkitError('BAD_OPTION', `Cannot resize an image to ${width}×${height}.`, { hint: 'Sizes must be whole numbers ≥ 1; check size/crop_size in the preprocessor config.' });
  }
  if (filter === 'nearest') return img.width === width && img.height === height ? img : nearest(img, width, height);
  const kernel = KERNELS[filter];
  const across = img.width === width ? img : pass(img, width, 'x', kernel);
  return across.height === height ? across : pass(across, height, 'y', kernel);
}
