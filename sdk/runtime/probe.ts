/**
 * Every intermediate tensor's shape, for a summary's FLOP counts and rows. The model's inputs get
 * fixed shapes (given, or chosen by inputShapes) and onnxruntime's own shape inference, which runs
 * when the session loads, gives each tensor's shape; only where that leaves sizes unknown (shapes
 * computed at run time, as in ViT exports' Reshape chains) does the model run once, with every
 * tensor fetched, and then only when the tensors it would hold fit a memory budget.
 */
import { isMmkitError, messageOf, MmkitError } from '../errors';
import { bytesPerElement, GraphView, makeValueInfo, shallowCopy, type OnnxModel } from '../onnx';
import { elementCount, type TensorData } from '../tensor-data';
import type { Device } from './device';
import { declaredInputs, syntheticInputs, type InputShapeOptions } from './input-shapes';
import { createSession, type Session } from './session';
import { syntheticFeeds } from './synthetic';

/** Bytes of intermediate tensors a probe run may hold by default: it fetches all of them at once. */
export const DEFAULT_PROBE_BYTES = 2 ** 30;

export interface ProbeOptions extends InputShapeOptions {
  device?: Device;
  /** Most bytes of intermediate tensors a probe run may hold (default DEFAULT_PROBE_BYTES). */
  maxBytes?: number;
}

export interface ShapeProbe {
  /** Shapes of the inputs and of every node output whose shape is known. */
  shapes: Map<string, number[]>;
  /** The input shapes probed at. */
  inputs: Record<string, number[]>;
  /** Sizes picked for free dimensions (see inputShapes), in words. */
  chosen: string[];
  /**
   * 'inferred': onnxruntime's shape inference knew every tensor, nothing ran; 'run': the model ran
   * once; 'partial': a run was over the budget, so only what inference knew (see `skipped`).
   */
  source: 'inferred' | 'run' | 'partial';
  /** Why the run was skipped. */
  skipped?: string;
  /** Node outputs whose shape stayed unknown. */
  unknown: number;
}

const MB = (bytes: number) => `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 2 : 0)} MiB`;

/** A copy of the model whose graph inputs declare these fixed shapes. */
function withInputShapes(model: OnnxModel, shapes: Record<string, number[]>): OnnxModel {
  const graph = model.proto.graph!;
  const view = GraphView.of(model.proto);
  const input = graph.input.map((v) => (shapes[v.name] && view.valueInfo(v.name).dtype ? makeValueInfo(v.name, view.valueInfo(v.name).dtype!, shapes[v.name]) : v));
  return { ...model, proto: shallowCopy(model.proto, { graph: shallowCopy(graph, { input }) }) };
}

/**
 * The session at fixed input shapes; onnxruntime's inference can reject a model at fixed shapes
 * that it loads with symbolic ones (Silero VAD v5: an LSTM inside an If branch), so then that.
 */
async function tappedSession(model: OnnxModel, shapes: Record<string, number[]>, taps: string[], device: Device): Promise<{ session: Session; fixed: boolean }> {
  try {
    return { session: await createSession(withInputShapes(model, shapes), { device, taps, reuse: false }), fixed: true };
  } catch (e) {
    if (!(e instanceof MmkitError && e.code === 'BAD_MODEL')) throw e;
    return { session: await createSession(model, { device, taps, reuse: false }), fixed: false };
  }
}

export async function probeModel(model: OnnxModel, opts: ProbeOptions = {}): Promise<ShapeProbe> {
  const infos = declaredInputs(model);
  for (const input of infos) {
    if (!input.dtype || !input.dims) {
      throw new MmkitError('BAD_MODEL', `Cannot probe shapes: graph input "${input.name}" has no declared dtype or shape.`, { tensor: input.name, hint: 'Give the input a tensor type in the model, or call summary({ probe: false }).' });
    }
  }
  const { shapes: inputs, values, chosen } = syntheticInputs(model, infos, opts);
  const taps = [...new Set(GraphView.of(model.proto).nodes.flatMap((n) => n.output).filter((o) => o !== ''))];
  const { session, fixed } = await tappedSession(model, inputs, taps, opts.device ?? 'cpu');
  try {
    const shapes = new Map<string, number[]>(Object.entries(inputs));
    let unknown = 0;
    let bytes = 0;
    let largest = 0;
    for (const o of session.outputs) {
      if (o.dims && o.dtype && o.dims.every((d): d is number => typeof d === 'number' && d >= 0)) {
        shapes.set(o.name, o.dims);
        const b = elementCount(o.dims) * bytesPerElement(o.dtype);
        bytes += b;
        largest = Math.max(largest, b);
      } else unknown++;
    }
    const result = { shapes, inputs, chosen, unknown };
    if (fixed && unknown === 0) return { ...result, source: 'inferred' };
    // Tensors of unknown size are counted as large as the largest known one.
    const estimate = bytes + unknown * largest;
    const budget = opts.maxBytes ?? DEFAULT_PROBE_BYTES;
    const at = Object.entries(inputs).map(([n, d]) => `${n} [${d.join(', ')}]`).join(', ');
    if (estimate > budget) {
      return { ...result, source: 'partial', skipped: `a run at ${at} would hold about ${MB(estimate)} of intermediate tensors, over the ${MB(budget)} budget` };
    }
    const feeds = syntheticFeeds(session.inputs, { inputs, values });
    let outputs: Record<string, TensorData>;
    try {
      outputs = await session.run(feeds, { fetch: taps });
    } catch (e) {
      throw new MmkitError('RUNTIME', `The model does not run at ${at}: ${messageOf(e)}`, { cause: e, ...(isMmkitError(e) && e.node ? { node: e.node } : {}) });
    }
    for (const [name, t] of Object.entries(outputs)) shapes.set(name, t.dims);
    return { ...result, unknown: 0, source: 'run' };
  } finally {
    await session.dispose();
  }
}

/** Every intermediate tensor's shape that is known at the chosen input shapes (see probeModel). */
export async function probeShapes(model: OnnxModel, opts: ProbeOptions = {}): Promise<Map<string, number[]>> {
  return (await probeModel(model, opts)).shapes;
}
