import * as fs from 'node:fs';
import * as path from 'node:path';
import { MmkitError, messageOf } from '../errors';
import { ImageProcessor } from '../preprocess/processor';
import { readImage } from '../preprocess/decode';
import { Dataset } from './dataset';

export interface ImageFolderOptions {
  /** How images become tensors (e.g. ImageProcessor.fromConfig of the model's preprocessor_config.json). */
  processor?: ImageProcessor;
  /** Without a processor: resize to size×size RGB, values in [0, 1] (default 224). */
  size?: number;
  /** Items per batch (default 32). */
  batchSize?: number;
  /** File name endings that count as images (default .png, .jpg, .jpeg; any case). */
  extensions?: string[];
}

const DEFAULT_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

/**
 * A labelled dataset from a folder with one subfolder per class (dir/cat/1.png, dir/dog/2.jpg):
 * labels number the class folders in sorted order, as torchvision's ImageFolder does, and
 * `info.classes` names them. The folder is listed now; images are decoded batch by batch.
 */
export function imageFolder(dir: string, opts: ImageFolderOptions = {}): Dataset {
  if (opts.processor && opts.size !== undefined) {
    throw new MmkitError('BAD_OPTION', 'imageFolder takes a processor or a size, not both.', { hint: 'The processor decides the size; drop the size option.' });
  }
  const batchSize = opts.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new MmkitError('BAD_OPTION', `imageFolder batchSize ${batchSize} is not a whole number ≥ 1.`, { hint: 'For example { batchSize: 32 }.' });
  }
  const size = opts.size ?? 224;
  const processor = opts.processor ?? new ImageProcessor({ resize: { height: size, width: size }, resample: 'bilinear' });
  const extensions = (opts.extensions ?? DEFAULT_EXTENSIONS).map((e) => e.toLowerCase());
  const { classes, files, labels } = listImages(dir, extensions);
  return Dataset.from(
    async function* () {
      for (let start = 0; start < files.length; start += batchSize) {
        const end = Math.min(files.length, start + batchSize);
        const pixels = await Promise.all(files.slice(start, end).map((f) => readImage(f)));
        yield { inputs: processor.processPixels(pixels), label: labels.slice(start, end) };
      }
    },
    { name: `imageFolder:${path.basename(path.resolve(dir))}`, size: files.length, classes },
  );
}

function listImages(dir: string, extensions: string[]): { classes: string[]; files: string[]; labels: Int32Array } {
  const layout = 'Lay the images out as <dir>/<class name>/<image>.png (or .jpg), one folder per class.';
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new MmkitError(code === 'ENOTDIR' ? 'BAD_DATASET' : 'FILE_NOT_FOUND', `imageFolder: ${dir} cannot be listed (${messageOf(e)}).`, { file: dir, hint: `Pass an existing folder. ${layout}`, cause: e });
  }
  const visible = (name: string): boolean => !name.startsWith('.');
  const classes = entries.filter((e) => e.isDirectory() && visible(e.name)).map((e) => e.name).sort();
  if (classes.length === 0) {
    throw new MmkitError('BAD_DATASET', `imageFolder: ${dir} has no class folders.`, { file: dir, hint: layout });
  }
  const files: string[] = [];
  const labels: number[] = [];
  classes.forEach((name, label) => {
    const folder = path.join(dir, name);
    const images = fs
      .readdirSync(folder, { withFileTypes: true })
      .filter((e) => e.isFile() && visible(e.name) && extensions.some((ext) => e.name.toLowerCase().endsWith(ext)))
      .map((e) => e.name)
      .sort();
    for (const image of images) {
      files.push(path.join(folder, image));
      labels.push(label);
    }
  });
  if (files.length === 0) {
    throw new MmkitError('BAD_DATASET', `imageFolder: the class folders of ${dir} (${classes.join(', ')}) hold no ${extensions.join('/')} images.`, { file: dir, hint: `${layout} Pass { extensions } for other endings.` });
  }
  return { classes, files, labels: Int32Array.from(labels) };
}
