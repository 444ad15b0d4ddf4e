import { batchSize, type Batch } from '../data/batch';
import { Dataset } from '../data/dataset';
import type { TensorData } from '../tensor-data';
import { MmkitError } from '../errors';
import type { OnnxModel } from '../onnx';
import { feedsFor, throwIfAborted } from '../runtime/batched';
import type { ConcreteDevice, Device } from '../runtime/device';
import { createSession, type Session } from '../runtime/session';
import { compareEvaluations, type Comparison } from './compare';
import { latencyStats, type BatchTiming, type LatencyStats } from './latency';
import { layerErrors, type LayerErrorReport } from './layers';
import { cosineSimilarities, klDivergences, sum, top1Matches, topKHits, type Accuracy, type Agreement } from './metrics';
import { logitsOf } from './logits';
import { modelSize, type ModelSize } from './size';

export interface EvaluateOptions {
  /** A reference model run on the same batches: its own numbers plus how closely `model` follows it. */
  baseline?: OnnxModel;
  /** Regroup the dataset into batches of this many items; default: the dataset's own batches. */
  batchSize?: number;
  device?: Device;
  /** Threads inside one operator, for latency comparable across machines and runs; default onnxruntime's choice. */
  intraOpThreads?: number;
  /** The output holding the logits; default the model's first output. */
  outputName?: string;
  /** Batches whose timings are left out as warm-up (default DEFAULT_WARMUP_BATCHES, see latency.ts). */
  warmup?: number;
  onProgress?: (doneItems: number, totalItems?: number) => void;
  signal?: AbortSignal;
  /**
   * With a baseline: also compare the two layer by layer (see layers.ts) on the first `items`
   * items (default DEFAULT_LAYER_ITEMS). Runs separately from the timed runs, because taps keep
   * onnxruntime from fusing across the tapped tensors and would distort the latency.
   */
  layers?: boolean | { tensors?: string[]; items?: number };
}

/** Items the layer-by-layer comparison uses by default: enough for stable errors, cheap next to the full run. */
export const DEFAULT_LAYER_ITEMS = 64;

export interface ModelEvaluation {
  /** Present when every batch has labels. */
  accuracy?: Accuracy;
  latency: LatencyStats;
  size: ModelSize;
}

/** Plain, JSON-able results of one evaluation. */
export interface EvaluationReport {
  model: ModelEvaluation;
  baseline?: ModelEvaluation;
  agreement?: Agreement;
  /** Speed, size and accuracy against the baseline, with warnings in plain words. */
  comparison?: Comparison;
  /** Present when `layers` was asked for. */
  layers?: LayerErrorReport;
  items: number;
  batches: number;
  /** The device both models actually ran on (after any fallback). */
  device: ConcreteDevice;
  outputName: string;
  classes: number;
}

/** Running totals for one model. */
class Tally {
  readonly timings: BatchTiming[] = [];
  top1 = 0;
  top5 = 0;

  constructor(
    readonly session: Session,
    readonly model: OnnxModel,
  ) {}

  async run(feeds: Record<string, TensorData>, outputName: string): Promise<TensorData> {
    const start = performance.now();
    const out = await this.session.run(feeds, { fetch: [outputName] });
    this.timings.push({ ms: performance.now() - start, items: out[outputName].dims[0] });
    return out[outputName];
  }

  score(logits: Float32Array, classes: number, labels: Int32Array): void {
    this.top1 += topKHits(logits, classes, labels, 1);
    this.top5 += topKHits(logits, classes, labels, 5);
  }

  report(items: number, labelled: boolean, warmup: number | undefined): ModelEvaluation {
    return {
      ...(labelled ? { accuracy: { top1: this.top1 / items, top5: this.top5 / items } } : {}),
      latency: latencyStats(this.timings, warmup),
      size: modelSize(this.model),
    };
  }
}

/**
 * Runs a model (and optionally a baseline) over a dataset: accuracy when there are labels,
 * agreement with the baseline, latency and size. The engine behind `pipeline.evaluate()`.
 */
