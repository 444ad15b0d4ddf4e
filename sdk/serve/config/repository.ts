/**
 * Triton's model repository layout, read for `mmkit serve --model-repository DIR`:
 * DIR/<name>/config.pbtxt and DIR/<name>/<version>/model.onnx. Each config is checked against
 * the model it describes, so a mismatch fails at start-up, not on the first request.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { MmkitError, type MmkitErrorCode } from '../../errors';
import { type ModelServingConfig } from '../model-config';
import { isOpenDim, readModelSignature, type ModelSignature, type TensorSignature } from './model-signature';
import { parsePbtxt, PbtxtReader } from './pbtxt';
import { readTritonConfig, servingConfigOf, tritonDataType, type TritonModelConfig, type TritonTensorConfig } from './triton-config';

export const CONFIG_FILENAME = 'config.pbtxt';

const LAYOUT_HINT = `A model repository holds one folder per model: DIR/<name>/${CONFIG_FILENAME} and DIR/<name>/<version>/model.onnx (versions are numbered folders; the highest is served). \`mmkit export triton MODEL --name NAME --out DIR\` writes one.`;

export interface ReadRepositoryOptions {
  /** Receives one line for each configuration field mmkit ignores and each ensemble it skips (default: none). */
  notice?: (message: string) => void;
}

/** The serving configuration of every model in the repository, sorted by name. */
export async function readModelRepository(dir: string, opts: ReadRepositoryOptions = {}): Promise<ModelServingConfig[]> {
  const entries = await fsp.readdir(dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    throw new MmkitError(e.code === 'ENOTDIR' ? 'BAD_OPTION' : 'FILE_NOT_FOUND', `Model repository ${dir} ${e.code === 'ENOTDIR' ? 'is a file, not a folder' : 'cannot be read'}.`, {
      file: dir,
      hint: LAYOUT_HINT,
      cause: e,
    });
  });
  const models = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  if (models.length === 0) throw new MmkitError('BAD_OPTION', `Model repository ${dir} holds no models.`, { file: dir, hint: LAYOUT_HINT });
  const configs: ModelServingConfig[] = [];
  const ensembles: Array<{ name: string; configFile: string; steps: string[] }> = [];
  for (const name of models) {
    const modelDir = path.join(dir, name);
    const configFile = path.join(modelDir, CONFIG_FILENAME);
    const text = await fsp.readFile(configFile, 'utf8').catch((e: unknown) => {
      throw new MmkitError('FILE_NOT_FOUND', `Model folder ${modelDir} has no ${CONFIG_FILENAME}.`, { file: configFile, hint: LAYOUT_HINT, cause: e });
    });
    const steps = ensembleSteps(text, configFile);
    if (steps) ensembles.push({ name, configFile, steps });
    else configs.push(await readRepositoryModel(modelDir, text, configFile, opts));
  }
  // A step may itself be an ensemble (Triton nests them); its own steps are checked in turn.
  const held = new Set([...configs, ...ensembles].map((m) => m.name));
  for (const e of ensembles) {
    const missing = e.steps.filter((s) => !held.has(s));
    if (missing.length > 0) {
      throw new MmkitError('FILE_NOT_FOUND', `${e.configFile}: ensemble '${e.name}' has steps ${quoted(missing)} that the repository ${dir} does not hold.`, {
        file: e.configFile,
        hint: 'Export the ensemble and its steps together (mmkit export triton MODEL --split-towers), or remove the ensemble\'s folder.',
      });
    }
    opts.notice?.(
      `model '${e.name}' is a Triton ensemble; mmkit serves its steps ${quoted(e.steps)} as separate models: send each step its part of the request (and the next step the outputs it needs), or serve the repository on Triton.`,
    );
  }
  return configs;
}

function quoted(names: readonly string[]): string {
  return names.map((n) => `'${n}'`).join(', ');
}

/**
 * The model names of an ensemble's steps, in order; undefined for any other config. mmkit does
 * not run ensembles (its scheduler batches one model at a time), so it serves their steps.
 */
function ensembleSteps(text: string, configFile: string): string[] | undefined {
  const root = new PbtxtReader(parsePbtxt(text, configFile), configFile);
  if (root.string('platform') !== 'ensemble' && !root.has('ensemble_scheduling')) return undefined;
  const scheduling = root.child('ensemble_scheduling');
  const steps = scheduling?.messages('step').map((s) => s.string('model_name') ?? '') ?? [];
  if (steps.length === 0 || steps.includes('')) {
    throw (scheduling ?? root).error(scheduling ? 'step' : 'ensemble_scheduling', 'must name the model of every step', 'An ensemble lists its steps: `ensemble_scheduling { step { model_name: "…" model_version: -1 input_map {…} output_map {…} } }`.');
  }
  return [...new Set(steps)];
}

