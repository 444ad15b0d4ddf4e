/** How a step's Dataset and Pipeline options are recorded in a recipe, which holds only JSON. */
import type { Dataset, DatasetSpec } from '../data';
import type { Recipe } from './recipe';

/**
 * How a Dataset option is recorded in a recipe: its name and size, and the spec that rebuilds it
 * when it came from built-in sources (else a replay asks for it by name).
 */
export type DatasetRef = {
  dataset: { name: string | null; size: number | null; spec: DatasetSpec | null };
};

/** How a Pipeline option (a teacher) is recorded: its own recipe. */
export type PipelineRef = {
  pipeline: Recipe;
};

/** The ref a recipe records for a Dataset option. */
export function datasetRef(ds: Dataset): DatasetRef {
  return { dataset: { name: ds.name ?? null, size: ds.size ?? null, spec: ds.info.spec ?? null } };
}

export function isDatasetRef(v: unknown): v is DatasetRef {
  return typeof v === 'object' && v !== null && 'dataset' in v && typeof (v as DatasetRef).dataset === 'object';
}

export function isPipelineRef(v: unknown): v is PipelineRef {
  return typeof v === 'object' && v !== null && 'pipeline' in v && typeof (v as PipelineRef).pipeline === 'object';
}
