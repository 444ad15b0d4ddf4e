import { promises as fs } from 'node:fs';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { MmkitError, messageOf } from '../errors';
import type { Pixels } from './pixels';

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47];
const JPEG_MAGIC = [0xff, 0xd8, 0xff];

function startsWith(bytes: Uint8Array, magic: number[]): boolean {
  return magic.every((b, i) => bytes[i] === b);
}

/**
 * PNG or JPEG bytes to 8-bit RGBA (palettes and gray expanded; 16-bit PNGs scaled to 8 bits,
 * where PIL would clip them). The format is told by the bytes, not the file name. EXIF rotation
 * is not applied, as PIL's Image.open (and so Hugging Face's processors) does not apply it.
 */
export function decodeImage(bytes: Uint8Array, source = 'image bytes'): Pixels {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (format: string, e: unknown): MmkitError =>
    new MmkitError('BAD_DATASET', `${source} is not a readable ${format} image (${messageOf(e)}).`, {
      file: source,
      hint: 'The file may be truncated or damaged; open it in an image viewer, or remove it.',
      cause: e,
    });
  if (startsWith(bytes, PNG_MAGIC)) {
    try {
      const png = PNG.sync.read(buffer);
      return { width: png.width, height: png.height, channels: 4, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
    } catch (e) {
      throw fail('PNG', e);
    }
  }
  if (startsWith(bytes, JPEG_MAGIC)) {
    try {
      const img = jpeg.decode(buffer, { useTArray: true, formatAsRGBA: true });
      return { width: img.width, height: img.height, channels: 4, data: img.data };
    } catch (e) {
      throw fail('JPEG', e);
    }
  }
  throw new MmkitError('UNSUPPORTED', `${source} is neither PNG nor JPEG (it starts with bytes ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')}).`, {
    file: source,
    hint: 'Convert the image to PNG or JPEG.',
  });
}

export async function readImage(file: string): Promise<Pixels> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (e) {
    throw new MmkitError('FILE_NOT_FOUND', `Image ${file} cannot be read (${messageOf(e)}).`, { file, hint: 'Check the path and permissions.', cause: e });
  }
  return decodeImage(bytes, file);
}
