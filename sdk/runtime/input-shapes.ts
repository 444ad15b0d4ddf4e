/**
 * The shapes (and integer values) a model is fed when there is no data: a summary's shape probe
 * and a compression check's synthetic inputs. Each size of each input comes from, in order:
 *
 *  1. `inputs`: a whole shape given for that input ({ x: [1, 3, 320, 320] });
 *  2. the model: its fixed sizes;
 *  3. `dims`: a size given for a named symbolic dimension (every input that shares the name);
 *  4. the batch: a symbolic first axis, any dimension with the same name, and the free middle
 *     axis of a float [D, N, H] with D and H fixed (the state layout of ONNX's RNN, GRU and LSTM:
 *     Silero VAD's `state`), get `batchSize`;
 *  5. the input's role, for what is left:
 *     - an image, float [N, C, H, W] with C fixed at 1, 3 or 4 (or NHWC [N, H, W, C]):
 *       free H, W = 224, the size most vision models are exported and trained at;
 *     - audio, float [N, L] or [N, C ≤ 2, L]: free L = 512 samples, 32 ms at 16 kHz: Silero
 *       VAD's chunk (it takes nothing else at 16 kHz) and one 512-point STFT window, the least an
 *       STFT front end (openWakeWord's) takes;
 *  6. anything else: 1, so a token sequence of one broadcasts against learned position tables.
 *
 * Integer scalars the graph compares (Equal) with a constant get that constant: Silero's sample
 * rate `sr` = 16000 picks the branch the model computes in. Other integer inputs are zeros.
 */
import { MmkitError } from '../errors';
import { GraphView, tensorArray, type OnnxModel } from '../onnx';
import type { TensorInfo } from './feeds';
import { suggestion } from './names';

export const IMAGE_SIZE = 224;
export const AUDIO_CHUNK = 512;
export const DEFAULT_FREE_DIM = 1;

export interface InputShapeOptions {
  /** Whole shapes by input name, the batch axis included: { x: [1, 3, 320, 320] }. */
  inputs?: Record<string, readonly number[]>;
  /** Sizes of named symbolic dimensions: { sequence: 16 }. */
  dims?: Record<string, number>;
  /** Size of a symbolic first (batch) axis; default 1. */
  batchSize?: number;
}

export interface InputShapes {
  shapes: Record<string, number[]>;
  /** Each size rules 5 and 6 picked, in words: "'p2o.DynamicDimension.1' = 224 (image)". */
  chosen: string[];
}

const isFree = (d: number | string | null): d is string | null => typeof d !== 'number' || d < 0;
/** onnxruntime reports an unnamed dimension as ''; the graph as '?'. */
const named = (d: string | null): d is string => !!d && d !== '?';

function checkGiven(inputs: readonly TensorInfo[], given: Record<string, readonly number[]>): void {
  const names = inputs.map((i) => i.name);
  for (const [name, shape] of Object.entries(given)) {
    const input = inputs.find((i) => i.name === name);
    if (!input) throw new MmkitError('UNKNOWN_INPUT', `The model has no input '${name}' to give a shape for.`, { tensor: name, hint: suggestion(name, names) });
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
      throw new MmkitError('BAD_OPTION', `inputs.${name} must be a shape of whole numbers ≥ 1, got ${JSON.stringify(shape)}.`, { tensor: name });
    }
    const declared = input.dims;
    if (declared && (declared.length !== shape.length || declared.some((d, i) => !isFree(d) && d !== shape[i]))) {
      throw new MmkitError('SHAPE_MISMATCH', `inputs.${name} is [${shape.join(', ')}], but the model declares [${declared.map((d) => (isFree(d) ? (named(d) ? d : '?') : d)).join(', ')}].`, {
        tensor: name,
        hint: 'Keep the fixed sizes and the rank; choose only the symbolic ones.',
      });
    }
  }
}

const isFloat = (input: TensorInfo) => input.dtype === 'float32' || input.dtype === 'float16' || input.dtype === 'float64';

/** Axis 1 of a float [D, N, H] with D and H fixed: the batch axis of an RNN state. */
function isRnnStateBatch(input: TensorInfo, axis: number): boolean {
  const dims = input.dims!;
  return axis === 1 && dims.length === 3 && isFloat(input) && !isFree(dims[0]) && !isFree(dims[2]);
}

/** What rule 5 gives an input's free axis, if anything. */
function bySize(input: TensorInfo, axis: number): [number, string] | undefined {
  const dims = input.dims!;
  if (!isFloat(input)) return undefined;
  const channels = (d: number | string | null) => d === 1 || d === 3 || d === 4;
  if (dims.length === 4 && ((channels(dims[1]) && axis >= 2) || (channels(dims[3]) && (axis === 1 || axis === 2)))) return [IMAGE_SIZE, 'image'];
  if ((dims.length === 2 || (dims.length === 3 && (dims[1] === 1 || dims[1] === 2))) && axis === dims.length - 1) return [AUDIO_CHUNK, 'audio chunk'];
  return undefined;
}

