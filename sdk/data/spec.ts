import { MmkitError } from '../errors';
import type { Dataset } from './dataset';

export type SpecValue = string | number | boolean | null;

/**
 * How to rebuild a dataset from built-in parts: a named source with its arguments, then the
 * take/skip/batch/shuffle calls made on it. Recipes record it, so a replay finds the same data.
 * Datasets made with map() or from in-memory tensors have none: replays ask for them by name.
 */
export type DatasetSpec = {
  source: string;
  args: { [k: string]: SpecValue };
  ops: [op: 'take' | 'skip' | 'batch' | 'shuffle', arg: number][];
};

const sources = new Map<string, (args: { [k: string]: SpecValue }) => Dataset>();

/** Built-in dataset factories register themselves so that specs naming them can be rebuilt. */
export function registerDatasetSource(name: string, make: (args: { [k: string]: SpecValue }) => Dataset): void {
  sources.set(name, make);
}

/** Rebuilds the dataset a spec describes. */
export function datasetFromSpec(spec: DatasetSpec): Dataset {
  const make = sources.get(spec.source);
  if (!make) {
    throw new MmkitError('BAD_RECIPE', `Unknown dataset source "${spec.source}" in a recipe.`, {
      hint: `Known sources: ${[...sources.keys()].sort().join(', ')}. Pass the dataset to mm.fromRecipe(recipe, { data: { ... } }) instead.`,
    });
  }
  let ds = make(spec.args);
  for (const [op, arg] of spec.ops) ds = ds[op](arg);
  return ds;
}

/** Spec args from an options object: plain values kept, undefined dropped. */
export function specArgs(options: object): { [k: string]: SpecValue } {
  const out: { [k: string]: SpecValue } = {};
  for (const [k, v] of Object.entries(options)) {
    if (v === undefined) continue;
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) out[k] = v as SpecValue;
  }
  return out;
}
