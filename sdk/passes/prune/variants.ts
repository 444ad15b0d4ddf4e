/**
 * The prune variants, in one table: magnitude pruning (unstructured or N:M, no target) and
 * structured pruning of whole units (target 'mlp' or 'heads'). `prune({ target })` takes its
 * step and its error from here.
 */
import { MmkitError } from '../../errors';
import { pruneMagnitudeStep } from './magnitude';
import { pruneStructuredStep } from './structured';

export const PRUNE_TARGETS = {
  mlp: pruneStructuredStep,
  heads: pruneStructuredStep,
} as const;

export type PruneStep = typeof pruneMagnitudeStep | (typeof PRUNE_TARGETS)[keyof typeof PRUNE_TARGETS];

/** The step of a target (none: magnitude pruning); an unknown target is a BAD_OPTION that lists them. */
export function pruneTargetStep(target: unknown): PruneStep {
  if (target === undefined) return pruneMagnitudeStep;
  if (typeof target === 'string' && Object.hasOwn(PRUNE_TARGETS, target)) return PRUNE_TARGETS[target as keyof typeof PRUNE_TARGETS];
  const targets = Object.keys(PRUNE_TARGETS);
  throw new MmkitError('BAD_OPTION', `prune: target must be one of ${targets.join(', ')}, got ${JSON.stringify(target)}.`, {
    hint: `Leave target out to zero the smallest weights (pattern 'unstructured' or 'N:M'); use target ${targets.map((t) => `'${t}'`).join(' or ')} to remove whole units.`,
  });
}
