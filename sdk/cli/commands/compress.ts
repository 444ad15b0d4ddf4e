/**
 * `mmkit compress`: builds a pipeline from flags (prune → low-rank → quantize) or replays a
 * recipe, prints what each step did and its compression check, and saves the model atomically.
 */
import { promises as fsp, realpathSync } from 'node:fs';
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { MmkitError, isMmkitError } from '../../errors';
import { Pipeline, type SaveResult, type StepCheckOptions } from '../../pipeline';
import { RECIPE_METADATA_KEY, parseRecipe, type StepReport } from '../../step';
import { readModelMetadata } from '../../pipeline/model-metadata';
import { sourceKind } from '../../pipeline/source';
import type { Dataset } from '../../data';
import { EXIT, action, emit, jsonOption, withCliProgress, type ExitCode } from '../command';
import { DATA_SPEC_DETAILS, DATA_SPEC_HELP, openDataset, parseDataSpec, type DataSpec } from '../data-spec';
import { isFlagged, stepReportsText, verdictText } from '../report-text';
import { LOW_RANK_SPEC_HELP, PRUNE_SPEC_HELP, parseLowRankSpec, parsePruneSpec } from '../step-specs';
import { shapeOptions, type ShapeCommandOptions } from '../shape-options';

const QUANTIZE_MODES = ['dynamic', 'static', 'int4', 'fp16'] as const;

interface CompressOptions extends ShapeCommandOptions {
  output: string;
  quantize?: (typeof QUANTIZE_MODES)[number];
  prune?: ReturnType<typeof parsePruneSpec>;
  lowRank?: ReturnType<typeof parseLowRankSpec>;
  calibration?: DataSpec;
  recipe?: string;
  check: boolean;
  strict?: boolean;
  sparse?: boolean;
  overwrite?: boolean;
  json?: boolean;
}

const EXAMPLES = `
Examples:
  mmkit compress model.onnx -o model-int8.onnx --quantize dynamic
  mmkit compress model.onnx -o small.onnx --prune mlp:0.5 --quantize static --calibration mnist:train:128
  mmkit compress model.onnx -o lr.onnx --low-rank energy:0.95 --calibration images/ --strict
  mmkit compress --recipe recipe.json -o replay.onnx      (a recipe JSON, or a model mmkit wrote)

Steps run in the order prune → low-rank → quantize; each is checked against its input (runs in
onnxruntime-node and -web, follows the input's outputs, not slower, smaller). With --calibration
the check compares on that data, else on seeded synthetic inputs.

${PRUNE_SPEC_HELP}

${LOW_RANK_SPEC_HELP}

A step that changes nothing (no layer it can rewrite) says so in its report; with --strict
that is a failure too.

Exit codes: 0 written and nothing flagged, 1 the check flagged the result (written unless
--strict) or, with --strict, a step changed nothing (not written), 2 bad usage or input
(nothing written).`;

export function register(program: Command): void {
  const cmd = program
    .command('compress')
    .summary('compress a model (prune, low-rank, quantize) or replay a recipe; checked, saved atomically')
    .description('Compress an ONNX model with the given steps, or replay a recipe, check each step and save the result.')
    .argument('[model]', 'the ONNX model: a file, an http(s) URL or hf:org/repo (not with --recipe)')
    .requiredOption('-o, --output <file>', 'where to write the compressed model (never the source model)')
    .addOption(new Option('--quantize <mode>', 'quantize: dynamic int8, static int8 (needs --calibration), int4 weights, fp16').choices(QUANTIZE_MODES))
    .option('--prune <spec>', 'prune: 0.5, 2:4, mlp:0.5 or heads:0.25 (see below)', parsePruneSpec)
    .option('--low-rank <spec>', 'factor linear layers by SVD: 0.25, 16 or energy:0.9 (see below)', parseLowRankSpec)
    .option('--calibration <data>', `data for static quantization and the checks: ${DATA_SPEC_HELP}`, parseDataSpec)
    .option('--recipe <file>', 'replay this recipe (a recipe JSON, or a model mmkit wrote) instead of MODEL and step flags')
    .option('--no-check', 'skip the compression check after each step')
    .option('--strict', 'do not write the model when the check flags it or a step changes nothing')
    .option('--sparse', 'store mostly-zero (pruned) weights as sparse initializers')
    .option('--overwrite', 'replace the output file even when mmkit did not write it');
  shapeOptions(cmd, "the checks' synthetic inputs (without --calibration)");
  jsonOption(cmd)
    .addHelpText('after', `${EXAMPLES}\n\n${DATA_SPEC_DETAILS}`)
    .action(action((model: string | undefined, opts: CompressOptions, self: Command) => compress(model, opts, self)));
}

