import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { MmkitError, messageOf } from '../errors';
import { ModelProtoSchema, type ModelProto } from './proto';
import { densifySparseInitializers } from './sparse';

/** A parsed model and where it came from (baseDir is where its external data files are looked up). */
export interface OnnxModel {
  proto: ModelProto;
  path?: string;
  baseDir?: string;
  fileBytes?: number;
}

/**
 * A pass's result: a new graph is no longer the file it came from (sizes must come from its own
 * bytes), but keeps baseDir so weights still in the source's external data files can be read.
 */
export function derivedModel(from: OnnxModel, proto: ModelProto): OnnxModel {
  return proto === from.proto ? from : { proto, baseDir: from.baseDir };
}

export interface ParseOptions {
  /** Names the bytes' origin in error messages (a path or URL). */
  source?: string;
  /** Folder that external data locations are relative to. */
  baseDir?: string;
}

export async function readModel(file: string): Promise<OnnxModel> {
  let bytes: Uint8Array;
  try {
    const buffer = await fs.readFile(file);
    // A plain Uint8Array view: bytes fields then slice() like typed arrays do (Buffer's slice does not copy).
    bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new MmkitError('FILE_NOT_FOUND', `ONNX model ${file} does not exist.`, {
        file,
        hint: 'Check the path (relative paths start at the current directory: ' + process.cwd() + ').',
        cause: e,
      });
    }
    if (code === 'EISDIR') {
      throw new MmkitError('NOT_ONNX', `${file} is a folder, not an .onnx file.`, { file, hint: 'Point at the .onnx file inside it.' });
    }
    throw new MmkitError('FILE_NOT_FOUND', `ONNX model ${file} cannot be read (${messageOf(e)}).`, { file, hint: 'Check the file permissions.', cause: e });
  }
  const model = parseModel(bytes, { source: file, baseDir: path.dirname(path.resolve(file)) });
  return { ...model, path: file };
}

/**
 * Parses ONNX bytes. Unknown fields are kept, and bytes fields (raw_data...) are views into
 * `bytes`, so the buffer stays alive as long as the model does; nothing is copied.
 */
export function parseModel(bytes: Uint8Array, opts: ParseOptions = {}): OnnxModel {
  const source = opts.source ?? 'the given bytes';
  const notOnnx = (why: string, cause?: unknown): MmkitError =>
    new MmkitError('NOT_ONNX', `${source} is not an ONNX model: ${why}.`, {
      file: opts.source,
      hint: 'Pass a .onnx file (a serialized onnx.ModelProto), e.g. one exported by torch.onnx.export or optimum.',
      cause,
    });
  if (bytes.byteLength === 0) throw notOnnx('it is empty');
  let proto: ModelProto;
  try {
    proto = fromBinary(ModelProtoSchema, bytes);
  } catch (e) {
    if (looksTruncated(bytes)) {
      throw new MmkitError('TRUNCATED', `${source} is cut off: the ONNX data ends before the model does (${bytes.byteLength} bytes).`, {
        file: opts.source,
        hint: 'The download or copy did not finish; fetch or export the file again.',
        cause: e,
      });
    }
    throw notOnnx(`protobuf decoding failed (${messageOf(e)})`, e);
  }
  if (proto.graph === undefined) throw notOnnx('it has no graph');
  if (!Object.prototype.hasOwnProperty.call(proto, 'irVersion') && proto.opsetImport.length === 0) {
    throw notOnnx('it has neither ir_version nor opset_import');
  }
  // Sparse initializers (a sparse save) become dense ones again: passes and GraphView read only `initializer`.
  return densifySparseInitializers({ proto, baseDir: opts.baseDir, fileBytes: bytes.byteLength });
}

// ModelProto's field numbers and wire types (0 varint, 2 length-delimited).
const MODEL_FIELDS = new Map<number, number>([
  [1, 0], [2, 2], [3, 2], [4, 2], [5, 0], [6, 2], [7, 2], [8, 2], [14, 2], [20, 2], [25, 2], [26, 2],
]);

/**
 * After a failed parse: true when the bytes start like a ModelProto (every top-level field is a
 * ModelProto field with the right wire type) and the last one claims more bytes than remain,
 * i.e. a real model that was cut off, as opposed to bytes that were never a model.
 */
function looksTruncated(bytes: Uint8Array): boolean {
  let pos = 0;
  let fields = 0;
  const varint = (): number | undefined => {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= bytes.byteLength) return undefined;
      const b = bytes[pos++];
      result += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) return result;
    }
    return undefined;
  };
  while (pos < bytes.byteLength) {
    const tag = varint();
    if (tag === undefined) return fields > 0;
    const fieldNo = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (MODEL_FIELDS.get(fieldNo) !== wireType) return false;
    fields++;
    const value = varint();
    if (value === undefined) return true;
    if (wireType === 2) {
      if (pos + value > bytes.byteLength) return true;
      pos += value;
    }
  }
  // Every top-level field is intact, so a nested message was damaged rather than cut off.
  return false;
}
