import type { OnnxModel } from '../onnx';
import type { RunContext } from '../step';

/** A model, or a pipeline whose model is computed on demand (the analysis functions take either). */
export type ModelInput = OnnxModel | { model(ctx?: RunContext): Promise<OnnxModel> };

export async function modelOf(m: ModelInput, ctx: RunContext): Promise<OnnxModel> {
  return 'proto' in m ? m : m.model(ctx);
}
