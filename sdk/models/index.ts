export type { EncoderSpec, VisionTowerSpec, TextTowerSpec, VitSpec, ClipSpec, ModelSpec } from './spec';
export { checkSpec, patchGrid, visionTokens, headDim } from './spec';
export type { WeightTensor, Weights, ParamDecl } from './weights';
export { paramDecls, initWeights, checkWeights, weightsFromOnnx } from './weights';
export { buildOnnx, MASKED_SCORE } from './onnx-graph';
export type { TfParams, ClipOutputs } from './tf-forward';
export { visionTower, textTower, vitLogits, clipForward } from './tf-forward';
export { toVariables, fromTensors } from './tf-weights';
