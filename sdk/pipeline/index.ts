export { Pipeline } from './pipeline';
export { parseRecipe, canonicalJson, RECIPE_METADATA_KEY } from './recipe';
export type { Recipe, SourceRef, StepRecord, Json } from './recipe';
export { registerStep } from './steps';
export type { StepKind, StepContext } from './steps';
export type { SaveOptions, SaveResult } from './save';
export { summarize } from './summary';
export type { ModelSummary, LayerRow, SummaryOptions } from './summary';
export { probeShapes } from './probe';
