/** `mmkit summary`: a model's layers, weights, operators, inputs and outputs. */
import type { Command } from 'commander';
import { Pipeline } from '../../pipeline';
import { summaryView } from '../../pipeline/views';
import type { Device } from '../../runtime';
import { action, emit, jsonOption } from '../command';
import { deviceOption } from '../options';
import { panelText } from '../report-text';

interface SummaryCommandOptions {
  all?: boolean;
  probe: boolean;
  device: Device;
  json?: boolean;
}

const EXAMPLES = `
Examples:
  mmkit summary model.onnx                  totals, inputs/outputs, weights by dtype, operators, largest layers
  mmkit summary model.onnx --all            every layer
  mmkit summary model.onnx --json | jq '.rows[] | select(.op == "MatMul")'`;

export function register(program: Command): void {
  const cmd = program
    .command('summary')
    .summary('per-layer shapes, parameters, bytes and FLOPs of a model')
    .description('Summarize an ONNX model: per-layer shapes, parameters, bytes and FLOPs, with totals by element type and operator.')
    .argument('<model>', 'the ONNX model: a file, an http(s) URL or hf:org/repo')
    .option('--all', 'list every layer (default: the 12 largest)')
    .option('--no-probe', 'do not run the model once to learn intermediate shapes (no FLOPs then)')
    .addOption(deviceOption());
  jsonOption(cmd)
    .addHelpText('after', EXAMPLES)
    .action(
      action(async (model: string, opts: SummaryCommandOptions) => {
        const summary = await Pipeline.load(model).summary({ probe: opts.probe, device: opts.device });
        emit(opts, summary, () => panelText(summaryView(summary, { name: model, topLayers: opts.all ? summary.rows.length : undefined })));
      }),
    );
}
