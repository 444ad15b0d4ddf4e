import { attrInt, dtypeOf, tensorArray, type GraphView, type NodeProto, type OnnxModel } from '../../onnx';
import type { EffectiveWeight } from './types';
import { floatValues, integerCodes } from '../tensor-values';
import { constant } from './graph';

/** com.microsoft MatMulNBits: B [N, blocks, blockSize·bits/8] codes packed low bits first, (code − zp) · scale per block along K. */
export function matMulNBits(view: GraphView, model: OnnxModel, n: NodeProto): EffectiveWeight | string {
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
  if (dtypeOf(b.dataType) !== 'uint8') return `its weight '${b.name}' is not uint8`;
  // The packed bytes as they are: a float copy of every byte would be 8× the weight.
  const packed = tensorArray(b, model) as Uint8Array;
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
