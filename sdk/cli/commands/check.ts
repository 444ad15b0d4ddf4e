/**
 * `mmkit check`: the never-silently-worse check of a compressed model against its baseline, as
 * a CI gate: exit 1 when it flags the model (fails to run, drifts, slower, not smaller).
 */
import type { Command } from 'commander';
import { checkCompression, compressionCheckView, type CheckThresholds } from '../../check';
import { Pipeline } from '../../pipeline';
import type { Device } from '../../runtime';
import { EXIT, action, emit, jsonOption, withCliProgress, type ExitCode } from '../command';
import { DATA_SPEC_DETAILS, DATA_SPEC_HELP, openDataset, parseDataSpec, type DataSpec } from '../data-spec';
import { decimal, deviceOption, wholeNumber } from '../options';
import { isFlagged, panelText, verdictText } from '../report-text';
import { shapeOptions, type ShapeCommandOptions } from '../shape-options';

interface CheckCommandOptions extends ShapeCommandOptions {
  baseline: string;
  data?: DataSpec;
  maxItems?: number;
  web: boolean;
  latency: boolean;
  minAgreement?: number;
  minCosine?: number;
  maxSlowdown?: number;
  maxSizeRatio?: number;
  timeBudget?: number;
  device: Device;
  json?: boolean;
}

const EXAMPLES = `
Examples:
  mmkit check model-int8.onnx --baseline model.onnx
  mmkit check model-int8.onnx --baseline model.onnx --data mnist:test:512 --min-agreement 0.995
  mmkit check model-int8.onnx --baseline model.onnx --no-latency --json > check.json
  mmkit check mel-int8.onnx --baseline mel.onnx --input input=1,1280

The model must load and run in onnxruntime-node and onnxruntime-web (wasm), follow the baseline
(top-1 agreement on real data, output cosine), not be slower and be smaller; each shortfall is a
flag with its likely cause. Without --data it compares on seeded synthetic inputs (agreement is
then reported, not judged), shaped by --input / --dim where the model leaves sizes free; when the
baseline itself fails on them, that is flagged instead of blaming the model. The check spends
about --time-budget milliseconds of inference (default 5000): fewer items and latency runs on
big inputs, and it says so.

Exit codes: 0 nothing flagged, 1 flagged, 2 bad usage or input.`;

export function register(program: Command): void {
  const cmd = program
    .command('check')
    .summary('the never-silently-worse check against a baseline, as a CI gate (exit 1 when flagged)')
    .description('Check a compressed model against its baseline: runs in onnxruntime-node and -web, fidelity, latency, size. Exit 1 when anything is flagged.')
    .argument('<model>', 'the compressed ONNX model: a file, an http(s) URL or hf:org/repo')
    .requiredOption('--baseline <model>', 'the model it was made from')
    .option('--data <data>', `compare on this data (default: synthetic inputs): ${DATA_SPEC_HELP}`, parseDataSpec)
    .option('--max-items <n>', 'items compared (default 128)', wholeNumber(1))
    .option('--no-web', 'skip the onnxruntime-web (wasm) run')
    .option('--no-latency', 'skip the latency comparison (for noisy shared CI machines)')
    .option('--min-agreement <share>', 'lowest top-1 agreement on real data (default 0.99)', decimal)
    .option('--min-cosine <x>', 'lowest mean cosine of the outputs (default 0.995)', decimal)
    .option('--max-slowdown <ratio>', 'highest latency ratio to the baseline (default 1.05)', decimal)
    .option('--max-size-ratio <ratio>', 'highest file size ratio to the baseline (default 0.98)', decimal)
    .option('--time-budget <ms>', 'milliseconds of inference to spend comparing and timing (default 5000)', wholeNumber(0))
    .addOption(deviceOption());
  shapeOptions(cmd, 'the synthetic inputs');
  jsonOption(cmd)
    .addHelpText('after', `${EXAMPLES}\n\n${DATA_SPEC_DETAILS}`)
    .action(action((model: string, opts: CheckCommandOptions) => check(model, opts)));
}

async function check(model: string, opts: CheckCommandOptions): Promise<ExitCode> {
  const candidate = Pipeline.load(model);
  const data = opts.data && (await openDataset(opts.data, candidate, model));
  const thresholds: Partial<CheckThresholds> = { agreement: opts.minAgreement, cosine: opts.minCosine, slower: opts.maxSlowdown, notSmaller: opts.maxSizeRatio };
  const [reference, compressed] = await Promise.all([Pipeline.load(opts.baseline).model(), candidate.model()]);
  const result = await withCliProgress('checking', (ctx) =>
    checkCompression(reference, compressed, {
      data,
      maxItems: opts.maxItems,
      web: opts.web,
      latencyBudgetMs: opts.latency ? undefined : 0,
      timeBudgetMs: opts.timeBudget,
      inputs: opts.input,
      dims: opts.dim,
      thresholds: Object.fromEntries(Object.entries(thresholds).filter(([, v]) => v !== undefined)),
      device: opts.device,
      ...ctx,
    }),
  );
  emit(opts, result, () => [panelText(compressionCheckView(result, { name: model })), verdictText([result])].join('\n\n'));
  return isFlagged([result]) ? EXIT.FLAGGED : EXIT.OK;
}
