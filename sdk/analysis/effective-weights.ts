/**
 * Recovers the weight a quantized layer really multiplies by — its dequantized ("effective")
 * weight — from the graph forms mmkit's passes and onnxruntime's quantizer write:
 * com.microsoft DynamicQuantizeMatMul, MatMulInteger (+ Cast + scale Mul), com.microsoft
 * MatMulNBits blocks, DequantizeLinear on a constant feeding MatMul / Gemm / Conv (QDQ), int8
 * embedding tables dequantized after their Gather, and float16/bfloat16 weights.
 */
import { dtypeOf, GraphView, tensorDims, attrInt, type NodeProto, type OnnxModel, type TensorProto } from '../onnx';
import { transposeWeight } from '../passes/quant-weights';
import { codeRange, floatValues, integerCodes } from './tensor-values';

/** The quantization grid of a weight: one scale and zero point per group of values. */
export interface QuantGroups {
  /** Smallest and largest code of the stored type ([-128, 127] for int8, [0, 15] for 4-bit MatMulNBits). */
  codeMin: number;
  codeMax: number;
  scales: Float64Array;
  zeroPoints: Float64Array;
  /** The output channel each group belongs to; -1 when a group spans all channels (per-tensor). */
  channels: Int32Array;
}

/** 'float' for float16/bfloat16 weights, which have no uniform grid. */
export type Granularity = 'per-tensor' | 'per-channel' | 'block' | 'float';

export interface EffectiveWeight {
  /** The candidate node that reads the quantized weight. */
  node: string;
  /** Its graph form: 'DynamicQuantizeMatMul', 'MatMulInteger', 'MatMulNBits', 'DequantizeLinear→MatMul', ... */
  form: string;
  /** Values the layer produces in the candidate (after a fused or following bias Add), to find the same layer in the reference. */
  outputs: string[];
  /** The stored quantized initializer. */
  stored: string;
  /** Stored element type: 'int8', 'uint8', 'uint4' (MatMulNBits), ... */
  dtype: string;
  bits: number;
  granularity: Granularity;
  blockSize?: number;
  /** Dequantized values, [in, out] for linears (MatMul's B layout), the stored [out, in/group, ...kernel] for Conv. */
  values: Float32Array;
  dims: number[];
  /** Which axis of `dims` indexes output channels (1 for linears, 0 for Conv and embedding rows). */
  channelAxis: number;
  /** The integer grid; null for float16/bfloat16 weights. */
  groups: QuantGroups | null;
}

/** A quantized weight whose dequantized value could not be recovered, and why. */
export interface UnrecoveredWeight {
  node: string;
  reason: string;
}

/** Short description of a weight's quantization: "int8 per-channel", "uint4 block 32". */
export function schemeOf(w: Pick<EffectiveWeight, 'dtype' | 'granularity' | 'blockSize'>): string {
  if (w.granularity === 'float') return w.dtype;
  return `${w.dtype} ${w.granularity === 'block' ? `block ${w.blockSize}` : w.granularity}`;
}

/** Every quantized weight of a model that can be dequantized, with the nodes that could not. */
export function effectiveWeights(model: OnnxModel): { weights: EffectiveWeight[]; unrecovered: UnrecoveredWeight[] } {
  const view = GraphView.of(model.proto);
  const weights: EffectiveWeight[] = [];
  const unrecovered: UnrecoveredWeight[] = [];
  for (const n of view.nodes) {
    const found = recover(view, model, n);
    if (typeof found === 'string') unrecovered.push({ node: n.name || n.opType, reason: found });
    else if (!found) continue;
    else {
      // A table read by several Gathers is one weight, whose outputs are all theirs.
      const same = found.form.startsWith('Gather') ? weights.find((w) => w.stored === found.stored && w.form === found.form) : undefined;
      if (same) same.outputs.push(...found.outputs);
      else weights.push(found);
    }
  }
  return { weights, unrecovered };
}

/** The effective weight a node reads, a reason it cannot be had, or undefined for nodes that read no quantized weight. */
function recover(view: GraphView, model: OnnxModel, n: NodeProto): EffectiveWeight | string | undefined {
  if (n.domain === 'com.microsoft' && n.opType === 'DynamicQuantizeMatMul') return dynamicQuantizeMatMul(view, model, n);
  if (n.domain === 'com.microsoft' && n.opType === 'MatMulNBits') return matMulNBits(view, model, n);
  if (n.domain === '' && n.opType === 'MatMulInteger') return matMulInteger(view, model, n);
  if (n.domain === '' && n.opType === 'DequantizeLinear') return dequantizeLinear(view, model, n);
  if (n.domain === '' && n.opType === 'Gather') return gatheredTable(view, model, n) ?? lowPrecisionFloat(view, model, n);
  if (n.domain === '' && n.opType in WEIGHT_CONSUMERS) return lowPrecisionFloat(view, model, n);
  return undefined;
}

