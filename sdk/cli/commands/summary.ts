/** `mmkit summary`: a model's layers, weights, operators, inputs and outputs. */
import type { Command } from 'commander';
import { Pipeline } from '../../pipeline';
import { summaryView } from '../../pipeline/views';
import type { Device } from '../../runtime';
import { action, emit, jsonOption } from '../command';
import { deviceOption } from '../options';
import { panelText } from '../report-text';
import { shapeOptions, type ShapeCommandOptions } from '../shape-options';

interface SummaryCommandOptions extends ShapeCommandOptions {
  all?: boolean;
  probe: boolean;
  device: Device;
  json?: boolean;
}

const EXAMPLES = `
Examples:
  mmkit summary model.onnx                  totals, inputs/outputs, weights by dtype, operators, largest layers
  mmkit summary model.onnx --all            every layer
  mmkit summary det.onnx --input x=1,3,640,640   shapes and FLOPs at 640 × 640
  mmkit summary model.onnx --json | jq '.rows[] | select(.op == "MatMul")'`;

export function register(program: Command): void {
  const cmd = program
    .command('summary')
    .summary('per-layer shapes, parameters, bytes and FLOPs of a model')
    .description('Summarize an ONNX model: per-layer shapes, parameters, bytes and FLOPs, with totals by element type and operator.')
    .argument('<model>', 'the ONNX model: a file, an http(s) URL or hf:org/repo')
    .option('--all', 'list every layer (default: the 12 largest)')
    .option('--no-probe', 'do not learn intermediate shapes (no FLOPs then)')
    .addOption(deviceOption());
  shapeOptions(cmd, 'the shape probe (free sizes default to batch 1, images 224 × 224, audio 512 samples, else 1)');
  jsonOption(cmd)
    .addHelpText('after', EXAMPLES)
    .action(
      action(async (model: string, opts: SummaryCommandOptions) => {
        const summary = await Pipeline.load(model).summary({ probe: opts.probe, device: opts.device, inputs: opts.input, dims: opts.dim });
        emit(opts, summary, () => panelText(summaryView(summary, { name: model, topLayers: opts.all ? summary.rows.length : undefined })));
      }),
    );
}
