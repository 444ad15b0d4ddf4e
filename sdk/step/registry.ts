/** The step kinds by op name: passes register theirs at load; the pipeline and fromRecipe look them up. */
import { MmkitError } from '../errors';
import type { StepKind, StepSettings } from './contract';

/** Kinds by op, their option types erased: the pipeline hands each its own settings back. */
type AnyStepKind = StepKind<unknown, StepSettings>;

const registry = new Map<string, AnyStepKind>();

/** Registers a step kind once, at its module's load. */
export function registerStep<O, S extends StepSettings = StepSettings>(kind: StepKind<O, S>): StepKind<O, S> {
  if (registry.has(kind.op)) throw new Error(`mmkit internal error: step "${kind.op}" registered twice`);
  registry.set(kind.op, kind as AnyStepKind);
  return kind;
}

export function stepKind(op: string): AnyStepKind {
  const kind = registry.get(op);
  if (!kind) {
    throw new MmkitError('BAD_RECIPE', `Unknown pipeline step "${op}".`, {
      hint: `Known steps: ${[...registry.keys()].sort().join(', ') || '(none)'}. A recipe from a newer mmkit may need an upgrade.`,
    });
  }
  return kind;
}
