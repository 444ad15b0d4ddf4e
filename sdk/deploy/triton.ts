/**
 * `mmkit export triton`: an ONNX model as a Triton model repository entry, OUT/NAME/config.pbtxt
 * and OUT/NAME/1/model.onnx (external data files beside it). The model is copied byte for byte
 * (its recipe stays in its metadata); the config is derived from the model.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { MmkitError, messageOf } from '../errors';
import { validateServingConfig, type InstanceKind, type ModelServingConfig } from '../serve/model-config';
import { readModelSignature, type ModelSignature } from '../serve/config/model-signature';
import { CONFIG_FILENAME } from '../serve/config/repository';
import { DEFAULT_MODEL_FILENAME, formatTritonConfig, tritonConfigFor } from '../serve/config/triton-config';
import { singleModelConfig } from '../serve/single-model';
import { atomically, generatedHeader, isGeneratedFile, refuseForeignFiles } from './files';

export interface TritonExportOptions {
  /** The model's name in the repository (its folder) and in request URLs. */
  name: string;
  /** The repository folder; created if missing. */
  out: string;
  /** Default: as `mmkit serve MODEL.onnx` (8 when the model's inputs have an open first axis, else 0). */
  maxBatchSize?: number;
  /** Model instances (Triton's instance_group count); default 1. */
  instances?: number;
  kind?: InstanceKind;
  /** How long a request may wait for others to batch with; default 0 (batch only what is already waiting). */
  maxQueueDelayMs?: number;
  preferredBatchSizes?: number[];
  /** Replace files in OUT/NAME that mmkit did not write. */
  overwrite?: boolean;
}

export interface TritonExportResult {
  /** OUT/NAME */
  modelDir: string;
  configPath: string;
  modelPath: string;
  /** Every file written, absolute: the config, the model, its external data. */
  files: string[];
  serving: ModelServingConfig;
}

export async function exportTritonRepository(modelPath: string, opts: TritonExportOptions): Promise<TritonExportResult> {
  const modelDir = path.resolve(opts.out, opts.name);
  const target = path.join(modelDir, '1', DEFAULT_MODEL_FILENAME);
  const sig = await readModelSignature(modelPath);
  const { serving, configText } = await exportedConfig(sig, target, opts, `${path.basename(modelPath)} as '${opts.name}'`);

  const copies: Array<[string, string]> = [[path.resolve(modelPath), target]];
  for (const data of sig.externalDataFiles) copies.push([data, path.join(path.dirname(target), path.relative(path.dirname(path.resolve(modelPath)), data))]);
  const configPath = path.join(modelDir, CONFIG_FILENAME);
  await checkTargets(configPath, copies, opts.overwrite === true);

  const written: string[] = [];
  try {
    for (const [from, to] of copies) written.push(await atomically(to, (tmp) => fsp.copyFile(from, tmp)));
    // The config last: a folder with a config always has its model in place.
    written.unshift(await atomically(configPath, (tmp) => fsp.writeFile(tmp, configText)));
  } catch (e) {
    throw new MmkitError('WRITE_FAILED', `Exporting ${modelPath} to ${modelDir} failed: ${messageOf(e)}`, {
      file: modelDir,
      hint: 'Check that the folder is writable and the disk has room for the model.',
      cause: e,
    });
  }
  return { modelDir, configPath, modelPath: target, files: written, serving };
}

/** What sets one exported model's serving configuration. */
export type ExportServingOptions = Pick<TritonExportOptions, 'name' | 'maxBatchSize' | 'instances' | 'kind' | 'maxQueueDelayMs' | 'preferredBatchSizes'>;

/**
 * The serving configuration of one exported model and its config.pbtxt text: the same defaults
 * as `mmkit serve MODEL.onnx`, except one instance (the export must not depend on this machine's
 * cores). `sig.file` is read for the default max batch size only when `opts.maxBatchSize` is
 * unset; `target` is where the model will lie; `about` ends the generated header.
 */
export async function exportedConfig(sig: ModelSignature, target: string, opts: ExportServingOptions, about: string): Promise<{ serving: ModelServingConfig; configText: string }> {
  const delayMs = opts.maxQueueDelayMs ?? 0;
  if (!(delayMs >= 0) || !Number.isFinite(delayMs)) {
    throw new MmkitError('BAD_OPTION', `max queue delay must be a number of milliseconds ≥ 0, got ${opts.maxQueueDelayMs}.`, { hint: 'Use e.g. 2 to let requests wait up to 2 ms for a batch.' });
  }
  const single = await singleModelConfig(sig.file, {
    name: opts.name,
    maxBatchSize: opts.maxBatchSize,
    maxQueueDelayMs: delayMs,
    preferredBatchSizes: opts.preferredBatchSizes,
    instances: opts.instances ?? 1,
    kind: opts.kind,
  });
  const serving = validateServingConfig({ ...single, modelPath: target });
  if (opts.preferredBatchSizes?.length && serving.maxBatchSize === 0) {
    throw new MmkitError('BAD_OPTION', 'preferred batch sizes need max_batch_size ≥ 1.', { file: sig.file, hint: 'Drop the preferred sizes, or set a max batch size (the model needs an open first axis).' });
  }
  return { serving, configText: generatedHeader('triton', about) + formatTritonConfig(tritonConfigFor(serving, sig)) };
}

/**
 * A model folder mmkit wrote (its config is generated) is replaced as a whole; in any other,
 * existing files are the user's. The source model is never replaced.
 */
export async function checkTargets(configPath: string, copies: Array<[string, string]>, overwrite: boolean): Promise<void> {
  for (const [from, to] of copies) {
    const [a, b] = await Promise.all([from, to].map((p) => fsp.realpath(p).catch(() => path.resolve(p))));
    if (a === b) {
      throw new MmkitError('OVERWRITE_SOURCE', `Refusing to export ${from} onto itself.`, { file: from, hint: 'Export to another --out folder; mmkit never replaces the model it read.' });
    }
  }
  const folderIsOurs = await isGeneratedFile(configPath);
  await refuseForeignFiles([configPath, ...copies.map(([, to]) => to)], overwrite, async () => folderIsOurs);
}
