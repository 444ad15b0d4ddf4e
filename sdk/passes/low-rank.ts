/**
 * Low-rank factorization of linear layers: a weight W[in, out] becomes A[in, r]·B[r, out] from its
 * truncated SVD (randomized for big weights, sdk/linalg), so one MatMul becomes two and the layer
 * costs r·(in + out) multiply-adds per row instead of in·out. The bias stays on the second node
 * (the MatMul's Add, or the Gemm's C). A layer is only factored where that really saves work.
 */
import { MmkitError } from '../errors';
import { SvdPool, balancedFactors, energyOf, rankForEnergy, sumOfSquares, transpose, type Svd } from '../linalg';
import { GraphView, derivedModel, dtypeOf, editModel, findLinears, makeTensor, node, shallowCopy, tensorArray, weightScopes, type GraphEditor, type LinearMatch, type ModelProto, type NodeProto, type OnnxModel } from '../onnx';
import { registerStep, stepCoverage, type RunContext, type StepReport } from '../step';
import { isExcluded } from './layer-selection';
import { bodiesLine } from './scope-lines';
import { throwIfAborted } from '../runtime/batched';

export const LOW_RANK_OP = 'low-rank';

export type LowRankLinearOp = 'MatMul' | 'Gemm';

export interface LowRankOptions {
  /**
   * The kept rank: a whole number ≥ 1 (the same for every layer, at most min(in, out)), or a
   * fraction in (0, 1) of each layer's min(in, out). Give `rank` or `energy`, not both.
   */
  rank?: number;
  /** Per layer, the smallest rank keeping this fraction (0..1] of the weight's squared singular values (‖W‖²_F). */
  energy?: number;
  /**
   * Factor a layer only where r·(in + out) < in·out·(1 − minReduction) (default 0: wherever it
   * saves anything). Negative values allow factoring layers that grow (for experiments).
   */
  minReduction?: number;
  /** Layers to leave alone: by MatMul/Gemm node name, or by op type. */
  exclude?: { nodes?: string[]; ops?: LowRankLinearOp[] };
  /** Which linear ops to factor (default both). */
  ops?: LowRankLinearOp[];
  /** Randomized SVD: extra sketch columns (default 10). */
  oversample?: number;
  /**
   * Randomized SVD: power iterations (default 1). On a slowly decaying spectrum the truncation
   * error measured 1.153× optimal with 0, 1.010× with 1, 1.001× with 2 (test/linalg.test.ts),
   * while each costs two more products with the weight: 1 is the better trade for weights.
   */
  powerIterations?: number;
  /** Seed of the randomized SVD's sketch (default 0). */
  seed?: number;
}

const LINEAR_OPS: readonly LowRankLinearOp[] = ['MatMul', 'Gemm'];

/**
 * The options checked once, every default explicit, with rank or energy (whichever was given): what
 * the recipe records and the pass reads.
 */
export type LowRankSettings = ({ rank: number } | { energy: number }) & {
  minReduction: number;
  exclude: { nodes: string[]; ops: LowRankLinearOp[] };
  ops: LowRankLinearOp[];
  oversample: number;
  powerIterations: number;
  seed: number;
};

function bad(message: string, hint: string, node?: string): MmkitError {
  return new MmkitError('BAD_OPTION', `${LOW_RANK_OP}: ${message}`, { hint, node });
}

function opList(value: unknown, what: string, fallback: LowRankLinearOp[]): LowRankLinearOp[] {
  if (value === undefined) return [...fallback];
  if (!Array.isArray(value) || value.some((v) => !LINEAR_OPS.includes(v as LowRankLinearOp))) {
    throw bad(`${what} must list linear op types, got ${JSON.stringify(value)}.`, "Use 'MatMul' and/or 'Gemm'.");
  }
  return [...(value as LowRankLinearOp[])];
}

function wholeNumber(value: unknown, what: string, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw bad(`${what} must be a whole number ≥ ${min}, got ${JSON.stringify(value)}.`, `The default is ${fallback}.`);
  return v;
}

