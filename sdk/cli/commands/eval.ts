/** `mmkit eval`: accuracy, latency and size of a model on data, and how it follows a baseline. */
import type { Command } from 'commander';
import { Pipeline } from '../../pipeline';
import { evaluationView } from '../../pipeline/views';
import type { Device } from '../../runtime';
import { action, emit, jsonOption, withCliProgress } from '../command';
import { DATA_SPEC_DETAILS, DATA_SPEC_HELP, openDataset, parseDataSpec, type DataSpec } from '../data-spec';
import { deviceOption, wholeNumber } from '../options';
import { panelText } from '../report-text';

interface EvalOptions {
  data: DataSpec;
  baseline?: string;
  batchSize?: number;
  layers?: boolean;
  threads?: number;
  device: Device;
  json?: boolean;
}

const EXAMPLES = `
Examples:
  mmkit eval model-int8.onnx --data mnist:test
  mmkit eval model-int8.onnx --data mnist:test:500 --baseline model.onnx --layers
  mmkit eval model.onnx --data images/ --json | jq .model.accuracy.top1

Accuracy needs labels (mnist, or a folder with one subfolder per class). With --baseline: the
baseline's own numbers, top-1 agreement, KL and cosine of the outputs, speedup and size ratio.
Always exits 0 on success; use 'mmkit check' to gate a CI job.`;

export function register(program: Command): void {
  const cmd = program
    .command('eval')
    .summary('accuracy, agreement with a baseline, latency and size on data')
    .description('Evaluate an ONNX model on data: top-1/top-5 accuracy, latency percentiles, size; against a baseline: agreement, speedup, size ratio.')
    .argument('<model>', 'the ONNX model: a file, an http(s) URL or hf:org/repo')
    .requiredOption('--data <data>', DATA_SPEC_HELP, parseDataSpec)
    .option('--baseline <model>', 'compare with this model on the same batches')
    .option('--batch-size <n>', "items per run (default: the data's own batches)", wholeNumber(1))
    .option('--layers', 'with --baseline: also compare the two layer by layer (which layer drifts)')
    .option('--threads <n>', "onnxruntime threads per operator (default: onnxruntime's choice)", wholeNumber(1))
    .addOption(deviceOption());
  jsonOption(cmd)
    .addHelpText('after', `${EXAMPLES}\n\n${DATA_SPEC_DETAILS}`)
    .action(
      action(async (model: string, opts: EvalOptions, self: Command) => {
        if (opts.layers && !opts.baseline) self.error('--layers compares with a baseline: give --baseline MODEL too');
        const pipeline = Pipeline.load(model);
        const baseline = opts.baseline === undefined ? undefined : Pipeline.load(opts.baseline);
        const data = await openDataset(opts.data, pipeline, model);
        const report = await withCliProgress('evaluating', (ctx) =>
          pipeline.evaluate(data, { baseline, batchSize: opts.batchSize, device: opts.device, intraOpThreads: opts.threads, layers: opts.layers, ...ctx }),
        );
        emit(opts, report, () => panelText(evaluationView(report, { name: model, baselineName: opts.baseline })));
      }),
    );
}
