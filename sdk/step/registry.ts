/** The step kinds by op name: passes register theirs at load; the pipeline and fromRecipe look them up. */
import { MmkitError } from '../errors';
import type { StepKind } from './contract';

const registry = new Map<string, StepKind<never>>();

/** Registers a step kind once, at its module's load. */
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