export function normalizeLowRankOptions(o: LowRankOptions): LowRankSettings {
  if (typeof o !== 'object' || o === null) throw bad('options must be an object.', 'Use e.g. { rank: 0.25 } or { energy: 0.99 }.');
  const hasRank = o.rank !== undefined && o.rank !== null;
  const hasEnergy = o.energy !== undefined && o.energy !== null;
  if (hasRank === hasEnergy) {
    throw bad(hasRank ? 'give rank or energy, not both.' : 'say how much to keep: rank or energy.', 'E.g. { rank: 64 }, { rank: 0.25 } (a quarter of each layer\'s min(in, out)) or { energy: 0.99 }.');
  }
  if (hasRank && !(typeof o.rank === 'number' && ((o.rank > 0 && o.rank < 1) || (Number.isInteger(o.rank) && o.rank >= 1)))) {
    throw bad(`rank must be a whole number ≥ 1 or a fraction in (0, 1), got ${JSON.stringify(o.rank)}.`, 'A fraction is taken of each layer\'s min(in, out).');
  }
  if (hasEnergy && !(typeof o.energy === 'number' && o.energy > 0 && o.energy <= 1)) {
    throw bad(`energy must be a fraction in (0, 1], got ${JSON.stringify(o.energy)}.`, 'It is the share of the squared singular values kept, e.g. 0.99.');
  }
  const minReduction = o.minReduction ?? 0;
  if (typeof minReduction !== 'number' || !Number.isFinite(minReduction) || minReduction >= 1) {
    throw bad(`minReduction must be a number below 1, got ${JSON.stringify(o.minReduction)}.`, 'E.g. 0.2: factor only where the layer loses at least 20% of its multiply-adds.');
  }
  const nodes = o.exclude?.nodes ?? [];
  if (!Array.isArray(nodes) || nodes.some((x) => typeof x !== 'string')) throw bad('exclude.nodes must be a list of node names.', 'E.g. ["/vision/layers/0/mlp/fc1/MatMul"].');
  return {
    ...(hasRank ? { rank: o.rank as number } : { energy: o.energy as number }),
    minReduction,
    exclude: { nodes: [...nodes], ops: opList(o.exclude?.ops, 'exclude.ops', []) },
    ops: opList(o.ops, 'ops', [...LINEAR_OPS]),
    oversample: wholeNumber(o.oversample, 'oversample', 10, 0),
    powerIterations: wholeNumber(o.powerIterations, 'powerIterations', 1, 0),
    seed: wholeNumber(o.seed, 'seed', 0, 0),
  };
}


/** What happened to one linear layer. */
export interface LowRankLayer {
  /** The MatMul/Gemm node name (or its weight's name when the node has none). */
  name: string;
  op: LowRankLinearOp;
  inDim: number;
  outDim: number;
  /** The kept rank (null when the layer was left alone). */
  rank: number | null;
  /** Share of ‖W‖²_F the factors keep (null when left alone). */
  energyKept: number | null;
  /** ‖W − A·B‖_F / ‖W‖_F (from the singular values: A·B is W's orthogonal projection). */
  relativeError: number | null;
  paramsBefore: number;
  paramsAfter: number;
  /** Why the layer was left alone. */
  skipped?: string;
}

export interface LowRankResult {
  model: OnnxModel;
  report: StepReport;
  layers: LowRankLayer[];
}

/** The largest rank that still satisfies the minReduction rule for an in×out weight (0: none does). */
function maxUsefulRank(inDim: number, outDim: number, minReduction: number): number {
  const bound = (inDim * outDim * (1 - minReduction)) / (inDim + outDim);
  return Math.max(0, Math.min(Math.min(inDim, outDim), Math.ceil(bound) - 1));
}

/** The weight's factors and what they keep, or why the layer stays. */
type Decision = { factors: { a: Float32Array; b: Float32Array }; rank: number; energyKept: number } | { skipped: string };

/** What one weight's SVD is asked for: the stored matrix, the rank to compute, and how to pick the kept rank. */
interface SvdPlan {
  rows: number;
  cols: number;
  k: number;
  /** A fixed rank, or null to choose by energy. */
  wanted: number | null;
  limit: number;
  /** ‖W‖²_F. */
  total: number;
}

