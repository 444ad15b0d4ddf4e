import { promises as fsp, realpathSync } from 'node:fs';
import * as path from 'node:path';
import { create } from '@bufbuild/protobuf';
import { MmkitError } from '../errors';
import { StringStringEntryProtoSchema, writeModel, type OnnxModel, type WriteOptions } from '../onnx';
import { canonicalJson, RECIPE_METADATA_KEY, type Json, type Recipe } from '../step';
import { readModelMetadata } from './model-metadata';
import { toSparseInitializers, type SparseTensorSaving } from '../onnx/sparse';

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
  /**
   * Store initializers that are mostly zeros (pruned weights) as ONNX sparse initializers: values
   * plus int64 indices, only for tensors whose file bytes shrink (a float32 tensor needs more than
   * 2/3 zeros). onnxruntime and mmkit densify them when they load the file. With externalData
   * the sparse tensors stay in the .onnx file and the dense rest goes to the data file. Default false.
   */
  sparse?: boolean;
}

export interface SaveResult {
  path: string;
  bytes: number;
  files: string[];
  /** With `sparse: true`: the tensors stored sparse and the file bytes that saved. */
  sparse?: { tensors: SparseTensorSaving[]; bytesSaved: number; notice?: string };
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
  if (opts.sparse !== undefined && typeof opts.sparse !== 'boolean') {
    throw new MmkitError('BAD_OPTION', `save: sparse must be true or false, got ${JSON.stringify(opts.sparse)}.`, { file, hint: 'Pass { sparse: true } to store pruned weights as sparse initializers.' });
  }
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const sparse = opts.sparse ? toSparseInitializers(model) : undefined;
  const base = sparse?.proto ?? model.proto;
  const proto = opts.recipe
    ? {
        ...base,
        metadataProps: [
          ...base.metadataProps.filter((e) => e.key !== RECIPE_METADATA_KEY),
          create(StringStringEntryProtoSchema, { key: RECIPE_METADATA_KEY, value: canonicalJson(opts.recipe as unknown as Json) }),
        ],
      }
    : base;
  const written = await writeModel({ ...model, proto }, target, { externalData: opts.externalData });
  const result: SaveResult = { path: target, bytes: written.bytes, files: written.files };
  if (sparse) result.sparse = { tensors: sparse.tensors, bytesSaved: sparse.bytesSaved, ...(sparse.notice ? { notice: sparse.notice } : {}) };
  return result;
}
