import { Pipeline, type FromRecipeOptions } from './pipeline';
import { parseRecipe, type Recipe } from './step';
import { Dataset, imageFolder, mnist, shapes } from './data';
import { display } from './report';
import { createClient } from './serve/client';

/** The SDK's front door: `mm.load(model).…` */
export const mm = {
  /** A lazy pipeline over a model file (path), an http(s) URL or a hub reference ('hf:org/repo'). */
  load: (src: string): Pipeline => Pipeline.load(src),
  /** Rebuilds the pipeline a recipe describes (object or JSON text). */
  fromRecipe: (recipe: Recipe | string, opts?: FromRecipeOptions): Pipeline => Pipeline.fromRecipe(parseRecipe(recipe), opts),
  datasets: { mnist, shapes, imageFolder, fromTensors: Dataset.fromTensors, from: Dataset.from },
  /** Shows any value in the notebook (rich bundle when it has one), or prints it in a terminal. */
  display,
  /** A client of an Open Inference Protocol server (mmkit's, Triton, KServe): 'http://host:8000', or 'host:8001' with { protocol: 'grpc' }. */
  client: createClient,
};

export { Pipeline } from './pipeline';
export type { QuantizeOptions, PruneOptions, StepCheckOptions, StepGuard, FromRecipeOptions, PipelineRunInputs, PipelineRunOptions, ModelSummary, LayerRow, SaveOptions, SaveResult, SummaryOptions } from './pipeline';
export type { StepReport, Recipe } from './step';
export { Dataset } from './data';
export type { Batch, TensorData, MnistOptions } from './data';
export type { TensorInput, OrtTensorLike } from './tensor-data';
export { MmkitError, isMmkitError } from './errors';
export type { MmkitErrorCode, MmkitErrorDetails } from './errors';
export { MMKIT_VERSION } from './version';
export { createSession, setNoticeHook } from './runtime';
export type { Device, Session, SessionOptions } from './runtime';
export { evaluateModel } from './eval';
export type { EvaluationReport, EvaluateOptions, ModelEvaluation } from './eval';
export { resolveHubModel, parseHubRef } from './hub';
export type { ResolvedHubModel, HubRef } from './hub';
export { ImageProcessor, TextTokenizer, decodeImage, readImage } from './preprocess';
export type { ImageFolderOptions } from './data';
export { readModel, writeModel, serializeModel, parseModel, ModelBuilder, GraphView, editModel } from './onnx';
export type { OnnxModel, DType } from './onnx';
export { cellSignal, withProgress, toDataFrame, display, clearOutput, Table, Chart, Panel, Progress, track, compareVariants, paretoChart, layerBars, histogram, JUPYTER_DISPLAY } from './report';
export { evaluationView, summaryView } from './pipeline';
export { modelFact, factsEntry, REPORT_MIME } from './report';
export type { MimeBundle, Displayable, VariantPoint, ProgressOptions, ModelFact, ReportFacts } from './report';
// Model specs and their ONNX form; the tfjs forms and training load tfjs, so they stay in
// sdk/models/tf-* and sdk/train, imported on demand.
export { buildOnnx } from './models/onnx-graph';
export { initWeights, weightsFromOnnx } from './models/weights';
export type { Weights } from './models/weights';
export { VIT_TINY_MNIST, CLIP_TINY_SHAPES } from './models/presets';
export type { VitSpec, ClipSpec, ModelSpec } from './models/spec';
export { WordTokenizer } from './models/tokenizer';
// Quantization error analysis (notebook 02) and the never-silently-worse check.
export { compareTensors, weightHistogram, activationHistogram, channelRanges, TensorComparison } from './analysis';
export type { TensorErrorRow, CompareTensorsOptions, ModelInput } from './analysis';
export { checkCompression, compressionCheckView } from './check';
export type { CompressionCheck, CheckFlag, CheckOptions } from './check';
// The type of toDataFrame() results, so notebook cells can hold one in a variable (tslab must be able to name its type).
export type { DataFrame } from 'danfojs-node';
// Serving: the Open Inference Protocol server (pipeline.serve(), `mmkit serve`; its modules load on first use) and its client.
export type { ServeOptions, ServerHandle } from './serve/server';
export type { PipelineServeOptions } from './pipeline/serve';
export type { ModelServingConfig, DynamicBatchingConfig } from './serve/model-config';
export type { InferenceClient, ClientOptions, InferOptions, InferResult } from './serve/client';