function plan(w: Float32Array, m: LinearMatch, s: LowRankSettings): SvdPlan | { skipped: string } {
  const small = Math.min(m.inDim, m.outDim);
  const limit = maxUsefulRank(m.inDim, m.outDim, s.minReduction);
  const wanted = !('rank' in s) ? null : s.rank < 1 ? Math.max(1, Math.round(s.rank * small)) : Math.min(s.rank, small);
  if (limit < 1) return { skipped: 'no rank saves work' };
  if (wanted !== null && wanted > limit) return { skipped: `rank ${wanted} saves no work (at most ${limit} does)` };
  // The stored matrix: [in, out], or [out, in] for Gemm transB=1.
  const [rows, cols] = m.layout === 'in_out' ? [m.inDim, m.outDim] : [m.outDim, m.inDim];
  const total = sumOfSquares(w);
  if (!Number.isFinite(total)) {
    throw new MmkitError('BAD_MODEL', `${LOW_RANK_OP}: weight '${m.weight}' of layer '${layerName(m)}' holds NaN or infinite values, which have no SVD.`, {
      tensor: m.weight,
      node: m.matmul.name,
      hint: `Fix the model, or leave the layer out: exclude: { nodes: ['${m.matmul.name}'] }.`,
    });
  }
  return { rows, cols, k: wanted ?? limit, wanted, limit, total };
}

function decide(f: Svd, p: SvdPlan, m: LinearMatch, s: LowRankSettings): Decision {
  const rank = p.wanted ?? ('energy' in s ? rankForEnergy(f.s, p.total, s.energy) : undefined);
  if (rank === undefined) {
    const reach = p.total > 0 ? energyOf(f.s, f.rank) / p.total : 1;
    return { skipped: `energy ${'energy' in s ? s.energy : ''} needs a rank above ${p.limit} (which keeps ${(100 * reach).toFixed(2)}%)` };
  }
  if (rank === 0) return { skipped: 'the weight is zero' };
  const { left, right } = balancedFactors(f, rank);
  // in_out: W = L·R directly. out_in: Wᵀ = Rᵀ·Lᵀ, so A = Rᵀ [in, r] and B stays [out, r] under transB=1.
  const factors = m.layout === 'in_out' ? { a: left, b: right } : { a: Float32Array.from(transpose(right, rank, p.cols)), b: left };
  return { factors, rank, energyKept: p.total > 0 ? Math.min(1, energyOf(f.s, rank) / p.total) : 1 };
}

function layerName(m: LinearMatch): string {
  return m.matmul.name || m.weight;
}

/** Replaces the layer's node by MatMul(x, A) → the original node reading B (bias, Gemm attributes and output kept). */
function rewrite(e: GraphEditor, m: LinearMatch, names: { a: string; b: string }): void {
  const base = layerName(m);
  const mid = e.uniqueName(`${base}_lowrank`);
  const first = node('MatMul', [m.input, names.a], [mid], {}, { name: e.uniqueName(`${base}_lowrank_a`) });
  const second = shallowCopy(m.matmul, { input: [mid, names.b, ...m.matmul.input.slice(2)] });
  e.replaceNode(m.matmul, first, second);
}

function knownNodes(nodes: readonly NodeProto[], s: LowRankSettings): void {
  for (const name of s.exclude.nodes) {
    const n = nodes.find((x) => x.name === name);
    if (!n || !LINEAR_OPS.includes(n.opType as LowRankLinearOp)) {
      throw bad(`exclude.nodes names '${name}', which is no MatMul or Gemm node of the model.`, 'Check the spelling against the ONNX node names (e.g. "/vision/layers/0/mlp/fc1/MatMul").', name);
    }
  }
}

/** Lets timers, I/O and abort signals through between layers (a ViT-B weight takes ~1 s). */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Runs the weights' SVDs over the CPU's cores (sdk/linalg/svd-pool.ts), a bounded number at a time
 * (each worker holds a copy of its weight), reporting progress and stopping on ctx.signal between them.
 */
async function factorAll(jobs: { key: string; m: LinearMatch; w: Float32Array; plan: SvdPlan }[], s: LowRankSettings, ctx: RunContext, done: (key: string, d: Decision) => void): Promise<void> {
  const pool = SvdPool.open(jobs.length);
  let next = 0;
  let finished = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++];
      await yieldToEventLoop();
      throwIfAborted(ctx.signal, `${LOW_RANK_OP} at layer '${layerName(job.m)}'`);
      const f = await pool.run(job.w, job.plan.rows, job.plan.cols, job.plan.k, { oversample: s.oversample, powerIterations: s.powerIterations, seed: s.seed });
      done(job.key, decide(f, job.plan, job.m, s));
      ctx.onProgress?.(++finished, jobs.length, LOW_RANK_OP);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, pool.threads) }, lane));
  } finally {
    await pool.close();
  }
}

