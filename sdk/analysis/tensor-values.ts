import { MmkitError } from '../errors';
import { floatData } from '../eval/logits';
import { dtypeOf, tensorArray, tensorDims, tensorElementCount, type OnnxModel, type TensorProto } from '../onnx';

/** The smallest and largest code a quantized element type can hold. */
export function codeRange(dtype: string): [number, number] {
  switch (dtype) {
    case 'int8':
      return [-128, 127];
    case 'uint8':
      return [0, 255];
    case 'int16':
      return [-32768, 32767];
    case 'uint16':
      return [0, 65535];
    case 'int4':
      return [-8, 7];
    case 'uint4':
      return [0, 15];
    case 'int32':
      return [-(2 ** 31), 2 ** 31 - 1];
    default:
      throw new MmkitError('UNSUPPORTED', `Quantized tensors of type ${dtype} cannot be analysed.`, {
        hint: 'Supported: int4, uint4, int8, uint8, int16, uint16, int32.',
      });
  }
}

/** A constant integer tensor's codes as numbers (4-bit types unpacked, low nibble first, int4 sign-extended). */
export function integerCodes(t: TensorProto, model: OnnxModel): Float64Array {
  const dtype = dtypeOf(t.dataType);
  codeRange(dtype); // rejects types that are not quantized integers
  const data = tensorArray(t, model);
  const n = tensorElementCount(t);
  if (dtype !== 'int4' && dtype !== 'uint4') return Float64Array.from(data as ArrayLike<number>);
  const codes = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const nibble = ((data as Uint8Array)[i >> 1] >> ((i & 1) * 4)) & 0xf;
    codes[i] = dtype === 'int4' && nibble > 7 ? nibble - 16 : nibble;
  }
  return codes;
}

/** A constant float tensor's values (float16, bfloat16 and float64 converted). */
export function floatValues(t: TensorProto, model: OnnxModel): Float32Array {
  const dtype = dtypeOf(t.dataType);
  // bfloat16 is the top half of a float32.
  if (dtype === 'bfloat16') return new Float32Array(Uint32Array.from(tensorArray(t, model) as Uint16Array, (b) => b << 16).buffer);
  return floatData({ data: tensorArray(t, model), dims: tensorDims(t), dtype }, t.name);
}
