/** An 8-bit image: row-major, channels interleaved (1 gray, 3 RGB, 4 RGBA). */
export interface Pixels {
  width: number;
  height: number;
  channels: 1 | 3 | 4;
  data: Uint8Array;
}

export function isPixels(x: unknown): x is Pixels {
  return typeof x === 'object' && x !== null && 'width' in x && 'height' in x && 'channels' in x && (x as Pixels).data instanceof Uint8Array;
}

/**
 * The image with 1 (gray) or 3 (RGB) channels, converted the way PIL's `convert('L')` and
 * `convert('RGB')` do: alpha is dropped (not composited), gray is ITU-R 601 luma in fixed point.
 */
export function toChannels(img: Pixels, channels: 1 | 3): Pixels {
  if (img.channels === channels) return img;
  const n = img.width * img.height;
  const out = new Uint8Array(n * channels);
  const src = img.data;
  const c = img.channels;
  for (let i = 0; i < n; i++) {
    if (c === 1) {
      out.fill(src[i], i * 3, i * 3 + 3);
    } else if (channels === 3) {
      out[i * 3] = src[i * c];
      out[i * 3 + 1] = src[i * c + 1];
      out[i * 3 + 2] = src[i * c + 2];
    } else {
      out[i] = (src[i * c] * 19595 + src[i * c + 1] * 38470 + src[i * c + 2] * 7471 + 0x8000) >>> 16;
    }
  }
  return { width: img.width, height: img.height, channels, data: out };
}

/**
 * A height×width window centred on the image, as Hugging Face's center_crop places it
 * (top = ⌊(H − h) / 2⌋); parts of the window outside a smaller image are zero.
 */
export function centerCrop(img: Pixels, height: number, width: number): Pixels {
  if (img.height === height && img.width === width) return img;
  const top = Math.floor((img.height - height) / 2);
  const left = Math.floor((img.width - width) / 2);
  const c = img.channels;
  const out = new Uint8Array(height * width * c);
  for (let y = 0; y < height; y++) {
    const sy = top + y;
    if (sy < 0 || sy >= img.height) continue;
    const x0 = Math.max(0, -left);
    const x1 = Math.min(width, img.width - left);
    if (x1 > x0) out.set(img.data.subarray((sy * img.width + left + x0) * c, (sy * img.width + left + x1) * c), (y * width + x0) * c);
  }
  return { width, height, channels: c, data: out };
}
