import type { MimeBundle } from './mime';

/**
 * How SDK code reaches the notebook frontend. The mmkit kernel (kernel-extras/) installs a
 * bridge on globalThis under KERNEL_BRIDGE; under plain tslab we fall back to tslab's own
 * display writer; in plain Node there is no frontend and callers print text instead.
 */
export const KERNEL_BRIDGE: unique symbol = Symbol.for('mmkit.kernel.bridge');

export interface DisplayContent {
  data: MimeBundle;
  metadata: Record<string, unknown>;
  transient: { display_id?: string };
}

export interface KernelBridge {
  /** Sends display_data (update=false) or update_display_data (update=true) to the running cell. */
  display(content: DisplayContent, update: boolean): void;
  /** Sends clear_output; with wait=true the frontend clears only when new output arrives. */
  clearOutput(wait: boolean): void;
  /** The running cell's signal, aborted when the user interrupts the kernel (mmkit kernel only). */
  cellSignal?(): AbortSignal;
}

type TslabWriter = (content: DisplayContent, update: boolean) => void;

interface TslabJupyterModule {
  lastWriteDisplayData: TslabWriter | null;
}

function isTslabJupyterModule(exports: unknown): exports is TslabJupyterModule {
  return typeof exports === 'object' && exports !== null && 'lastWriteDisplayData' in exports;
}

/**
 * tslab's writer, looked up among the modules already loaded rather than require()d, so that
 * whichever copy of tslab runs the kernel is found (a second copy would never be "ready").
 */
function tslabWriter(): TslabWriter | null {
  for (const [file, mod] of Object.entries(require.cache)) {
    if (!/[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(file)) continue;
    const exported: unknown = mod?.exports;
    if (isTslabJupyterModule(exported) && typeof exported.lastWriteDisplayData === 'function') {
      return exported.lastWriteDisplayData;
    }
  }
  return null;
}

/**
 * The AbortSignal of the notebook cell running now: aborted (with an MmkitError CANCELLED)
 * when the user interrupts the kernel. Undefined outside the mmkit kernel. Pass it to
 * long-running work so the notebook's stop button really stops it.
 */
export function cellSignal(): AbortSignal | undefined {
  return currentKernelBridge()?.cellSignal?.();
}

/** The bridge to the frontend of the kernel this process runs in, or null outside a notebook. */
export function currentKernelBridge(): KernelBridge | null {
  const installed = (globalThis as Record<symbol, unknown>)[KERNEL_BRIDGE] as KernelBridge | undefined;
  if (installed) return installed;
  const write = tslabWriter();
  if (!write) return null;
  return {
    display: (content, update) => write(content, update),
    // Plain tslab has no way to send clear_output, so outputs stay as they are.
    clearOutput: () => undefined,
  };
}