function constant(view: GraphView, name: string | undefined): TensorProto | undefined {
  return name ? view.constantTensor(name) : undefined;
}

/**
 * `name` and the values that carry it on: a bias Add with a constant, then a Cast (where toFloat16
 * renamed a graph output 'logits' to 'logits_fp16' and casts it back), each when it is the only reader.
 */
function withBias(view: GraphView, name: string): string[] {
  const names = [name];
  const sole = (op: string) => {
    const c = view.consumers(names[names.length - 1]);
    return c.length === 1 && c[0].opType === op && c[0].domain === '' ? c[0] : undefined;
  };
  const add = sole('Add');
  const other = add && (add.input[0] === name ? add.input[1] : add.input[0]);
  if (add && constant(view, other)) names.push(add.output[0]);
  const cast = sole('Cast');
  if (cast) names.push(cast.output[0]);
  return names;
}

/** Dequantizes an int [K, N] weight with per-tensor (one) or per-column (N) scales and zero points. */
function perColumn(codes: Float64Array, k: number, n: number, scales: Float32Array, zeroPoints: Float64Array): { values: Float32Array; groups: Omit<QuantGroups, 'codeMin' | 'codeMax'> } {
  const perChannel = scales.length === n && n > 1;
  const values = new Float32Array(k * n);
  for (let r = 0; r < k; r++) {
    for (let c = 0; c < n; c++) {
      const g = perChannel ? c : 0;
      values[r * n + c] = (codes[r * n + c] - zeroPoints[zeroPoints.length > 1 ? g : 0]) * scales[g];
    }
  }
  const count = perChannel ? n : 1;
  return {
    values,
    groups: {
      scales: Float64Array.from(scales.subarray(0, count)),
      zeroPoints: Float64Array.from({ length: count }, (_, g) => zeroPoints[zeroPoints.length > 1 ? g : 0] ?? 0),
      channels: Int32Array.from({ length: count }, (_, g) => (perChannel ? g : -1)),
    },
  };
}

/** Scales of B (scalar or one per column) and zero points (absent: 0) for the int8 matmul forms. */
function intMatMul(
  model: OnnxModel,
  n: NodeProto,
  b: TensorProto,
  scale: TensorProto,
  zeroPoint: TensorProto | undefined,
  form: string,
  outputs: string[],
): EffectiveWeight | string {
  const dims = tensorDims(b);
  if (dims.length !== 2) return `its weight '${b.name}' is not 2-D`;
  const [k, cols] = dims;
  const scales = floatValues(scale, model);
  if (scales.length !== 1 && scales.length !== cols) return `its scale '${scale.name}' has ${scales.length} values for ${cols} columns`;
  const dtype = dtypeOf(b.dataType);
  const [codeMin, codeMax] = codeRange(dtype);
  const zeroPoints = zeroPoint ? integerCodes(zeroPoint, model) : new Float64Array(1);
  const { values, groups } = perColumn(integerCodes(b, model), k, cols, scales, zeroPoints);
  return {
    node: n.name,
    form,
    outputs,
    stored: b.name,
    dtype,
    bits: dtype.includes('16') ? 16 : 8,
    granularity: groups.scales.length > 1 ? 'per-channel' : 'per-tensor',
    values,
    dims,
    channelAxis: 1,
    groups: { codeMin, codeMax, ...groups },
  };
}

function dynamicQuantizeMatMul(view: GraphView, model: OnnxModel, n: NodeProto): EffectiveWeight | string {
  // Inputs: A, B, b_scale, b_zero_point, bias.
  const b = constant(view, n.input[1]);
  const scale = constant(view, n.input[2]);
  if (!b || !scale) return 'its weight or scale is not a constant';
  return intMatMul(model, n, b, scale, constant(view, n.input[3]), 'DynamicQuantizeMatMul', [n.output[0]]);
}

/**
 * MatMulInteger → Cast → Mul(·, a_scale · b_scale) (→ Add bias): B's scale is the constant factor
 * of the Mul that makes the combined scale, as the dynamic quantizers write it.
 */
