import { create } from '@bufbuild/protobuf';
import { dataTypeOf, dtypeOf, type DType } from './dtype';
import {
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type TypeProto,
  type ValueInfoProto,
} from './proto';

/** A dimension is a size, or a symbolic name (dim_param) such as 'batch'. */
export type Dim = number | string;

export interface ValueType {
  dtype?: DType;
  shape?: Dim[];
}

/** A ValueInfoProto for a tensor; omit `shape` for unknown rank. */
export function makeValueInfo(name: string, dtype: DType, shape?: readonly Dim[]): ValueInfoProto {
  const tensorType = create(TypeProto_TensorSchema, { elemType: dataTypeOf(dtype) });
  if (shape) {
    tensorType.shape = create(TensorShapeProtoSchema, {
      dim: shape.map((d) =>
        create(TensorShapeProto_DimensionSchema, {
          value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d },
        }),
      ),
    });
  }
  return create(ValueInfoProtoSchema, { name, type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }) });
}

/** dtype and shape of a tensor type; unknown parts are left out (a dim with neither value nor name reads as '?'). */
export function readValueType(type: TypeProto | undefined): ValueType {
  if (type?.value.case !== 'tensorType') return {};
  const t = type.value.value;
  const result: ValueType = {};
  if (t.elemType) {
    try {
      result.dtype = dtypeOf(t.elemType);
    } catch {
      // A type mmkit cannot handle (complex...) is reported as unknown, not as an error here.
    }
  }
  if (t.shape) {
    result.shape = t.shape.dim.map((d) => (d.value.case === 'dimValue' ? Number(d.value.value) : d.value.case === 'dimParam' ? d.value.value : '?'));
  }
  return result;
}
