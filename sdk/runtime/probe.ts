import { MmkitError } from '../errors';
import { GraphView, typedArrayFor, type OnnxModel } from '../onnx';
import { createSession } from './session';
import type { Device } from './device';
import { elementCount, type TensorData } from '../tensor-data';

/**
 * Every intermediate tensor's shape, learned by running the model once on zeros: batch and
 * other symbolic dims set to 1. Cheaper and more exact than symbolic shape inference for the
 * ops ViT/CLIP exports use, and it never disagrees with what onnxruntime computes.
 */
export async function probeShapes(model: OnnxModel, opts: { device?: Device } = {}): Promise<Map<string, number[]>> {
  const view = GraphView.of(model.proto);
  const feeds: Record<string, TensorData> = {};
  for (const input of view.inputs) {
    const info = view.valueInfo(input.name);
    if (!info.dtype || !info.shape) {
      throw new MmkitError('BAD_MODEL', `Cannot probe shapes: graph input "${input.name}" has no declared dtype or shape.`, { tensor: input.name, hint: 'Give the input a tensor type in the model, or call summary({ probe: false }).' });
    }
    const dims = info.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
    const Ctor = typedArrayFor(info.dtype);
    feeds[input.name] = { data: new Ctor(elementCount(dims)), dims, dtype: info.dtype };
  }
  const taps = [...new Set(view.nodes.flatMap((n) => n.output).filter((o) => o !== ''))];
  const session = await createSession(model, { device: opts.device ?? 'cpu', taps });
  try {
    const outputs = await session.run(feeds, { fetch: taps });
    const shapes = new Map<string, number[]>();
    for (const [name, t] of Object.entries(outputs)) shapes.set(name, t.dims);
    for (const [name, t] of Object.entries(feeds)) shapes.set(name, t.dims);
    return shapes;
  } finally {
    await session.dispose();
  }
}
