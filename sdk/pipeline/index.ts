export { Pipeline } from './pipeline';
export type { QuantizeOptions, PruneOptions, StepCheckOptions, StepGuard, FromRecipeOptions, PipelineRunInputs, PipelineRunOptions } from './pipeline';
export type { SaveOptions, SaveResult } from './save';
export { summarize } from './summary';
export type { ModelSummary, LayerRow, SummaryOptions } from './summary';
export { evaluationView, summaryView } from './views';
export type { EvaluationViewOptions } from './views';