function matMulInteger(view: GraphView, model: OnnxModel, n: NodeProto): EffectiveWeight | string | undefined {
  const b = constant(view, n.input[1]);
  if (!b) return undefined; // an integer matmul of two activations: no weight to recover
  const only = (name: string, op: string) => {
    const c = view.consumers(name);
    return c.length === 1 && c[0].opType === op ? c[0] : undefined;
  };
  const cast = only(n.output[0], 'Cast');
  const mul = cast && only(cast.output[0], 'Mul');
  const combined = mul && view.producer(mul.input[0] === cast.output[0] ? mul.input[1] : mul.input[0]);
  const constants = combined?.opType === 'Mul' ? combined.input.filter((x) => constant(view, x)) : [];
  if (!mul || constants.length !== 1) return `the scale of its weight '${b.name}' is not a constant factor of the Mul after it`;
  return intMatMul(model, n, b, constant(view, constants[0])!, constant(view, n.input[3]), 'MatMulInteger', withBias(view, mul.output[0]));
}

/** com.microsoft MatMulNBits: B [N, blocks, blockSize·bits/8] codes packed low bits first, (code − zp) · scale per block along K. */
function matMulNBits(view: GraphView, model: OnnxModel, n: NodeProto): EffectiveWeight | string {
  const k = attrInt(n, 'K');
  const cols = attrInt(n, 'N');
  const bits = attrInt(n, 'bits', 4);
  const blockSize = attrInt(n, 'block_size');
  const b = constant(view, n.input[1]);
  const scale = constant(view, n.input[2]);
  if (k === undefined || cols === undefined || blockSize === undefined || !b || !scale) return 'its K, N, block_size, weight or scales are missing';
  if (![2, 4, 8].includes(bits)) return `${bits}-bit codes are not supported (2, 4 and 8 are)`;
  if (n.input[4]) return 'it reorders K with g_idx, which is not supported';
  const blocks = Math.ceil(k / blockSize);
  const blob = (blockSize * bits) / 8;
  const packed = integerCodes(b, model);
  const scales = floatValues(scale, model);
  if (packed.length !== cols * blocks * blob || scales.length !== cols * blocks) return `its weight or scales do not hold ${cols}×${blocks} blocks of ${blockSize}`;
  const zeroPoints = nBitsZeroPoints(view, model, n.input[3], cols, blocks, bits);
  const mask = (1 << bits) - 1;
  const values = new Float32Array(k * cols);
  for (let c = 0; c < cols; c++) {
    for (let blk = 0; blk < blocks; blk++) {
      const g = c * blocks + blk;
      for (let j = 0; j < blockSize && blk * blockSize + j < k; j++) {
        const bit = j * bits;
        const code = (packed[g * blob + (bit >> 3)] >> (bit & 7)) & mask;
        values[(blk * blockSize + j) * cols + c] = (code - zeroPoints[g]) * scales[g];
      }
    }
  }
  return {
    node: n.name,
    form: 'MatMulNBits',
    outputs: [n.output[0]],
    stored: b.name,
    dtype: `uint${bits}`,
    bits,
    granularity: 'block',
    blockSize,
    values,
    dims: [k, cols],
    channelAxis: 1,
    groups: {
      codeMin: 0,
      codeMax: mask,
      scales: Float64Array.from(scales),
      zeroPoints,
      channels: Int32Array.from({ length: cols * blocks }, (_, g) => Math.floor(g / blocks)),
    },
  };
}

/** One zero point per block: packed uint8 codes (per column, rows padded to whole bytes), floats, or the default 2^(bits−1). */
function nBitsZeroPoints(view: GraphView, model: OnnxModel, name: string | undefined, cols: number, blocks: number, bits: number): Float64Array {
  const t = constant(view, name);
  const out = new Float64Array(cols * blocks).fill(2 ** (bits - 1));
  if (!t) return out;
  if (dtypeOf(t.dataType) !== 'uint8') return Float64Array.from(floatValues(t, model));
  const bytes = integerCodes(t, model);
  const rowBytes = Math.ceil((blocks * bits) / 8);
  for (let c = 0; c < cols; c++) {
    for (let blk = 0; blk < blocks; blk++) {
      const bit = blk * bits;
      out[c * blocks + blk] = (bytes[c * rowBytes + (bit >> 3)] >> (bit & 7)) & ((1 << bits) - 1);
    }
  }
  return out;
}

/** Layer ops a dequantized weight may feed (as input 1), with the axis of their output channels. */
const WEIGHT_CONSUMERS: Record<string, number> = { MatMul: 1, Gemm: 0, Conv: 0 };

