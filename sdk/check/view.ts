/** How a compression check shows: its flags first and prominent, a ✓ line when there are none, then the numbers. */
import { Panel, Warning, type PanelPart } from '../report/panel';
import { Table, type Row } from '../report/table';
import type { CompressionCheck } from './check';
import type { CheckFlag, CheckFlagKind } from './flags';
import { MIN_RUNS } from './latency';

/** A flag as one sentence pair: what was found, then its likely cause. */
export function flagText(flag: CheckFlag): string {
  return `${flag.kind}: ${flag.message} Likely cause: ${flag.cause}.`;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function runVerdict(run: CompressionCheck['runs']['node']): string {
  if (run.skipped) return 'not checked';
  if (run.loadOnly) return 'loads (not run: the reference fails on the inputs)';
  return run.ok ? 'loads and runs' : `fails to ${run.failure?.stage === 'load' ? 'load' : 'run'}`;
}

/** One row per check: what was measured, the limit, ✓ / ⚠. */
export function checkMeasures(check: CompressionCheck): Row[] {
  const t = check.thresholds;
  const flagged = new Set(check.flags.map((f) => f.kind));
  const mark = (bad: boolean) => (bad ? '⚠' : '✓');
  const verdict = (kind: CheckFlagKind) => mark(flagged.has(kind));
  const rows: Row[] = [
    ...(flagged.has('reference-fails') ? [{ check: 'reference on the check inputs', value: 'fails', limit: '', verdict: '⚠' }] : []),
    { check: 'onnxruntime-node', value: runVerdict(check.runs.node), limit: '', verdict: mark(!check.runs.node.ok) },
    { check: 'onnxruntime-web (wasm)', value: runVerdict(check.runs.web), limit: '', verdict: check.runs.web.skipped ? '–' : mark(!check.runs.web.ok) },
  ];
  const f = check.fidelity;
  if (f) {
    rows.push({ check: 'compared', value: `${f.items} items in ${f.batches} batch(es)`, limit: '', verdict: '' });
    const agreementRow = (label: string, a: number) => ({ check: label, value: pct(a), limit: check.synthetic ? 'not judged on synthetic data' : `≥ ${pct(t.agreement)}`, verdict: check.synthetic ? '–' : mark(a < t.agreement) });
    if (f.agreement !== null) rows.push(agreementRow('top-1 agreement', f.agreement));
    if (f.decisions !== null) rows.push(agreementRow('decisions at 0.5', f.decisions));
    rows.push({ check: 'output cosine', value: f.cosine.toFixed(5), limit: `≥ ${t.cosine}`, verdict: mark(f.cosine < t.cosine) });
    if (f.scoreDrift !== null) rows.push({ check: 'score drift (max |Δ| ÷ scale)', value: f.scoreDrift.toPrecision(3), limit: `≤ ${t.scoreDrift}`, verdict: mark(f.scoreDrift > t.scoreDrift) });
    rows.push({ check: 'max |Δ| of outputs', value: f.maxAbsDiff.toPrecision(3), limit: '', verdict: '' });
  }
  const l = check.latency;
  const judged = l !== null && l.runs >= MIN_RUNS;
  if (l) rows.push({ check: `latency, batch ${l.batch} (best of ${l.runs})`, value: `${l.candidateBestMs.toPrecision(3)} ms vs ${l.referenceBestMs.toPrecision(3)} ms (${l.ratio.toFixed(2)}×)`, limit: judged ? `≤ ${t.slower}×` : `not judged under ${MIN_RUNS} runs`, verdict: judged ? verdict('slower') : '–' });
  const s = check.size;
  rows.push({ check: 'file size', value: `${s.candidateBytes} vs ${s.referenceBytes} bytes (${s.ratio.toFixed(3)}×)`, limit: `≤ ${t.notSmaller}×`, verdict: mark(flagged.has('larger') || flagged.has('not-smaller')) });
  return rows;
}

/** The one-line summary of a check without flags. */
export function okLine(check: CompressionCheck): string {
  const f = check.fidelity;
  // Agreement on synthetic inputs is not judged (near-tied scores), so it is not quoted as a pass either.
  const agreement = f && f.agreement !== null && !check.synthetic ? `top-1 agreement ${pct(f.agreement)}, ` : '';
  const drift = f && f.scoreDrift !== null ? `, score drift ${f.scoreDrift.toPrecision(2)}` : '';
  const follows = f ? `follows the reference (${agreement}cosine ${f.cosine.toFixed(4)}${drift})` : '';
  const speed = check.latency ? `${check.latency.ratio.toFixed(2)}× the reference's latency` : '';
  const where = check.runs.web.skipped ? 'onnxruntime-node' : 'onnxruntime-node and onnxruntime-web';
  return `✓ Runs in ${where}, ${[follows, speed, `${check.size.ratio.toFixed(2)}× its size`].filter(Boolean).join(', ')}.`;
}

export function compressionCheckView(check: CompressionCheck, options: { name?: string } = {}): Panel {
  const parts: PanelPart[] = [];
  if (check.ok) parts.push(okLine(check));
  for (const flag of check.flags) parts.push(new Warning(flagText(flag)));
  parts.push(...check.notes);
  parts.push(new Table(checkMeasures(check), { title: `Against the reference, on ${check.data}` }));
  const worst = check.fidelity?.worstLayers ?? [];
  if (worst.length > 0) {
    parts.push(new Table(worst.map((w) => ({ layer: w.node, op: w.op, 'median channel error': w.channelError, 'added over earlier layers': w.added, 'whole-tensor error': w.relativeError })), { title: 'Layers where the error starts (worst first)' }));
  }
  const bytes = check.size.byDtype.filter((d) => d.referenceBytes > 0 || d.candidateBytes > 0);
  parts.push(new Table(bytes.map((d) => ({ dtype: d.dtype, 'reference bytes': d.referenceBytes, 'candidate bytes': d.candidateBytes })), { title: 'Weight bytes by element type' }));
  return new Panel(`Compression check${options.name ? ` of ${options.name}` : ''}`, parts);
}