async function readRepositoryModel(modelDir: string, text: string, configFile: string, opts: ReadRepositoryOptions): Promise<ModelServingConfig> {
  const folderName = path.basename(modelDir);
  const config = readTritonConfig(text, configFile);
  config.notes.forEach((n) => opts.notice?.(n));
  if (config.name !== undefined && config.name !== folderName) {
    throw new MmkitError('BAD_OPTION', `${configFile}: name '${config.name}' differs from its folder '${folderName}'.`, {
      file: configFile,
      hint: 'Triton requires the model folder to carry the model\'s name: rename one of them.',
    });
  }
  const version = await servedVersion(modelDir, config);
  const modelPath = path.join(modelDir, version, config.defaultModelFilename);
  const exists = await fsp.stat(modelPath).then((s) => s.isFile(), () => false);
  if (!exists) {
    throw new MmkitError('FILE_NOT_FOUND', `Model '${folderName}' version ${version} has no ${config.defaultModelFilename} (${modelPath}).`, { file: modelPath, hint: LAYOUT_HINT });
  }
  checkConfigMatchesModel(config, configFile, await readModelSignature(modelPath));
  return servingConfigOf(config, { name: folderName, version, modelPath });
}

/** The highest numbered version folder the version policy allows. */
async function servedVersion(modelDir: string, config: TritonModelConfig): Promise<string> {
  const found = (await fsp.readdir(modelDir, { withFileTypes: true }))
    .filter((e) => e.isDirectory() && /^[0-9]+$/.test(e.name))
    .map((e) => Number(e.name));
  const policy = config.versionPolicy;
  const allowed = policy.kind === 'specific' ? found.filter((v) => policy.versions.includes(v)) : found;
  if (allowed.length === 0) {
    const wanted = policy.kind === 'specific' ? ` (version_policy asks for ${policy.versions.join(', ')}; found ${found.join(', ') || 'none'})` : '';
    throw new MmkitError('FILE_NOT_FOUND', `Model folder ${modelDir} has no version folder to serve${wanted}.`, { file: modelDir, hint: LAYOUT_HINT });
  }
  return String(Math.max(...allowed));
}

function describeDims(dims: readonly (number | string)[]): string {
  return `[${dims.join(', ')}]`;
}

/**
 * Fails when the config and the ONNX model disagree: every model input declared, every declared
 * tensor present with the model's dtype, and dims that fit the model's (-1 and symbolic axes match
 * anything; with max_batch_size > 0 the model's first axis is the batch axis and must be open).
 * One error lists every mismatch; its code is that of the first.
 */
export function checkConfigMatchesModel(config: TritonModelConfig, configFile: string, sig: ModelSignature): void {
  const problems: Array<{ code: MmkitErrorCode; text: string }> = [];
  const modelFile = sig.file;
  const check = (kind: 'input' | 'output', declared: TritonTensorConfig[], actual: TensorSignature[]) => {
    for (const d of declared) {
      const m = actual.find((t) => t.name === d.name);
      if (!m) {
        problems.push({ code: 'UNKNOWN_TENSOR', text: `declares ${kind} '${d.name}', which is not an ${kind} of ${modelFile} (it has ${actual.map((t) => `'${t.name}'`).join(', ') || 'none'})` });
        continue;
      }
      if (m.dtype && m.dtype !== d.dtype) problems.push({ code: 'DTYPE_MISMATCH', text: `says ${kind} '${d.name}' is ${tritonDataType(d.dtype, d.name)} but ${modelFile} has ${m.dtype}` });
      if (m.shape) {
        const full = config.maxBatchSize > 0 ? [-1, ...d.dims] : d.dims;
        const fits = full.length === m.shape.length && full.every((n, i) => n === -1 || isOpenDim(m.shape![i]) || m.shape![i] === n);
        if (!fits) {
          const shown = config.maxBatchSize > 0 ? `dims ${describeDims(d.dims)} (with max_batch_size ${config.maxBatchSize}: [batch, ${d.dims.join(', ')}])` : `dims ${describeDims(d.dims)}`;
          problems.push({ code: 'SHAPE_MISMATCH', text: `says ${kind} '${d.name}' has ${shown} but ${modelFile} has ${describeDims(m.shape)}` });
        } else if (config.maxBatchSize > 0 && !isOpenDim(m.shape[0])) {
          problems.push({ code: 'SHAPE_MISMATCH', text: `says max_batch_size ${config.maxBatchSize}, which makes the first axis of ${kind} '${d.name}' the batch axis, but ${modelFile} fixes it at ${m.shape[0]}` });
        }
      }
    }
  };
  check('input', config.inputs, sig.inputs);
  check('output', config.outputs, sig.outputs);
  for (const m of sig.inputs) {
    if (!config.inputs.some((d) => d.name === m.name)) problems.push({ code: 'UNKNOWN_INPUT', text: `does not declare input '${m.name}' of ${modelFile}` });
  }
  if (problems.length > 0) {
    throw new MmkitError(problems[0].code, problems.map((p) => `${configFile} ${p.text}`).join('; ') + '.', {
      file: configFile,
      hint: 'Fix config.pbtxt to declare the model\'s inputs and outputs as they are (or write it again with `mmkit export triton`).',
    });
  }
}