async function compress(model: string | undefined, opts: CompressOptions, cmd: Command): Promise<ExitCode> {
  const steps = [opts.prune && '--prune', opts.lowRank && '--low-rank', opts.quantize && '--quantize'].filter(Boolean);
  if (opts.recipe !== undefined) {
    if (model !== undefined || steps.length > 0) cmd.error(`--recipe replays a recipe as it is: give no MODEL and no ${steps.join(', ') || 'step flags'}`);
    if (!opts.check) cmd.error('--no-check does not apply to --recipe: a replay always checks its compression steps');
  } else {
    if (model === undefined) cmd.error('missing MODEL (or --recipe FILE)');
    if (steps.length === 0) cmd.error('nothing to do: give --quantize, --prune or --low-rank (or --recipe FILE)');
    if (opts.quantize === 'static' && !opts.calibration) cmd.error('--quantize static needs --calibration (e.g. mnist:train:128 or a folder of images)');
  }

  const pipeline = opts.recipe !== undefined ? await fromRecipeFile(opts.recipe, opts) : await fromFlags(model!, opts);
  refuseSourceAsOutput(pipeline.recipe.source.uri, opts.output);

  let reports: StepReport[];
  try {
    reports = await withCliProgress('compressing', (ctx) => pipeline.reports(ctx));
  } catch (e) {
    // --strict: a step that changed nothing is a failed gate, like a flagged check.
    if (!isMmkitError(e, 'NO_EFFECT')) throw e;
    emit(opts, { output: null, flagged: true, noEffect: e.message, recipe: pipeline.recipe }, () => `⚠ ${e.message}\n\nNot written (--strict): ${opts.output}.`);
    return EXIT.FLAGGED;
  }
  const checks = await pipeline.checks();
  const flagged = isFlagged(checks);
  const written = flagged && opts.strict ? undefined : await save(pipeline, opts);
  emit(opts, { output: written ?? null, flagged, recipe: pipeline.recipe, reports, checks }, () =>
    [
      stepReportsText(reports),
      opts.check ? verdictText(checks) : 'Compression check skipped (--no-check).',
      written ? `Wrote ${path.relative(process.cwd(), written.path) || written.path} (${written.bytes} bytes).` : `Not written (--strict): ${opts.output}.`,
    ].join('\n\n'),
  );
  return flagged ? EXIT.FLAGGED : EXIT.OK;
}

async function save(pipeline: Pipeline, opts: CompressOptions): Promise<SaveResult> {
  try {
    return await pipeline.save(opts.output, { overwrite: opts.overwrite, sparse: opts.sparse });
  } catch (e) {
    // The SDK's hint names its save option; on the command line it is a flag.
    if (isMmkitError(e, 'FILE_EXISTS')) throw new MmkitError('FILE_EXISTS', `Refusing to overwrite ${opts.output}: it exists and was not written by mmkit.`, { file: opts.output, hint: 'Pick another -o, or pass --overwrite to replace it.' });
    throw e;
  }
}

async function fromFlags(model: string, opts: CompressOptions): Promise<Pipeline> {
  let p = Pipeline.load(model);
  const data = opts.calibration && (await openDataset(opts.calibration, p, model));
  // With data the checks compare on it (agreement is then judged); without, on synthetic inputs.
  const check: StepCheckOptions = opts.check ? (data ? { data } : { inputs: opts.input, dims: opts.dim }) : false;
  const guard = { check, strict: opts.strict };
  if (opts.prune) p = p.prune({ ...opts.prune, ...guard });
  if (opts.lowRank) p = p.lowRank({ ...opts.lowRank, ...guard });
  if (opts.quantize === 'static') p = p.quantize({ mode: 'static', calibration: data as Dataset, ...guard });
  else if (opts.quantize) p = p.quantize({ mode: opts.quantize, ...guard });
  return p;
}

/** A recipe JSON file, or a model mmkit saved (its recipe is in the metadata). */
async function fromRecipeFile(file: string, opts: CompressOptions): Promise<Pipeline> {
  await fsp.access(file).catch((e: Error) => {
    throw new MmkitError('FILE_NOT_FOUND', `--recipe ${file}: no such file.`, { file, hint: 'Pass a recipe JSON (pipeline.recipe, or .recipe of `mmkit compress --json`) or a model mmkit wrote.', cause: e });
  });
  const recipe = parseRecipe(file.endsWith('.onnx') ? await recipeOfModel(file) : await fsp.readFile(file, 'utf8'), `--recipe ${file}`);
  // A recipe that calibrated on a folder of images cannot rebuild it: --calibration gives it again.
  const data = opts.calibration && { calibration: await openDataset(opts.calibration, Pipeline.load(recipe.source.uri), recipe.source.uri) };
  return Pipeline.fromRecipe(recipe, { data: data || undefined });
}

async function recipeOfModel(file: string): Promise<string> {
  const recipe = (await readModelMetadata(file))?.get(RECIPE_METADATA_KEY);
  if (recipe === undefined) {
    throw new MmkitError('BAD_RECIPE', `--recipe ${file}: the model carries no mmkit recipe in its metadata.`, { file, hint: 'Pass a model saved by mmkit (or `mmkit compress`), or a recipe JSON.' });
  }
  return recipe;
}

/** Fails before any work when OUT is the source model (the SDK's save would refuse it too, but only after compressing). */
function refuseSourceAsOutput(source: string, output: string): void {
  if (sourceKind(source) !== 'file') return;
  const real = (p: string): string => {
    try {
      return realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  if (real(source) === real(output)) {
    throw new MmkitError('OVERWRITE_SOURCE', `Refusing to overwrite the source model ${source} with -o ${output}.`, { file: output, hint: 'Write the compressed model under a new name; mmkit never replaces the model it read.' });
  }
}