export async function evaluateModel(model: OnnxModel, dataset: AsyncIterable<Batch>, opts: EvaluateOptions = {}): Promise<EvaluationReport> {
  if (opts.batchSize !== undefined && !(Number.isInteger(opts.batchSize) && opts.batchSize >= 1)) {
    throw new MmkitError('BAD_OPTION', `evaluate: batchSize must be a whole number ≥ 1, got ${opts.batchSize}.`);
  }
  const source = opts.batchSize ? asDataset(dataset).batch(opts.batchSize) : dataset;
  const total = (dataset as { size?: number }).size;
  const layerItems = typeof opts.layers === 'object' ? (opts.layers.items ?? DEFAULT_LAYER_ITEMS) : DEFAULT_LAYER_ITEMS;
  if (opts.layers && !opts.baseline) {
    throw new MmkitError('BAD_OPTION', 'evaluate: layers needs a baseline to compare with.', { hint: 'Pass { baseline, layers: true }.' });
  }
  if (!(Number.isInteger(layerItems) && layerItems >= 1)) throw new MmkitError('BAD_OPTION', `evaluate: layers.items must be a whole number ≥ 1, got ${layerItems}.`);
  throwIfAborted(opts.signal, 'Evaluation');

  const sessionOptions = { device: opts.device, intraOpThreads: opts.intraOpThreads };
  const tallies: Tally[] = [];
  try {
    tallies.push(new Tally(await createSession(model, sessionOptions), model));
    if (opts.baseline) tallies.push(new Tally(await createSession(opts.baseline, sessionOptions), opts.baseline));
    const [cand, base] = tallies;
    const outputName = opts.outputName ?? cand.session.outputNames[0];
    for (const t of tallies) checkOutput(t.session, outputName);

    let items = 0;
    let batches = 0;
    let labelled = true;
    let classes = 0;
    let agreeTop1 = 0;
    let klSum = 0;
    let cosineSum = 0;
    for await (const batch of source) {
      throwIfAborted(opts.signal, 'Evaluation');
      const n = batchSize(batch);
      const feeds = feedsFor(cand.session, batch);
      const logits = logitsOf(await cand.run(feeds, outputName), outputName, n);
      classes = logits.classes;
      if (batch.label) cand.score(logits.data, classes, batch.label);
      else labelled = false;
      if (base) {
        const ref = logitsOf(await base.run(feedsFor(base.session, batch), outputName), outputName, n);
        if (ref.classes !== classes) {
          throw new MmkitError('SHAPE_MISMATCH', `Output '${outputName}' has ${classes} values per item in the model but ${ref.classes} in the baseline.`, {
            tensor: outputName,
            hint: 'Compare models with the same output shape, or choose another output with outputName.',
          });
        }
        if (batch.label) base.score(ref.data, classes, batch.label);
        agreeTop1 += top1Matches(ref.data, logits.data, classes);
        klSum += sum(klDivergences(ref.data, logits.data, classes));
        cosineSum += sum(cosineSimilarities(ref.data, logits.data, classes));
      }
      items += n;
      batches++;
      opts.onProgress?.(items, total);
    }
    if (items === 0) throw new MmkitError('BAD_DATASET', 'The evaluation dataset has no items.', { hint: 'Check take()/skip() counts and the data source.' });
    const layers = opts.layers && opts.baseline
      ? await layerErrors(model, opts.baseline, asDataset(source).take(layerItems), { tensors: typeof opts.layers === 'object' ? opts.layers.tensors : undefined, device: opts.device, signal: opts.signal })
      : undefined;

    const modelReport = cand.report(items, labelled, opts.warmup);
    const againstBaseline = () => {
      const baseline = base.report(items, labelled, opts.warmup);
      const agreement = { top1: agreeTop1 / items, klMean: klSum / items, cosineMean: cosineSum / items };
      return { baseline, agreement, comparison: compareEvaluations(modelReport, baseline, agreement) };
    };
    return {
      model: modelReport,
      ...(base ? againstBaseline() : {}),
      ...(layers ? { layers } : {}),
      items,
      batches,
      device: cand.session.device,
      outputName,
      classes,
    };
  } finally {
    await Promise.all(tallies.map((t) => t.session.dispose()));
  }
}

function asDataset(source: AsyncIterable<Batch>): Dataset {
  return source instanceof Dataset ? source : Dataset.from(() => source);
}

function checkOutput(session: Session, name: string): void {
  if (!session.outputNames.includes(name)) {
    throw new MmkitError('UNKNOWN_TENSOR', `${session.label} has no output '${name}'.`, {
      tensor: name,
      hint: `Its outputs are ${session.outputNames.map((n) => `'${n}'`).join(', ')}; pass one as outputName.`,
    });
  }
}
