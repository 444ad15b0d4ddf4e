import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { MmkitError, isMmkitError, messageOf } from '../errors';
import { encodeTree, joinTree, treePieces, type EncodedTree } from './encode';
import { externalRef, isExternal, readExternalBytes, resolveExternalPath } from './external';
import {
  canKeepOffsets,
  decideExternalData,
  DEFAULT_ALIGN,
  packOffsets,
  PROTOBUF_LIMIT,
  type ExternalDataOptions,
  type ExternalMode,
} from './layout';
import { DataLocation, DataType, ModelProtoSchema, StringStringEntryProtoSchema, type ModelProto, type TensorProto } from './proto';
import type { OnnxModel } from './read';
import { tensorArray, tensorByteSize } from './tensor';
import { allInitializers, mapInitializers, shallowCopy } from './walk';

export interface WriteOptions {
  /**
   * true or options: tensors of `threshold` bytes or more go to an external data file.
   * false: everything inline. Unset: a model loaded with external data keeps that layout; any
   * other model is inline. Models over protobuf's 2 GiB limit always get external data.
   */
  externalData?: boolean | ExternalDataOptions;
  /** The inline size limit; defaults to protobuf's 2 GiB. Lower it to exercise the switch. */
  maxInlineBytes?: number;
}

export interface WriteResult {
  /** Bytes written, all files together. */
  bytes: number;
  /** Absolute paths written: the .onnx file first, then its external data file if any. */
  files: string[];
  /** Decisions mmkit took on its own (e.g. switching to external data), in plain words. */
  notices: string[];
}

function isOnnxModel(model: OnnxModel | ModelProto): model is OnnxModel {
  return (model as ModelProto).$typeName !== 'onnx.ModelProto';
}

/** The model as one buffer; external tensors stay references to their files. */
export function serializeModel(model: OnnxModel | ModelProto): Uint8Array {
  const tree = encodeTree(ModelProtoSchema, isOnnxModel(model) ? model.proto : model);
  if (tree.size > PROTOBUF_LIMIT) {
    throw new MmkitError('UNSUPPORTED', `The model is ${tree.size} bytes, over protobuf's 2 GiB limit for one serialized model.`, {
      hint: 'Save it with writeModel(model, path), which moves the weights to an external data file.',
    });
  }
  return joinTree(tree);
}

/** A run of bytes in the data file; `read` is lazy so source external tensors are read one at a time. */
interface DataEntry {
  offset: number;
  length: number;
  read: () => Uint8Array;
}

interface SavePlan {
  proto: ModelProto;
  data?: { file: string; entries: DataEntry[] };
}

/**
 * Saves a model atomically (temp files in the target folder, renamed at the end; nothing is
 * left behind on failure). Weights are streamed from memory to disk without extra copies.
 */
export async function writeModel(model: OnnxModel | ModelProto, file: string, opts: WriteOptions = {}): Promise<WriteResult> {
  const source = isOnnxModel(model) ? model : { proto: model };
  const target = path.resolve(file);
  const externals = source.proto.graph ? [...allInitializers(source.proto.graph)].filter(isExternal) : [];
  const inlineBytes = encodeTree(ModelProtoSchema, source.proto).size + externals.reduce((n, t) => n + tensorByteSize(t), 0);
  const decision = decideExternalData(opts.externalData, inlineBytes, externals.length > 0, opts.maxInlineBytes);
  const notices = decision.notice ? [decision.notice] : [];

  const temps: string[] = [];
  try {
    const plan = planSave(source, target, decision.mode);
    await fs.mkdir(path.dirname(target), { recursive: true });
    let bytes = 0;
    const renames: Array<[string, string]> = [];
    if (plan.data) {
      const tmp = tempPath(plan.data.file);
      temps.push(tmp);
      bytes += await writeDataFile(tmp, plan.data.entries);
      renames.push([tmp, plan.data.file]);
    }
    const tree = encodeTree(ModelProtoSchema, plan.proto);
    const tmp = tempPath(target);
    temps.push(tmp);
    bytes += await writeTree(tmp, tree);
    // Data file first: the .onnx file never points at data that is not in place yet.
    renames.push([tmp, target]);
    for (const [from, to] of renames) await fs.rename(from, to);
    return { bytes, files: [target, ...(plan.data ? [plan.data.file] : [])], notices };
  } catch (e) {
    await Promise.all(temps.map((t) => fs.rm(t, { force: true })));
    // Refusals of the request itself keep their own code; anything that broke the write is WRITE_FAILED.
    if (isMmkitError(e, 'OVERWRITE_SOURCE') || isMmkitError(e, 'BAD_OPTION')) throw e;
    throw new MmkitError('WRITE_FAILED', `Saving the model to ${target} failed, nothing was written: ${messageOf(e)}`, {
      file: target,
      tensor: isMmkitError(e) ? e.tensor : undefined,
      hint: isMmkitError(e) && e.hint ? undefined : 'Check that the folder is writable and the disk has room for the model.',
      cause: e,
    });
  }
}

