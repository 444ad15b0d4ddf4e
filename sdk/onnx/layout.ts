/**
 * Where each tensor's bytes go when a model is saved: inline in the .onnx file or in an
 * external data file at a given offset. Pure decisions, kept apart from the file writing.
 */
import { MmkitError } from '../errors';

/** Protobuf cannot serialize a message of 2 GiB or more. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;
export const DEFAULT_EXTERNAL_THRESHOLD = 1024;
export const DEFAULT_ALIGN = 4096;
/** Tensors this large get aligned offsets (onnx's convert_model_to_external_data uses the same 1 MB). */
export const ALIGN_THRESHOLD = 1024 * 1024;

export interface ExternalDataOptions {
  /** Data file name, relative to the .onnx file's folder (default `<model file name>.data`). */
  location?: string;
  /** Tensors with at least this many bytes go external (default 1024). */
  threshold?: number;
  /** Offset alignment for tensors of 1 MB and more (default 4096; 0 turns it off). */
  align?: number;
}

export type ExternalMode =
  | { kind: 'inline' }
  /** Tensors that were external in the source stay external, with their offsets where possible. */
  | { kind: 'keep' }
  | { kind: 'external'; threshold: number; align: number; location?: string };

export interface ModeDecision {
  mode: ExternalMode;
  /** Set when mmkit switched to external data on its own: the user should hear why. */
  notice?: string;
}

/**
 * Picks the save mode. `inlineBytes` is the size the .onnx file would have with every tensor
 * inline; over `limit` (protobuf's 2 GiB) external data is required and chosen automatically.
 */
export function decideExternalData(
  requested: boolean | ExternalDataOptions | undefined,
  inlineBytes: number,
  sourceHasExternal: boolean,
  limit: number = PROTOBUF_LIMIT,
): ModeDecision {
  if (requested !== undefined && typeof requested !== 'boolean') {
    const { threshold = DEFAULT_EXTERNAL_THRESHOLD, align = DEFAULT_ALIGN, location } = requested;
    if (!(threshold >= 0) || !(align >= 0) || !Number.isInteger(align)) {
      throw new MmkitError('BAD_OPTION', `externalData options need threshold >= 0 and a whole align >= 0 (got threshold ${threshold}, align ${align}).`, {
        hint: 'For example { threshold: 1024, align: 4096 }.',
      });
    }
    return { mode: { kind: 'external', threshold, align, location } };
  }
  if (requested === true) return { mode: { kind: 'external', threshold: DEFAULT_EXTERNAL_THRESHOLD, align: DEFAULT_ALIGN } };
  if (requested === undefined && sourceHasExternal) return { mode: { kind: 'keep' } };
  if (inlineBytes > limit) {
    return {
      mode: { kind: 'external', threshold: DEFAULT_EXTERNAL_THRESHOLD, align: DEFAULT_ALIGN },
      notice: `The model is ${formatBytes(inlineBytes)}, over protobuf's ${formatBytes(limit)} limit for one .onnx file, so its weights were saved as external data.`,
    };
  }
  return { mode: { kind: 'inline' } };
}

export interface PlacedTensor {
  offset: number;
  length: number;
}

/**
 * Offsets for tensors appended one after another: tensors of ALIGN_THRESHOLD bytes or more
 * start on a multiple of `align`.
 */
export function packOffsets(lengths: readonly number[], align: number): PlacedTensor[] {
  let end = 0;
  return lengths.map((length) => {
    let offset = end;
    if (align > 0 && length >= ALIGN_THRESHOLD) offset = Math.ceil(offset / align) * align;
    end = offset + length;
    return { offset, length };
  });
}

/**
 * Whether the tensors can keep their source offsets in a new data file: the ranges must not
 * overlap, and the gaps left by tensors no longer present must stay small (else repacking wins).
 */
export function canKeepOffsets(ranges: readonly PlacedTensor[]): boolean {
  const sorted = [...ranges].sort((a, b) => a.offset - b.offset);
  let end = 0;
  let gaps = 0;
  let total = 0;
  for (const r of sorted) {
    if (r.offset < end) return false;
    gaps += r.offset - end;
    total += r.length;
    end = r.offset + r.length;
  }
  // Alignment padding is a gap too; allow it, but not whole removed tensors.
  return gaps <= Math.max(64 * 1024, total * 0.05);
}

function formatBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
}