/**
 * The pure pass: a new model whose chosen linears are factored (the input is not changed), with a
 * report of every layer's rank, energy kept, parameters before and after, and relative error.
 * It yields to the event loop after each layer, so progress shows and a notebook interrupt
 * (ctx.signal) stops it between layers.
 */
export async function lowRank(model: OnnxModel, options: LowRankOptions, ctx: RunContext = {}): Promise<LowRankResult> {
  return lowRankFactorization(model, normalizeLowRankOptions(options), ctx);
}

/** The pass over checked settings. */
export async function lowRankFactorization(model: OnnxModel, s: LowRankSettings, ctx: RunContext = {}): Promise<LowRankResult> {
  // Every graph: the main graph and the If/Loop/Scan bodies.
  const scopes = weightScopes(model.proto);
  const views = scopes.scopes.map((scope) => GraphView.of(scope.model));
  knownNodes(views.flatMap((v) => v.nodes), s);
  const linears = views.flatMap((view, scope) => findLinears(view).filter((m) => s.ops.includes(m.matmul.opType as LowRankLinearOp)).map((m) => ({ m, scope })));
  const layers: LowRankLayer[] = [];
  const chosen: { m: LinearMatch; scope: number; entry: LowRankLayer; key: string }[] = [];
  // Layers that share (tie) a weight in the same layout share its factors too.
  const byWeight = new Map<string, Decision>();
  const jobs: { key: string; m: LinearMatch; w: Float32Array; plan: SvdPlan }[] = [];
  for (const { m, scope } of linears) {
    const params = m.inDim * m.outDim;
    const entry: LowRankLayer = { name: layerName(m), op: m.matmul.opType as LowRankLinearOp, inDim: m.inDim, outDim: m.outDim, rank: null, energyKept: null, relativeError: null, paramsBefore: params, paramsAfter: params };
    layers.push(entry);
    const weight = views[scope].initializer(m.weight)!;
    if (isExcluded(s.exclude, [m.matmul.name], entry.op)) entry.skipped = 'excluded';
    else if (dtypeOf(weight.dataType) !== 'float32') entry.skipped = `weight is ${dtypeOf(weight.dataType)}, not float32`;
    if (entry.skipped) continue;
    const key = `${scope}:${m.layout}:${m.weight}`;
    chosen.push({ m, scope, entry, key });
    if (byWeight.has(key) || jobs.some((j) => j.key === key)) continue;
    const w = tensorArray(weight, model) as Float32Array;
    const p = plan(w, m, s);
    if ('skipped' in p) byWeight.set(key, p);
    else jobs.push({ key, m, w, plan: p });
  }
  await factorAll(jobs, s, ctx, (key, d) => byWeight.set(key, d));
  const factored: { m: LinearMatch; scope: number; key: string }[] = [];
  for (const { m, scope, entry, key } of chosen) {
    const d = byWeight.get(key)!;
    if ('skipped' in d) entry.skipped = d.skipped;
    else {
      Object.assign(entry, { rank: d.rank, energyKept: d.energyKept, relativeError: Math.sqrt(Math.max(0, 1 - d.energyKept)), paramsAfter: d.rank * (m.inDim + m.outDim) });
      factored.push({ m, scope, key });
    }
  }
  const proto = scopes.map((scope, k) => {
    const mine = factored.filter((f) => f.scope === k);
    return mine.length ? factorGraph(scope.model, mine, byWeight) : scope.model;
  });
  const report = buildReport(s, layers);
  const inBodies = bodiesLine(scopes.scopes, views.map((_, k) => factored.filter((f) => f.scope === k).length), 'factored layers are');
  if (inBodies) report.lines.splice(1, 0, inBodies);
  return { model: derivedModel(model, proto), report, layers };
}

