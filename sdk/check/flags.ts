/** The check's findings as flags: what was found, with the numbers, and the likely cause. */
import type { CheckData } from './check-data';
import type { Fidelity } from './fidelity';
import { clampCause, type ClampedTensor } from './fp16-clamp';
import type { LatencyCheck } from './latency';
import type { CheckThresholds } from './options';
import type { RuntimeFailure } from './runtime-failure';

/** 'reference-fails': the original model fails on the check's inputs, so the candidate could not be compared. */
export type CheckFlagKind = 'reference-fails' | 'fails-node' | 'fails-web' | 'fidelity' | 'slower' | 'larger' | 'not-smaller';
/** The order flags are listed in, whatever order the checks ran in. */
export const FLAG_ORDER: readonly CheckFlagKind[] = ['reference-fails', 'fails-node', 'fails-web', 'fidelity', 'slower', 'larger', 'not-smaller'];

export interface CheckFlag {
  kind: CheckFlagKind;
  /** What was found, with the numbers. */
  message: string;
  /** The likely cause, and what to do about it. */
  cause: string;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function runtimeFlag(kind: 'fails-node' | 'fails-web', runtime: string, f: RuntimeFailure): CheckFlag {
  const what = f.stage === 'load' ? 'does not load in' : 'loads but fails to run in';
  return { kind, message: `The model ${what} ${runtime}${f.ops.length ? ` (${f.ops.join(', ')})` : ''}.`, cause: f.cause };
}

export function referenceFlag(error: string, data: CheckData): CheckFlag {
  return data.synthetic
    ? {
        kind: 'reference-fails',
        message: `The original model fails on the synthetic inputs too (${error}), so the candidate was only loaded, not compared.`,
        cause: `the inputs made up from the model's declared shapes (${data.shapes}) are not what it takes — give data, dims or inputs (check: { inputs: { name: [sizes] } } or { dims: { name: size } })`,
      }
    : {
        kind: 'reference-fails',
        message: `The original model fails on the check data too (${error}), so the candidate was only loaded, not compared.`,
        cause: 'the data does not fit the model — give data with the shapes and types of its inputs',
      };
}

/**
 * Top-1 agreement, and the agreement of decisions at 0.5 of a score, are judged on real data only:
 * on made-up inputs the two top scores are often near-tied, so sound quantization flips some of
 * them (measured: 98.4% agreement at cosine 0.99998 for int8 of a 128-way projection on synthetic
 * inputs), and a made-up score near 0.5 flips as easily. The cosine and the score drift are
 * judged always.
 */
function agreementTooLow(f: Fidelity, t: CheckThresholds, synthetic: boolean): boolean {
  return !synthetic && [f.agreement, f.decisions].some((a) => a !== null && a < t.agreement);
}

export function fidelityFallsShort(f: Fidelity, t: CheckThresholds, synthetic: boolean): boolean {
  return agreementTooLow(f, t, synthetic) || f.cosine < t.cosine || (f.scoreDrift !== null && f.scoreDrift > t.scoreDrift);
}

export function fidelityFlag(f: Fidelity, t: CheckThresholds, synthetic: boolean, clamped: readonly ClampedTensor[]): CheckFlag {
  const judged = !synthetic;
  const below = (a: number) => (judged && a < t.agreement ? ` (below ${pct(t.agreement)})` : '');
  const parts = [
    f.agreement === null ? undefined : `top-1 agreement ${pct(f.agreement)}${below(f.agreement)}`,
    f.decisions === null ? undefined : `decisions at 0.5 agree on ${pct(f.decisions)}${below(f.decisions)}`,
    `output cosine ${f.cosine.toFixed(4)}${f.cosine < t.cosine ? ` (below ${t.cosine})` : ''}`,
    f.scoreDrift === null ? undefined : `score drift ${f.scoreDrift.toPrecision(3)} of the output's scale${f.scoreDrift > t.scoreDrift ? ` (above ${t.scoreDrift})` : ''}`,
    `max |Δ| ${f.maxAbsDiff.toPrecision(3)}`,
  ].filter(Boolean);
  const [worst, ...rest] = f.worstLayers;
  const layer = worst
    ? `the error starts at layer '${worst.node}' (${worst.op}, output '${worst.tensor}'): median channel error ${worst.channelError.toPrecision(2)} (whole tensor ${worst.relativeError.toPrecision(2)})${rest.length ? `; next ${rest.map((l) => `'${l.node}' (+${l.added.toPrecision(2)})`).join(', ')}` : ''} — exclude it (exclude.nodes), or give it finer scales (per-channel, smaller blocks)`
    : undefined;
  const cause = clamped.length
    ? `${clampCause(clamped)}${layer ? `; besides, ${layer}` : ''}`
    : (layer ?? 'no layer could be matched by name between the two graphs; compare them tensor by tensor with compareTensors (sdk/analysis) to find where the error starts');
  return { kind: 'fidelity', message: `The outputs drift from the reference on ${f.items} items: ${parts.join(', ')}.`, cause };
}

export function slowerFlag(latency: LatencyCheck, causes: string[]): CheckFlag {
  return {
    kind: 'slower',
    message: `The model is slower than the reference: ${latency.ratio.toFixed(2)}× its time at batch ${latency.batch} (best run ${latency.candidateBestMs.toPrecision(3)} ms vs ${latency.referenceBestMs.toPrecision(3)} ms, p50 ${latency.candidateMs.toPrecision(3)} vs ${latency.referenceMs.toPrecision(3)} ms, ${latency.runs} runs each on ${latency.threads || "onnxruntime's default"} thread(s)).`,
    cause: causes.length ? causes.join('; ') : `the graph shows no usual cause; on a busy machine this can be noise — check again with a larger latencyBudgetMs`,
  };
}