/**
 * DequantizeLinear of a constant: y = (x − zero_point) · scale, per tensor, per axis or in blocks
 * along an axis (opset 21 block_size). Only weights count: the result must feed a MatMul, Gemm or
 * Conv as its second input; activation Q/DQ pairs are left alone.
 */
function dequantizeLinear(view: GraphView, model: OnnxModel, n: NodeProto): EffectiveWeight | string | undefined {
  const x = constant(view, n.input[0]);
  const consumer = view.consumers(n.output[0]).find((c) => c.domain === '' && c.opType in WEIGHT_CONSUMERS && c.input[1] === n.output[0]);
  if (!x || !consumer) return undefined;
  const scale = constant(view, n.input[1]);
  if (!scale) return `the scale of its weight '${x.name}' is not a constant`;
  const dims = tensorDims(x);
  const rank = dims.length;
  const axis = ((attrInt(n, 'axis', 1) % rank) + rank) % rank;
  const blockSize = attrInt(n, 'block_size', 0);
  const scales = floatValues(scale, model);
  const scaleDims = tensorDims(scale);
  const zp = constant(view, n.input[2]);
  const zeroPoints = zp ? integerCodes(zp, model) : new Float64Array(scales.length);
  const codes = integerCodes(x, model);
  // Where each element's scale sits: one for all, one per index along `axis`, or one per block of it.
  const strides = dims.map((_, d) => dims.slice(d + 1).reduce((a, b) => a * b, 1));
  const scaleStrides = scaleDims.map((_, d) => scaleDims.slice(d + 1).reduce((a, b) => a * b, 1));
  const groupOf = (i: number): number => {
    if (scales.length === 1) return 0;
    if (blockSize === 0) return Math.floor(i / strides[axis]) % dims[axis];
    let g = 0;
    for (let d = 0; d < rank; d++) {
      const coord = Math.floor(i / strides[d]) % dims[d];
      g += (d === axis ? Math.floor(coord / blockSize) : coord) * scaleStrides[d];
    }
    return g;
  };
  let values: Float32Array = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) {
    const g = groupOf(i);
    values[i] = (codes[i] - zeroPoints[g]) * scales[g];
  }
  // The output channel of each group, along the axis the consumer reads as channels.
  let outAxis = WEIGHT_CONSUMERS[consumer.opType];
  const transB = consumer.opType === 'Gemm' && attrInt(consumer, 'transB', 0) === 1;
  if (consumer.opType === 'Gemm' && !transB) outAxis = 1;
  const channels = Int32Array.from({ length: scales.length }, (_, g) => {
    if (scales.length === 1) return -1;
    if (blockSize === 0) return axis === outAxis ? g : -1;
    return axis === outAxis ? -1 : Math.floor(g / scaleStrides[outAxis]) % scaleDims[outAxis];
  });
  let layoutDims = dims;
  let channelAxis = outAxis;
  if (transB && rank === 2) {
    // Gemm's [out, in] weight, compared as MatMul's [in, out].
    values = transposeWeight(values, dims[0], dims[1]);
    layoutDims = [dims[1], dims[0]];
    channelAxis = 1;
  }
  const dtype = dtypeOf(x.dataType);
  const [codeMin, codeMax] = codeRange(dtype);
  const outputs = consumer.opType === 'Conv' ? [consumer.output[0]] : withBias(view, consumer.output[0]);
  return {
    node: consumer.name,
    form: `DequantizeLinear→${consumer.opType}`,
    outputs,
    stored: x.name,
    dtype,
    bits: Math.log2(codeMax - codeMin + 1),
    granularity: scales.length === 1 ? 'per-tensor' : blockSize > 0 ? 'block' : 'per-channel',
    ...(blockSize > 0 ? { blockSize } : {}),
    values,
    dims: layoutDims,
    channelAxis,
    groups: { codeMin, codeMax, scales: Float64Array.from(scales), zeroPoints, channels },
  };
}

const FLOAT_FORMATS = new Set(['float16', 'bfloat16']);

/** A float16/bfloat16 constant, read directly or through a Cast to float32 (a block-listed float32 node). */
function lowPrecisionSource(view: GraphView, name: string): TensorProto | undefined {
  const direct = constant(view, name);
  if (direct) return FLOAT_FORMATS.has(dtypeOf(direct.dataType)) ? direct : undefined;
  const cast = view.producer(name);
  const source = cast?.opType === 'Cast' && cast.domain === '' ? constant(view, cast.input[0]) : undefined;
  return source && FLOAT_FORMATS.has(dtypeOf(source.dataType)) ? source : undefined;
}

