import { MmkitError } from '../errors';
import { publishBundle, newDisplayId } from './display';
import { escapeHtml } from './html';
import { cellSignal, currentKernelBridge } from './kernel-bridge';

/** notebook: one display updated in place; terminal: a \r-redrawn bar on stderr; quiet: nothing. */
export type ProgressMode = 'notebook' | 'terminal' | 'quiet';

export interface ProgressOptions {
  /** What is being done, e.g. "calibrating". */
  label?: string;
  /** Number of steps, when known; otherwise only the count is shown. */
  total?: number;
  /**
   * Aborting it makes the next update throw MmkitError CANCELLED. In the mmkit kernel,
   * interrupting the kernel does the same (the cell's signal is always watched too).
   */
  signal?: AbortSignal;
  /** Default: notebook inside a kernel, quiet under CI, terminal on a TTY, else quiet. */
  mode?: ProgressMode;
  /** Least time between two redraws; the final state is always drawn. Default 100 ms. */
  minIntervalMs?: number;
}

function autoMode(): ProgressMode {
  if (currentKernelBridge()) return 'notebook';
  if (process.env.CI) return 'quiet';
  return process.stderr.isTTY ? 'terminal' : 'quiet';
}

const BAR_WIDTH = 30;

/** A progress bar for long work; cancellable through an AbortSignal. */
export class Progress {
  readonly mode: ProgressMode;
  readonly label: string;
  /** The notebook display this bar updates (notebook mode only). */
  readonly displayId?: string;
  private count = 0;
  private steps?: number;
  private drawnAt = -Infinity;
  private shown = false;
  private ended?: 'complete' | 'failed' | 'cancelled';
  /** What cancels this work: the caller's signal and, in the mmkit kernel, the cell's. */
  readonly signal?: AbortSignal;
  private readonly minIntervalMs: number;

  constructor(options: ProgressOptions = {}) {
    this.mode = options.mode ?? autoMode();
    this.label = options.label ?? 'working';
    this.steps = options.total;
    const signals = [options.signal, cellSignal()].filter((s): s is AbortSignal => s !== undefined);
    this.signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    this.minIntervalMs = options.minIntervalMs ?? 100;
    if (this.mode === 'notebook') this.displayId = newDisplayId();
    this.throwIfCancelled();
  }

  get done(): number {
    return this.count;
  }

  get total(): number | undefined {
    return this.steps;
  }

  /** Throws MmkitError CANCELLED (and marks the bar) once the signal is aborted. */
  throwIfCancelled(): void {
    if (!this.signal?.aborted) return;
    if (!this.ended) this.finish('cancelled');
    throw new MmkitError('CANCELLED', `${this.label} was cancelled after ${this.count}${this.steps ? ` of ${this.steps}` : ''} steps.`, {
      cause: this.signal.reason,
    });
  }

  /** Advances by n steps. */
  tick(n = 1): void {
    this.update(this.count + n);
  }

  /**
   * Sets the number of steps done (and the total, once known), so it can serve as an
   * `onProgress(done, total)` callback.
   */
  update(done: number, total?: number): void {
    this.count = done;
    if (total !== undefined) this.steps = total;
    this.throwIfCancelled();
    const now = Date.now();
    if (now - this.drawnAt >= this.minIntervalMs) {
      this.drawnAt = now;
      this.draw();
    }
  }

  /** How the work ended, once finish() was called. */
  get outcome(): 'complete' | 'failed' | 'cancelled' | undefined {
    return this.ended;
  }

  /** Draws the final state: complete, or stopped by an error or a cancel. */
  finish(state: 'complete' | 'failed' | 'cancelled' = 'complete'): void {
    if (this.ended) return;
    this.ended = state;
    this.draw(state === 'complete' ? undefined : state);
    if (this.mode === 'terminal' && this.shown) process.stderr.write('\n');
  }

  /** "label  ███░░░  12/40 (30%)" */
  text(note?: string): string {
    const tail = note ? `  ${note}` : '';
    if (this.steps === undefined || this.steps <= 0) return `${this.label}  ${this.count}${tail}`;
    const fraction = Math.min(1, this.count / this.steps);
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = '█'.repeat(filled) + '░'.repeat(BAR_WIDTH - filled);
    return `${this.label}  ${bar}  ${this.count}/${this.steps} (${Math.round(fraction * 100)}%)${tail}`;
  }

  html(note?: string): string {
    const value = this.steps ? ` value="${Math.min(this.count, this.steps)}" max="${this.steps}"` : '';
    return `<div class="mmkit-progress"><progress${value} style="width:20em"></progress> <code>${escapeHtml(this.text(note).replace(/[█░]+ {2}/, ''))}</code></div>`;
  }

  private draw(note?: string): void {
    if (this.mode === 'quiet') return;
    if (this.mode === 'terminal') {
      process.stderr.write(`\r${this.text(note)}\x1b[K`);
    } else {
      publishBundle({ 'text/html': this.html(note), 'text/plain': this.text(note) }, { displayId: this.displayId!, update: this.shown });
    }
    this.shown = true;
  }
}

/**
 * Iterates `items` with a progress bar that advances per item, finishes when the loop ends
 * (or shows failed/cancelled), and stops the loop with CANCELLED when the signal aborts.
 */
export async function* track<T>(items: Iterable<T> | AsyncIterable<T>, options: ProgressOptions = {}): AsyncGenerator<T> {
  const bar = new Progress(options);
  // A loop the caller leaves early (break) ends as complete at the count it reached.
  let state: 'complete' | 'failed' | 'cancelled' = 'complete';
  try {
    for await (const item of items) {
      bar.throwIfCancelled();
      yield item;
      bar.tick();
    }
  } catch (e) {
    state = e instanceof MmkitError && e.code === 'CANCELLED' ? 'cancelled' : 'failed';
    throw e;
  } finally {
    bar.finish(state);
  }
}

/**
 * Runs long work with a bar it can drive (`bar.update(done, total)` fits the SDK's
 * `onProgress` callbacks, `bar.signal` its `signal` options), finishing the bar as complete,
 * failed or cancelled.
 */
export async function withProgress<T>(options: ProgressOptions, work: (bar: Progress) => Promise<T>): Promise<T> {
  const bar = new Progress(options);
  try {
    const result = await work(bar);
    bar.finish('complete');
    return result;
  } catch (e) {
    bar.finish(e instanceof MmkitError && e.code === 'CANCELLED' ? 'cancelled' : 'failed');
    throw e;
  }
}