/** Shapes for every input (see the rules above). Throws for bad options (UNKNOWN_INPUT, SHAPE_MISMATCH, BAD_OPTION) and untyped inputs (UNSUPPORTED). */
export function inputShapes(inputs: readonly TensorInfo[], opts: InputShapeOptions = {}): InputShapes {
  const given = opts.inputs ?? {};
  checkGiven(inputs, given);
  const sizeOptions: [string, number | undefined][] = [...Object.entries(opts.dims ?? {}).map(([d, size]): [string, number] => [`dims.${d}`, size]), ['batchSize', opts.batchSize]];
  for (const [option, size] of sizeOptions) {
    if (size !== undefined && !(Number.isInteger(size) && size >= 1)) throw new MmkitError('BAD_OPTION', `${option} must be a whole number ≥ 1, got ${JSON.stringify(size)}.`);
  }
  // Sizes by dimension name: given dims first, then what given shapes fix, then the batch.
  const sizes = new Map<string, number>(Object.entries(opts.dims ?? {}));
  const name = (input: TensorInfo, axis: number): string | undefined => {
    const d = input.dims?.[axis];
    return typeof d === 'string' && named(d) ? d : undefined;
  };
  const setOnce = (d: string | undefined, size: number) => d !== undefined && !sizes.has(d) && sizes.set(d, size);
  for (const input of inputs) given[input.name]?.forEach((size, axis) => setOnce(name(input, axis), size));
  const batch = opts.batchSize ?? 1;
  for (const input of inputs) setOnce(name(input, 0), batch);
  const chosen = new Map<string, string>();
  const shapes: Record<string, number[]> = {};
  for (const input of inputs) {
    if (given[input.name]) {
      shapes[input.name] = [...given[input.name]];
      continue;
    }
    if (!input.dtype || !input.dims) {
      throw new MmkitError('UNSUPPORTED', `Input '${input.name}' is not a tensor with a declared type and rank, so no data can be made up for it.`, { tensor: input.name, hint: 'Feed real data instead.' });
    }
    shapes[input.name] = input.dims.map((d, axis) => {
      if (!isFree(d)) return d;
      const dimName = name(input, axis);
      if (dimName !== undefined && sizes.has(dimName)) return sizes.get(dimName)!;
      if (axis === 0 || isRnnStateBatch(input, axis)) return batch;
      const [size, why] = bySize(input, axis) ?? [DEFAULT_FREE_DIM, ''];
      const label = dimName !== undefined ? `'${dimName}'` : `${input.name}[${axis}]`;
      setOnce(dimName, size);
      chosen.set(label, `${label} = ${size}${why ? ` (${why})` : ''}`);
      return size;
    });
  }
  return { shapes, chosen: [...chosen.values()] };
}

/** An input's dims as the graph declares them, in the runtime's terms (symbolic dims are names, unnamed ''). */
export function declaredInputs(model: OnnxModel): TensorInfo[] {
  const view = GraphView.of(model.proto);
  return view.inputs.map((v) => {
    const { dtype, shape } = view.valueInfo(v.name);
    return { name: v.name, ...(dtype ? { dtype } : {}), ...(shape ? { dims: shape.map((d) => (d === '?' ? '' : d)) } : {}) };
  });
}

export interface SyntheticInputs extends InputShapes {
  /** Fill values by input name (see comparedValues), also listed in `chosen`. */
  values: Record<string, number>;
}

/** Shapes and fill values for made-up inputs of a model whose inputs are `inputs` (as a session or the graph declares them). */
export function syntheticInputs(model: OnnxModel, inputs: readonly TensorInfo[], opts: InputShapeOptions = {}): SyntheticInputs {
  const { shapes, chosen } = inputShapes(inputs, opts);
  const values = comparedValues(model);
  return { shapes, values, chosen: [...chosen, ...Object.entries(values).map(([n, v]) => `${n} = ${v} (the value the graph compares it with)`)] };
}

/** Integer scalar inputs the graph compares (Equal) with a constant, and that constant. */
function comparedValues(model: OnnxModel): Record<string, number> {
  const view = GraphView.of(model.proto);
  const values: Record<string, number> = {};
  for (const input of view.inputs) {
    const { dtype, shape } = view.valueInfo(input.name);
    if (!dtype?.startsWith('int') || !shape || shape.length > 1) continue;
    for (const n of view.consumers(input.name)) {
      const other = n.opType === 'Equal' ? view.constantTensor(n.input[n.input[0] === input.name ? 1 : 0]) : undefined;
      const data = other ? tensorArray(other, model) : undefined;
      if (data?.length === 1) {
        values[input.name] = Number(data[0]);
        break;
      }
    }
  }
  return values;
}
