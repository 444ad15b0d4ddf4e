import { MmkitError } from '../errors';
import type { OnnxModel } from '../onnx';
import type { Json } from './recipe';

/** What a step gets besides its input model. */
export interface StepContext {
  signal?: AbortSignal;
  onProgress?: (done: number, total?: number, label?: string) => void;
}

/**
 * One kind of pipeline step. `normalize` turns user options into the full JSON options that the
 * recipe records (defaults made explicit, values checked); `apply` is a pure model → model pass.
 */
export interface StepKind<Options> {
  op: string;
  normalize(options: Options): { [k: string]: Json };
  apply(model: OnnxModel, options: { [k: string]: Json }, ctx: StepContext): Promise<OnnxModel>;
}

const registry = new Map<string, StepKind<never>>();

/** Passes register their step kind once, at module load; the pipeline and fromRecipe look them up. */
export function registerStep<O>(kind: StepKind<O>): StepKind<O> {
  if (registry.has(kind.op)) throw new Error(`mmkit internal error: step "${kind.op}" registered twice`);
  registry.set(kind.op, kind as StepKind<never>);
  return kind;
}

export function stepKind(op: string): StepKind<never> {
  const kind = registry.get(op);
  if (!kind) {
    throw new MmkitError('BAD_RECIPE', `Unknown pipeline step "${op}".`, {
      hint: `Known steps: ${[...registry.keys()].sort().join(', ') || '(none)'}. A recipe from a newer mmkit may need an upgrade.`,
    });
  }
  return kind;
}