function tempPath(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

function planSave(source: OnnxModel, target: string, mode: ExternalMode): SavePlan {
  switch (mode.kind) {
    case 'inline':
      return { proto: mapInitializers(source.proto, (t) => (isExternal(t) ? inlineCopy(t, readExternalBytes(t, source.baseDir, tensorByteSize(t))) : t)) };
    case 'external':
      return planExternal(source, target, mode.location ?? `${path.basename(target)}.data`, (t) => t.dataType !== DataType.STRING && tensorByteSize(t) >= mode.threshold, mode.align);
    case 'keep':
      return planKeep(source, target);
  }
}

/** Moves the chosen initializers to one data file, packed in model order. */
function planExternal(source: OnnxModel, target: string, location: string, goesExternal: (t: TensorProto) => boolean, align: number): SavePlan {
  const dataFile = dataFilePath(source, target, location);
  const chosen = [...allInitializers(source.proto.graph!)].filter(goesExternal);
  const placed = packOffsets(chosen.map(tensorByteSize), align);
  const entries: DataEntry[] = [];
  const moved = new Map<TensorProto, TensorProto>();
  chosen.forEach((t, i) => {
    const { offset, length } = placed[i];
    entries.push({ offset, length, read: () => bytesOf(t, source) });
    moved.set(t, externalCopy(t, location, offset, length));
  });
  return { proto: mapInitializers(source.proto, (t) => moved.get(t) ?? t), data: { file: dataFile, entries } };
}

/**
 * Keeps the source's external layout: the tensors that were external stay external, at their
 * old offsets when they came from one file and still fill it; otherwise they are repacked.
 */
function planKeep(source: OnnxModel, target: string): SavePlan {
  const externals = [...allInitializers(source.proto.graph!)].filter(isExternal);
  const refs = externals.map((t) => ({ ...externalRef(t), length: tensorByteSize(t) }));
  const locations = new Set(refs.map((r) => r.location));
  const sourcePath = source.path ? path.basename(source.path) : undefined;
  const single = [...locations][0];
  // onnx's convention names the data file after the model; follow the new name in that case.
  const location = locations.size === 1 && single !== `${sourcePath}.data` ? single : `${path.basename(target)}.data`;
  if (locations.size !== 1 || !canKeepOffsets(refs)) {
    return planExternal(source, target, location, isExternal, DEFAULT_ALIGN);
  }
  const dataFile = dataFilePath(source, target, location);
  const entries: DataEntry[] = [];
  const moved = new Map<TensorProto, TensorProto>();
  externals.forEach((t, i) => {
    const { offset, length } = refs[i];
    entries.push({ offset, length, read: () => bytesOf(t, source) });
    if (location !== single) moved.set(t, externalCopy(t, location, offset, length));
  });
  return { proto: mapInitializers(source.proto, (t) => moved.get(t) ?? t), data: { file: dataFile, entries } };
}

/** The data file's path; refuses to overwrite a file the source model still reads its weights from. */
function dataFilePath(source: OnnxModel, target: string, location: string): string {
  const dataFile = resolveExternalPath(path.dirname(target), location, '(data file)');
  if (source.baseDir !== undefined && source.proto.graph) {
    for (const t of allInitializers(source.proto.graph)) {
      if (isExternal(t) && resolveExternalPath(source.baseDir, externalRef(t).location, t.name) === dataFile) {
        throw new MmkitError('OVERWRITE_SOURCE', `Saving to ${target} would overwrite ${dataFile}, which the model still reads tensor '${t.name}' from.`, {
          file: dataFile,
          tensor: t.name,
          hint: 'Save to another file name or folder, or pass { externalData: { location: "other.data" } }.',
        });
      }
    }
  }
  return dataFile;
}

function bytesOf(t: TensorProto, source: OnnxModel): Uint8Array {
  if (isExternal(t)) return readExternalBytes(t, source.baseDir, tensorByteSize(t));
  if (t.rawData.byteLength > 0) return t.rawData;
  const array = tensorArray(t, source);
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

function externalCopy(t: TensorProto, location: string, offset: number, length: number): TensorProto {
  const copy = withoutData(t);
  copy.dataLocation = DataLocation.EXTERNAL;
  copy.externalData = [
    create(StringStringEntryProtoSchema, { key: 'location', value: location }),
    create(StringStringEntryProtoSchema, { key: 'offset', value: String(offset) }),
    create(StringStringEntryProtoSchema, { key: 'length', value: String(length) }),
  ];
  return copy;
}

function inlineCopy(t: TensorProto, bytes: Uint8Array): TensorProto {
  const copy = withoutData(t);
  copy.rawData = bytes as Uint8Array<ArrayBuffer>;
  return copy;
}

/** A copy of the tensor's metadata with every data field and the external markers cleared. */
function withoutData(t: TensorProto): TensorProto {
  const copy = shallowCopy(t, { floatData: [], int32Data: [], int64Data: [], doubleData: [], uint64Data: [], externalData: [] });
  // Unset (not empty) so they are not written: bufbuild tracks proto2 presence by own properties.
  delete (copy as Partial<TensorProto>).rawData;
  delete (copy as Partial<TensorProto>).dataLocation;
  return copy;
}

// Pieces per writev call and bytes per batch: bounded so a batch never pins much memory.
const MAX_IOVECS = 512;
const MAX_BATCH_BYTES = 64 * 1024 * 1024;

async function writePieces(file: string, pieces: Iterable<Uint8Array>): Promise<number> {
  const handle = await fs.open(file, 'wx');
  let written = 0;
  try {
    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      let done = (await handle.writev(batch)).bytesWritten;
      // writev may stop short; finish the rest piece by piece.
      for (const piece of batch) {
        if (done >= piece.byteLength) {
          done -= piece.byteLength;
          continue;
        }
        let pos = done;
        while (pos < piece.byteLength) pos += (await handle.write(piece, pos, piece.byteLength - pos)).bytesWritten;
        done = 0;
      }
      written += batchBytes;
      batch = [];
      batchBytes = 0;
    };
    for (const piece of pieces) {
      batch.push(piece);
      batchBytes += piece.byteLength;
      if (batch.length >= MAX_IOVECS || batchBytes >= MAX_BATCH_BYTES) await flush();
    }
    await flush();
    await handle.sync();
  } finally {
    await handle.close();
  }
  return written;
}

function writeTree(file: string, tree: EncodedTree): Promise<number> {
  return writePieces(file, treePieces(tree));
}

function* dataPieces(entries: readonly DataEntry[]): Generator<Uint8Array> {
  let end = 0;
  for (const entry of [...entries].sort((a, b) => a.offset - b.offset)) {
    if (entry.offset > end) yield new Uint8Array(entry.offset - end);
    const bytes = entry.read();
    if (bytes.byteLength !== entry.length) {
      throw new Error(`tensor data is ${bytes.byteLength} bytes, expected ${entry.length}`);
    }
    yield bytes;
    end = entry.offset + entry.length;
  }
}

function writeDataFile(file: string, entries: readonly DataEntry[]): Promise<number> {
  return writePieces(file, dataPieces(entries));
}