/** One graph with its chosen layers factored (the factors of a tied weight added once). */
function factorGraph(model: ModelProto, factored: { m: LinearMatch; key: string }[], byWeight: ReadonlyMap<string, Decision>): ModelProto {
  return editModel(model, (e) => {
    const added = new Map<string, { a: string; b: string }>();
    for (const { m, key } of factored) {
      let names = added.get(key);
      if (!names) {
        const d = byWeight.get(key) as Extract<Decision, { factors: unknown }>;
        names = { a: e.uniqueName(`${m.weight}_lowrank_a`), b: e.uniqueName(`${m.weight}_lowrank_b`) };
        e.addInitializer(makeTensor(names.a, 'float32', [m.inDim, d.rank], d.factors.a));
        e.addInitializer(makeTensor(names.b, 'float32', m.layout === 'in_out' ? [d.rank, m.outDim] : [m.outDim, d.rank], d.factors.b));
        added.set(key, names);
      }
      rewrite(e, m, names);
    }
    // The full weights go once nothing reads them (a weight shared with a layer left alone stays).
    e.prune();
  });
}

const percent = (x: number) => `${(100 * x).toFixed(1)}%`;

function buildReport(s: LowRankSettings, layers: LowRankLayer[]): StepReport {
  const done = layers.filter((l) => l.rank !== null);
  const before = layers.reduce((n, l) => n + l.paramsBefore, 0);
  const after = layers.reduce((n, l) => n + l.paramsAfter, 0);
  const lines = [
    `Factored ${done.length} of ${layers.length} linear layers (${'rank' in s ? `rank ${s.rank < 1 ? `${s.rank} × min(in, out)` : s.rank}` : `energy ${s.energy}`}, minReduction ${s.minReduction}).`,
    `Linear weights: ${before} → ${after} parameters (${percent(after / Math.max(1, before))}); multiply-adds per row of input shrink by the same ratio.`,
  ];
  if (done.length) {
    const worst = done.reduce((w, l) => (l.relativeError! > w.relativeError! ? l : w));
    lines.push(`Largest relative weight error ‖W − A·B‖/‖W‖: ${worst.relativeError!.toFixed(4)} at '${worst.name}' (rank ${worst.rank} of ${Math.min(worst.inDim, worst.outDim)}).`);
  }
  lines.push(
    `SVD: randomized (Gaussian sketch + ${s.oversample} columns, ${s.powerIterations} power iteration${s.powerIterations === 1 ? '' : 's'}, seed ${s.seed}) where the sketch is narrower than min(in, out), exact otherwise.`,
  );
  const warnings = done.filter((l) => l.paramsAfter >= l.paramsBefore).map((l) => `'${l.name}' grew from ${l.paramsBefore} to ${l.paramsAfter} parameters (minReduction ${s.minReduction} allows it): it is slower than before.`);
  if (layers.length && !done.length) warnings.push('No layer was factored: see the table for why. A smaller rank or energy, or a lower minReduction, factors more.');
  return {
    op: LOW_RANK_OP,
    title: 'Low-rank factorization',
    lines,
    warnings,
    table: {
      columns: ['layer', 'in', 'out', 'rank', 'energy kept', 'relative error', 'params before', 'params after', 'note'],
      rows: layers.map((l) => [l.name, l.inDim, l.outDim, l.rank, l.energyKept, l.relativeError, l.paramsBefore, l.paramsAfter, l.skipped ?? (l.paramsAfter < l.paramsBefore ? 'factored' : 'factored (grew)')]),
    },
    data: { factored: done.length, layers: layers.length, paramsBefore: before, paramsAfter: after },
    coverage: stepCoverage('linear layers', done.length, layers.flatMap((l) => (l.skipped ? [skipKind(l.skipped)] : []))),
  };
}

/** A layer's skip note without its numbers, so the coverage counts layers by kind of reason. */
function skipKind(note: string): string {
  if (note === 'excluded' || note === 'the weight is zero' || note.startsWith('weight is ')) return note;
  return 'no saving at this rank or energy';
}

export const lowRankStep = registerStep({
  op: LOW_RANK_OP,
  normalize: normalizeLowRankOptions,
  checked: true,
  async apply(model, settings, ctx) {
    const { model: out, report } = await lowRankFactorization(model, settings, ctx);
    return { model: out, report };
  },
});
