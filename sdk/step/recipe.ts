import { MmkitError } from '../errors';

/** Plain JSON: what a recipe and step options may hold. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Where the model of a pipeline comes from, and the hash that pins it. */
export type SourceRef = {
  /** What the user passed to mm.load: a path, an http(s) URL or an hf: reference. */
  uri: string;
  /** sha256 of the source model file, filled in once the source has been read. */
  sha256?: string;
};

export type StepRecord = {
  op: string;
  /** The step's options with every default made explicit, so a replay never depends on defaults. */
  options: { [k: string]: Json };
};

/** Everything needed to rebuild a pipeline's model, byte for byte. */
export type Recipe = {
  mmkit: string;
  source: SourceRef;
  steps: StepRecord[];
};

export const RECIPE_METADATA_KEY = 'mmkit.recipe';

/** Checks that a value read from JSON has a recipe's shape; names the first thing wrong. */
export function parseRecipe(value: unknown, where = 'recipe'): Recipe {
  const fail = (what: string): never => {
    throw new MmkitError('BAD_RECIPE', `${where}: ${what}.`, { hint: 'Pass the object from pipeline.recipe (or its JSON) unchanged.' });
  };
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch (e) {
      fail(`not valid JSON (${(e as Error).message})`);
    }
  }
  if (typeof value !== 'object' || value === null) fail('expected an object');
  const r = value as Partial<Recipe>;
  if (typeof r.mmkit !== 'string') fail('missing "mmkit" version');
  if (typeof r.source !== 'object' || r.source === null || typeof r.source.uri !== 'string') fail('missing "source.uri"');
  if (!Array.isArray(r.steps)) fail('missing "steps" array');
  r.steps!.forEach((s, i) => {
    if (typeof s !== 'object' || s === null || typeof s.op !== 'string') fail(`step ${i} has no "op"`);
    if (typeof s.options !== 'object' || s.options === null || Array.isArray(s.options)) fail(`step ${i} (${s.op}) has no "options" object`);
  });
  return r as Recipe;
}

/** JSON with sorted keys: recipes compare and hash the same however their objects were built. */
export function canonicalJson(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}
