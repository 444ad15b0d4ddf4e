export type { RunContext, StepContext, StepRefs, StepReport, StepCoverage, StepResult, StepKind, StepOptions, StepSettings, TeacherPipeline } from './contract';
export { datasetRef, isDatasetRef, isPipelineRef } from './refs';
export type { DatasetRef, PipelineRef } from './refs';
export { registerStep, stepKind } from './registry';
export { stepCoverage } from './coverage';
export { parseRecipe, canonicalJson, RECIPE_METADATA_KEY } from './recipe';
export type { Json, Recipe, SourceRef, StepRecord } from './recipe';
