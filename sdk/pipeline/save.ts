import { promises as fsp, realpathSync } from 'node:fs';
import * as path from 'node:path';
import { create } from '@bufbuild/protobuf';
import { MmkitError } from '../errors';
import { StringStringEntryProtoSchema, writeModel, type OnnxModel, type WriteOptions } from '../onnx';
import { canonicalJson, RECIPE_METADATA_KEY, type Json, type Recipe } from './recipe';
import { readModelMetadata } from './model-metadata';

export interface SaveOptions {
  /**
   * Replace an existing file that mmkit did not write. Files mmkit wrote (they carry the
   * recipe in their metadata) are replaced without asking; the source model never is.
   */
  overwrite?: boolean;
  /** Write the pipeline's recipe into the model's metadata_props (default true). */
  recipe?: boolean;
  /** Where weights go: inline (default, unless over protobuf's 2 GB limit) or an external data file. */
  externalData?: WriteOptions['externalData'];
}

export interface SaveResult {
  path: string;
  bytes: number;
  files: string[];
}

function samePath(a: string, b: string): boolean {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  return real(a) === real(b);
}

/**
 * Saves atomically (temp file + rename, by writeModel), refusing to replace the model's own
 * source file or a file mmkit did not write, so a user's models are never lost by a save.
 */
export async function saveModelFile(model: OnnxModel, file: string, opts: Omit<SaveOptions, 'recipe'> & { recipe?: Recipe; protect?: string[] }): Promise<SaveResult> {
  const target = path.resolve(file);
  for (const p of [model.path, ...(opts.protect ?? [])]) {
    if (p && samePath(p, target)) {
      throw new MmkitError('OVERWRITE_SOURCE', `Refusing to overwrite the source model ${file}.`, { file, hint: 'Save the result under a new name; mmkit never replaces the model it read.' });
    }
  }
  const existing = await fsp.stat(target).catch(() => undefined);
  if (existing?.isDirectory()) {
    throw new MmkitError('WRITE_FAILED', `Cannot save to ${file}: it is a directory.`, { file, hint: 'Give a file path ending in .onnx.' });
  }
  if (existing && !opts.overwrite) {
    const meta = await readModelMetadata(target);
    if (!meta?.has(RECIPE_METADATA_KEY)) {
      throw new MmkitError('FILE_EXISTS', `Refusing to overwrite ${file}: it exists and was not written by mmkit.`, { file, hint: 'Pick another path, or pass { overwrite: true } to replace it.' });
    }
  }
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const proto = opts.recipe
    ? {
        ...model.proto,
        metadataProps: [
          ...model.proto.metadataProps.filter((e) => e.key !== RECIPE_METADATA_KEY),
          create(StringStringEntryProtoSchema, { key: RECIPE_METADATA_KEY, value: canonicalJson(opts.recipe as unknown as Json) }),
        ],
      }
    : model.proto;
  const written = await writeModel({ ...model, proto }, target, { externalData: opts.externalData });
  return { path: target, bytes: written.bytes, files: written.files };
}
