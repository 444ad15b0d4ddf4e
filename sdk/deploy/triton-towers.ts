/**
 * `mmkit export triton --split-towers`: a two-tower model (CLIP) as a Triton model repository of
 * its parts, so each tower batches and scales on its own: OUT/<name>-image-encoder,
 * OUT/<name>-text-encoder and OUT/<name>-joint (config.pbtxt and 1/model.onnx each), plus the
 * ensemble OUT/<name> (config.pbtxt and an empty version folder 1/, which Triton requires) that
 * chains them behind the unsplit model's inputs and outputs.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { MmkitError, isMmkitError, messageOf } from '../errors';
import { readModel, writeModel } from '../onnx';
import { CONFIG_FILENAME } from '../serve/config/repository';
import { signatureOf } from '../serve/config/model-signature';
import { formatPbtxt, pbtxt, type PbtxtField, type PbtxtMessage } from '../serve/config/pbtxt';
import { DEFAULT_MODEL_FILENAME } from '../serve/config/triton-config';
import type { ModelServingConfig } from '../serve/model-config';
import { atomically, generatedHeader } from './files';
import { splitTowers, towerEnsemble, type EnsembleTensorConfig, type TowerPart, type TowerRole, type TritonEnsembleConfig } from './towers';
import { checkTargets, exportedConfig, type TritonExportOptions } from './triton';

/**
 * The towers' default max_batch_size. Inside the ensemble one request's whole text batch (every
 * prompt) reaches the text encoder as one request, and Triton refuses a request larger than
 * max_batch_size: the default must fit a prompt list, not just a few rows.
 */
export const DEFAULT_TOWER_MAX_BATCH_SIZE = 32;

/**
 * As for one model; `name` names the ensemble (clients call it as they called the unsplit model) and
 * the parts are `<name>-image-encoder`, `<name>-text-encoder`, `<name>-joint`; maxBatchSize is the
 * towers' (default DEFAULT_TOWER_MAX_BATCH_SIZE): the joint head never batches, its logits are [images, texts].
 */
export type TritonTowersOptions = TritonExportOptions;

export interface TritonTowerExport {
  role: TowerRole;
  /** Its model name in the repository. */
  name: string;
  modelDir: string;
  configPath: string;
  modelPath: string;
  serving: ModelServingConfig;
}

export interface TritonTowersResult {
  ensemble: { name: string; modelDir: string; configPath: string; config: TritonEnsembleConfig };
  /** Image encoder, text encoder, joint head: the ensemble's steps in order. */
  parts: TritonTowerExport[];
  /** Every file written, absolute. */
  files: string[];
}

interface PlannedPart {
  exported: TritonTowerExport;
  part: TowerPart;
  configText: string;
}

export async function exportTritonTowers(modelPath: string, opts: TritonTowersOptions): Promise<TritonTowersResult> {
  const split = splitTowers(await readModel(modelPath));
  const source = path.basename(modelPath);
  const planned: PlannedPart[] = [];
  for (const part of [split.imageEncoder, split.textEncoder, split.joint]) {
    const name = `${opts.name}-${part.role}`;
    const modelDir = path.resolve(opts.out, name);
    const target = path.join(modelDir, '1', DEFAULT_MODEL_FILENAME);
    // Errors about a part name the source model and the part: the part's file does not exist yet.
    const sig = signatureOf(part.model, `${modelPath} (its ${part.role})`);
    const { serving, configText } = await exportedConfig(
      sig,
      target,
      {
        ...opts,
        name,
        maxBatchSize: part.batchable ? (opts.maxBatchSize ?? DEFAULT_TOWER_MAX_BATCH_SIZE) : 0,
        preferredBatchSizes: part.batchable ? opts.preferredBatchSizes : undefined,
      },
      `the ${part.role} of ${source}, a step of ensemble '${opts.name}'`,
    );
    planned.push({ exported: { role: part.role, name, modelDir, configPath: path.join(modelDir, CONFIG_FILENAME), modelPath: target, serving }, part, configText });
  }
  const config = towerEnsemble(split, { name: opts.name, modelNames: Object.fromEntries(planned.map(({ exported: e }) => [e.role, e.name])) });
  const ensembleDir = path.resolve(opts.out, opts.name);
  const ensembleConfigPath = path.join(ensembleDir, CONFIG_FILENAME);
  const ensembleText = generatedHeader('triton', `the tower ensemble of ${source} as '${opts.name}'`) + formatEnsembleConfig(config);

  // Every refusal before anything is written.
  const overwrite = opts.overwrite === true;
  for (const { exported: e } of planned) await checkTargets(e.configPath, [[modelPath, e.modelPath]], overwrite);
  await checkTargets(ensembleConfigPath, [], overwrite);

  const files: string[] = [];
  try {
    for (const { exported: e, part, configText } of planned) {
      files.push(...(await writeModel(part.model, e.modelPath)).files);
      // The config after its model: a folder with a config always has its model in place.
      files.push(await atomically(e.configPath, (tmp) => fsp.writeFile(tmp, configText)));
    }
    await fsp.mkdir(path.join(ensembleDir, '1'), { recursive: true });
    // The ensemble last: it names its steps only once they are all in place.
    files.push(await atomically(ensembleConfigPath, (tmp) => fsp.writeFile(tmp, ensembleText)));
  } catch (e) {
    if (isMmkitError(e, 'WRITE_FAILED')) throw e;
    throw new MmkitError('WRITE_FAILED', `Exporting the towers of ${modelPath} to ${path.resolve(opts.out)} failed: ${messageOf(e)}`, {
      file: path.resolve(opts.out),
      hint: 'Check that the folder is writable and the disk has room for the models.',
      cause: e,
    });
  }
  return {
    ensemble: { name: opts.name, modelDir: ensembleDir, configPath: ensembleConfigPath, config },
    parts: planned.map((p) => p.exported),
    files,
  };
}

/** config.pbtxt text of a Triton ensemble (no instance_group: an ensemble runs no model of its own). */
export function formatEnsembleConfig(c: TritonEnsembleConfig): string {
  const { field, message, string, number, identifier } = pbtxt;
  const tensor = (t: EnsembleTensorConfig): PbtxtMessage =>
    message([field('name', string(t.name)), field('data_type', identifier(t.dataType)), ...t.dims.map((d) => field('dims', number(d)))]);
  // A proto map is written as repeated { key value } entries.
  const map = (fieldName: string, entries: Record<string, string>): PbtxtField[] =>
    Object.entries(entries).map(([key, value]) => field(fieldName, message([field('key', string(key)), field('value', string(value))])));
  const steps = c.ensembleScheduling.step.map((s) =>
    field('step', message([field('model_name', string(s.modelName)), field('model_version', number(s.modelVersion)), ...map('input_map', s.inputMap), ...map('output_map', s.outputMap)])),
  );
  return formatPbtxt(
    message([
      field('name', string(c.name)),
      field('platform', string(c.platform)),
      field('max_batch_size', number(c.maxBatchSize)),
      ...c.input.map((t) => field('input', tensor(t))),
      ...c.output.map((t) => field('output', tensor(t))),
      field('ensemble_scheduling', message(steps)),
    ]),
  );
}
