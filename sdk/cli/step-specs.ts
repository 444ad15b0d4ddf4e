/**
 * The short option syntax of `mmkit compress` for its steps, parsed into the SDK's step options.
 * Parsers throw commander's InvalidArgumentError, which commander turns into a usage error
 * (one line, exit 2) naming the option, before anything runs.
 */
import { InvalidArgumentError } from 'commander';
import type { LowRankOptions } from '../passes/low-rank';
import type { PruneOptions } from '../pipeline';

export const PRUNE_SPEC_HELP = [
  '--prune forms:',
  '  0.5        unstructured: zero the 50% smallest weights of each layer',
  '  2:4        N:M: keep 2 of every 4 consecutive weights (what sparse tensor cores run)',
  '  mlp:0.5    structured: remove 50% of the MLP hidden units (the matrices shrink)',
  '  heads:0.25 structured: remove 25% of the attention heads',
].join('\n');

export const LOW_RANK_SPEC_HELP = [
  '--low-rank forms:',
  '  0.25       keep a quarter of each weight\'s rank, min(in, out)',
  '  16         keep rank 16 in every layer',
  '  energy:0.9 per layer, the smallest rank keeping 90% of the squared singular values',
].join('\n');

/** A fraction in [0, 1), or undefined when `text` is not one. */
function fraction(text: string): number | undefined {
  const x = /^\d*\.?\d+$/.test(text) ? Number(text) : NaN;
  return x >= 0 && x < 1 ? x : undefined;
}

export function parsePruneSpec(text: string): PruneOptions {
  const nm = /^(\d+):(\d+)$/.exec(text);
  if (nm) {
    const [n, m] = [Number(nm[1]), Number(nm[2])];
    if (n >= 1 && n < m) return { pattern: 'N:M', n, m };
    throw new InvalidArgumentError(`N:M needs 1 ≤ N < M (e.g. 2:4), got ${text}.`);
  }
  const structured = /^(mlp|heads):(.*)$/.exec(text);
  if (structured) {
    const sparsity = fraction(structured[2]);
    if (sparsity !== undefined) return { target: structured[1] as 'mlp' | 'heads', sparsity };
    throw new InvalidArgumentError(`the share of ${structured[1] === 'mlp' ? 'MLP units' : 'heads'} to remove must be in [0, 1), e.g. ${structured[1]}:0.5; got ${structured[2] || 'nothing'}.`);
  }
  const sparsity = fraction(text);
  if (sparsity !== undefined) return { sparsity };
  throw new InvalidArgumentError(`expected a sparsity in [0, 1) like 0.5, N:M like 2:4, mlp:0.5 or heads:0.25.`);
}

export function parseLowRankSpec(text: string): LowRankOptions {
  const energy = /^energy:(.*)$/.exec(text);
  if (energy) {
    const e = /^\d*\.?\d+$/.test(energy[1]) ? Number(energy[1]) : NaN;
    if (e > 0 && e <= 1) return { energy: e };
    throw new InvalidArgumentError(`the energy to keep must be in (0, 1], e.g. energy:0.9; got ${energy[1] || 'nothing'}.`);
  }
  if (/^[1-9]\d*$/.test(text)) return { rank: Number(text) };
  const ratio = fraction(text);
  if (ratio !== undefined && ratio > 0) return { rank: ratio };
  throw new InvalidArgumentError(`expected a rank ratio in (0, 1) like 0.25, a whole rank like 16, or energy:0.9.`);
}