/** A MatMul, Gemm or Conv whose weight, or a Gather whose table, is stored float16 or bfloat16 (toFloat16). */
function lowPrecisionFloat(view: GraphView, model: OnnxModel, n: NodeProto): EffectiveWeight | undefined {
  const table = n.opType === 'Gather';
  if (table && attrInt(n, 'axis', 0) !== 0) return undefined;
  const t = lowPrecisionSource(view, n.input[table ? 0 : 1]);
  const dims = t && tensorDims(t);
  if (!t || !dims || (n.opType === 'MatMul' || n.opType === 'Gemm' ? dims.length !== 2 : dims.length < 2)) return undefined;
  const transB = n.opType === 'Gemm' && attrInt(n, 'transB', 0) === 1;
  const stored = floatValues(t, model);
  return {
    node: n.name,
    form: n.opType,
    outputs: n.opType === 'MatMul' || n.opType === 'Gemm' ? withBias(view, n.output[0]) : [n.output[0]],
    stored: t.name,
    dtype: dtypeOf(t.dataType),
    bits: 16,
    granularity: 'float',
    values: transB ? transposeWeight(stored, dims[0], dims[1]) : stored,
    dims: transB ? [dims[1], dims[0]] : dims,
    channelAxis: n.opType === 'MatMul' || n.opType === 'Gemm' ? 1 : 0,
    groups: null,
  };
}

/**
 * An int8 embedding table dequantized after its Gather: per row, Gather → Cast → Mul(Gather(row
 * scales, same ids)); per tensor, Gather → DequantizeLinear.
 */
function gatheredTable(view: GraphView, model: OnnxModel, n: NodeProto): EffectiveWeight | string | undefined {
  const table = constant(view, n.input[0]);
  if (!table || !['int8', 'uint8'].includes(dtypeOf(table.dataType)) || attrInt(n, 'axis', 0) !== 0) return undefined;
  const readers = view.consumers(n.output[0]);
  const only = readers.length === 1 ? readers[0] : undefined;
  let scales: Float32Array;
  let zeroPoints: Float64Array;
  let output: string;
  if (only?.opType === 'DequantizeLinear') {
    const scale = constant(view, only.input[1]);
    if (!scale) return `the scale of its table '${table.name}' is not a constant`;
    scales = floatValues(scale, model);
    const zp = constant(view, only.input[2]);
    zeroPoints = zp ? integerCodes(zp, model) : new Float64Array(1);
    output = only.output[0];
  } else if (only?.opType === 'Cast') {
    const mul = view.consumers(only.output[0]).find((c) => c.opType === 'Mul');
    const scaleGather = mul && view.producer(mul.input[0] === only.output[0] ? mul.input[1] : mul.input[0]);
    const rowScales = scaleGather?.opType === 'Gather' && scaleGather.input[1] === n.input[1] ? constant(view, scaleGather.input[0]) : undefined;
    if (!mul || !rowScales) return `the row scales of its table '${table.name}' are not a Gather of a constant with the same ids`;
    scales = floatValues(rowScales, model);
    zeroPoints = new Float64Array(scales.length);
    output = mul.output[0];
  } else return undefined;
  const dims = tensorDims(table);
  const rows = dims[0];
  const cols = dims.slice(1).reduce((a, b) => a * b, 1);
  if (scales.length !== 1 && scales.length !== rows) return `its table '${table.name}' has ${scales.length} scales for ${rows} rows`;
  const perRow = scales.length === rows && rows > 1;
  const codes = integerCodes(table, model);
  const values = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) {
    const g = perRow ? Math.floor(i / cols) : 0;
    values[i] = (codes[i] - zeroPoints[zeroPoints.length > 1 ? g : 0]) * scales[g];
  }
  const dtype = dtypeOf(table.dataType);
  const [codeMin, codeMax] = codeRange(dtype);
  const count = perRow ? rows : 1;
  return {
    node: n.name,
    form: `Gather→${only.opType === 'Cast' ? 'Mul' : 'DequantizeLinear'}`,
    outputs: [output],
    stored: table.name,
    dtype,
    bits: 8,
    granularity: perRow ? 'per-channel' : 'per-tensor',
    values,
    dims,
    channelAxis: 0,
    groups: {
      codeMin,
      codeMax,
      scales: Float64Array.from(scales.subarray(0, count)),
      zeroPoints: Float64Array.from({ length: count }, (_, g) => zeroPoints[zeroPoints.length > 1 ? g : 0] ?? 0),
      channels: Int32Array.from({ length: count }, (_, g) => (perRow ? g : -1)),
    },
  };
}
