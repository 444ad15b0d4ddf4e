/**
 * A protobuf encoder for ONNX models that never copies large bytes fields.
 *
 * bufbuild's toBinary encodes nested messages with fork/join, copying every nested level
 * (3-4 copies of a model's weights). Here messages that can hold tensor data are walked
 * field by field, driven by the bufbuild descriptors, and produce an EncodedTree: small
 * encoded pieces interleaved with references to the original raw_data bytes. Sizes are
 * computed bottom-up, so the tree can be streamed to a file or joined once.
 *
 * The output is byte-identical to toBinary (fields in number order, proto2 presence, packed
 * where declared, unknown fields after known ones), which is also what onnx's C++ writer does.
 */
import { ScalarType, toBinary, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { UnknownField } from '@bufbuild/protobuf';

/** Encoded bytes in order: leaves are Uint8Arrays (owned pieces or references to model bytes). */
export interface EncodedTree {
  size: number;
  parts: Array<Uint8Array | EncodedTree>;
}

/** Bytes fields at least this long are referenced, not copied. */
const REFERENCE_BYTES = 16 * 1024;
// FieldDescriptorProto.presence IMPLICIT (proto3 scalars); ONNX is proto2, kept for generality.
const IMPLICIT = 2;

// A loosely typed view of a message for descriptor-driven access.
type Fields = Record<string, unknown> & { $unknown?: UnknownField[] };

export function encodeTree(desc: DescMessage, message: object): EncodedTree {
  return new TreeEncoder().message(desc, message as Fields);
}

/** Joins a tree into one buffer (one copy of everything). */
export function joinTree(tree: EncodedTree): Uint8Array {
  const out = new Uint8Array(tree.size);
  let pos = 0;
  for (const piece of treePieces(tree)) {
    out.set(piece, pos);
    pos += piece.byteLength;
  }
  return out;
}

export function* treePieces(tree: EncodedTree): Generator<Uint8Array> {
  for (const part of tree.parts) {
    if (part instanceof Uint8Array) yield part;
    else yield* treePieces(part);
  }
}

const walkedTypes = new WeakMap<DescMessage, boolean>();

/** True when a message type can (transitively) hold bytes fields: those are walked, the rest go through toBinary. */
function holdsBytes(desc: DescMessage, seen = new Set<DescMessage>()): boolean {
  const known = walkedTypes.get(desc);
  if (known !== undefined) return known;
  if (seen.has(desc)) return false;
  seen.add(desc);
  let result = false;
  for (const f of desc.fields) {
    if (f.scalar === ScalarType.BYTES) result = true;
    else if ((f.fieldKind === 'message' || (f.fieldKind === 'list' && f.listKind === 'message')) && holdsBytes(f.message, seen)) result = true;
  }
  seen.delete(desc);
  if (seen.size === 0) walkedTypes.set(desc, result);
  return result;
}

class TreeEncoder {
  // One writer for all small pieces: flushed before every child or reference, so order holds.
  private readonly writer = new BinaryWriter();

  message(desc: DescMessage, msg: Fields): EncodedTree {
    const tree: EncodedTree = { size: 0, parts: [] };
    const fields = [...desc.fields].sort((a, b) => a.number - b.number);
    for (const field of fields) this.field(tree, field, msg);
    for (const u of msg.$unknown ?? []) this.writer.tag(u.no, u.wireType).raw(u.data);
    this.flush(tree);
    return tree;
  }

  private flush(tree: EncodedTree): void {
    const piece = this.writer.finish();
    if (piece.byteLength > 0) {
      tree.parts.push(piece);
      tree.size += piece.byteLength;
    }
  }

  private field(tree: EncodedTree, field: DescField, msg: Fields): void {
    if (field.fieldKind === 'map') {
      throw new Error(`map field ${field.parent.typeName}.${field.name} is not expected in ONNX messages`);
    }
    if (field.fieldKind === 'list') {
      const items = msg[field.localName] as unknown[];
      if (items.length === 0) return;
      if (field.listKind === 'message') {
        for (const item of items) this.child(tree, field.number, field.message, item as Fields);
      } else {
        const scalar = field.listKind === 'enum' ? ScalarType.INT32 : field.scalar;
        if (field.packed) {
          this.writer.tag(field.number, WireType.LengthDelimited).fork();
          for (const item of items) writeScalar(this.writer, scalar, item);
          this.writer.join();
        } else {
          for (const item of items) this.scalar(tree, field.number, scalar, item);
        }
      }
      return;
    }
    let value: unknown;
    if (field.oneof) {
      const group = msg[field.oneof.localName] as { case?: string; value?: unknown };
      if (group.case !== field.localName) return;
      value = group.value;
    } else {
      value = msg[field.localName];
      if (field.presence !== IMPLICIT) {
        if (value === undefined || !Object.prototype.hasOwnProperty.call(msg, field.localName)) return;
      } else if (isZero(field, value)) {
        return;
      }
    }
    if (field.fieldKind === 'message') this.child(tree, field.number, field.message, value as Fields);
    else this.scalar(tree, field.number, field.fieldKind === 'enum' ? ScalarType.INT32 : field.scalar, value);
  }

  private scalar(tree: EncodedTree, fieldNo: number, scalar: ScalarType, value: unknown): void {
    if (scalar === ScalarType.BYTES && (value as Uint8Array).byteLength >= REFERENCE_BYTES) {
      const bytes = value as Uint8Array;
      this.writer.tag(fieldNo, WireType.LengthDelimited).uint32(bytes.byteLength);
      this.flush(tree);
      tree.parts.push(bytes);
      tree.size += bytes.byteLength;
      return;
    }
    this.writer.tag(fieldNo, wireTypeOf(scalar));
    writeScalar(this.writer, scalar, value);
  }

  private child(tree: EncodedTree, fieldNo: number, desc: DescMessage, value: Fields): void {
    if (!holdsBytes(desc)) {
      this.writer.tag(fieldNo, WireType.LengthDelimited).bytes(toBinary(desc, value as never));
      return;
    }
    this.flush(tree);
    const sub = this.message(desc, value);
    this.writer.tag(fieldNo, WireType.LengthDelimited).uint32(sub.size);
    this.flush(tree);
    tree.parts.push(sub);
    tree.size += sub.size;
  }
}

function isZero(field: DescField, value: unknown): boolean {
  if (field.fieldKind === 'enum') return value === field.enum.values[0].number;
  if (field.fieldKind !== 'scalar') return false;
  switch (field.scalar) {
    case ScalarType.BOOL:
      return value === false;
    case ScalarType.STRING:
      return value === '';
    case ScalarType.BYTES:
      return value instanceof Uint8Array && value.byteLength === 0;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return Object.is(value, 0);
    default:
      return value == 0;
  }
}

function wireTypeOf(scalar: ScalarType): WireType {
  switch (scalar) {
    case ScalarType.BYTES:
    case ScalarType.STRING:
      return WireType.LengthDelimited;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
    case ScalarType.FLOAT:
      return WireType.Bit32;
    default:
      return WireType.Varint;
  }
}

type Int64 = bigint | string | number;

function writeScalar(w: BinaryWriter, scalar: ScalarType, v: unknown): void {
  switch (scalar) {
    case ScalarType.STRING: w.string(v as string); break;
    case ScalarType.BOOL: w.bool(v as boolean); break;
    case ScalarType.DOUBLE: w.double(v as number); break;
    case ScalarType.FLOAT: w.float(v as number); break;
    case ScalarType.INT32: w.int32(v as number); break;
    case ScalarType.INT64: w.int64(v as Int64); break;
    case ScalarType.UINT64: w.uint64(v as Int64); break;
    case ScalarType.FIXED64: w.fixed64(v as Int64); break;
    case ScalarType.BYTES: w.bytes(v as Uint8Array); break;
    case ScalarType.FIXED32: w.fixed32(v as number); break;
    case ScalarType.SFIXED32: w.sfixed32(v as number); break;
    case ScalarType.SFIXED64: w.sfixed64(v as Int64); break;
    case ScalarType.SINT64: w.sint64(v as Int64); break;
    case ScalarType.UINT32: w.uint32(v as number); break;
    case ScalarType.SINT32: w.sint32(v as number); break;
  }
}
