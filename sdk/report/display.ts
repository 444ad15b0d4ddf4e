import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { currentKernelBridge } from './kernel-bridge';
import { mimeBundleOf } from './bundle';
import { JUPYTER_DISPLAY, type MimeBundle } from './mime';

export interface DisplayOptions {
  /** Show under this display id (to update it later); a fresh one is made otherwise. */
  displayId?: string;
  /** Replace what an earlier display with the same id shows instead of adding output. */
  update?: boolean;
}

/** A displayed output that can be replaced in place (in a notebook) later on. */
export class DisplayHandle {
  constructor(readonly displayId: string) {}

  /** Shows `value` in place of what this display showed. */
  update(value: unknown): Promise<DisplayHandle> {
    return display(value, { displayId: this.displayId, update: true });
  }

  /** Nothing more to show: `await display(x)` as a cell's last line must not echo the handle. */
  [JUPYTER_DISPLAY](): MimeBundle {
    return {};
  }

  [inspect.custom](): string {
    return `DisplayHandle(${this.displayId})`;
  }
}

export function newDisplayId(): string {
  return randomBytes(8).toString('hex');
}

/**
 * Sends a bundle to the notebook cell (full bundle, one display id); outside a notebook,
 * prints its text/plain. Returns false when there was no notebook to send it to.
 */
export function publishBundle(bundle: MimeBundle, options: Required<DisplayOptions>): boolean {
  const bridge = currentKernelBridge();
  if (!bridge) return false;
  bridge.display({ data: bundle, metadata: {}, transient: { display_id: options.displayId } }, options.update);
  return true;
}

/**
 * Displays any value: SDK objects (and anything with `[Symbol.for('Jupyter.display')]`) as
 * their rich MIME bundle in a notebook, everything as text in a terminal.
 */
export async function display(value: unknown, options: DisplayOptions = {}): Promise<DisplayHandle> {
  const displayId = options.displayId ?? newDisplayId();
  const bundle = await mimeBundleOf(value);
  if (!publishBundle(bundle, { displayId, update: options.update ?? false })) {
    process.stdout.write(`${String(bundle['text/plain'])}\n`);
  }
  return new DisplayHandle(displayId);
}

/** Clears the cell's output (with wait, only once new output arrives). No-op outside a notebook. */
export function clearOutput(wait = false): void {
  currentKernelBridge()?.clearOutput(wait);
}
