import { promises as fsp } from 'node:fs';

const METADATA_PROPS_FIELD = 14; // ModelProto.metadata_props
const KEY_FIELD = 1; // StringStringEntryProto.key
const VALUE_FIELD = 2; // StringStringEntryProto.value

/**
 * Reads ModelProto.metadata_props from an ONNX file without parsing the graph: walks the
 * top-level protobuf fields with small positional reads and skips over the rest, so checking a
 * multi-GB file costs a few reads. Returns undefined when the file is not a readable model.
 */
export async function readModelMetadata(file: string): Promise<Map<string, string> | undefined> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(20);
    const props = new Map<string, string>();
    let pos = 0;
    while (pos < size) {
      const { bytesRead } = await fh.read(head, 0, head.length, pos);
      const tag = varint(head, 0, bytesRead);
      if (!tag) return undefined;
      const field = Number(tag.value >> 3n);
      const wire = Number(tag.value & 7n);
      let at = pos + tag.length;
      if (wire === 0) {
        const { bytesRead: n } = await fh.read(head, 0, head.length, at);
        const v = varint(head, 0, n);
        if (!v) return undefined;
        at += v.length;
      } else if (wire === 1) at += 8;
      else if (wire === 5) at += 4;
      else if (wire === 2) {
        const { bytesRead: n } = await fh.read(head, 0, head.length, at);
        const len = varint(head, 0, n);
        if (!len) return undefined;
        at += len.length;
        if (field === METADATA_PROPS_FIELD) {
          const entry = Buffer.alloc(Number(len.value));
          await fh.read(entry, 0, entry.length, at);
          const kv = parseEntry(entry);
          if (kv) props.set(kv[0], kv[1]);
        }
        at += Number(len.value);
      } else return undefined;
      if (at > size) return undefined;
      pos = at;
    }
    return props;
  } finally {
    await fh.close();
  }
}

function varint(buf: Buffer, start: number, end: number): { value: bigint; length: number } | undefined {
  let value = 0n;
  for (let i = start, shift = 0n; i < end && i - start < 10; i++, shift += 7n) {
    value |= BigInt(buf[i] & 0x7f) << shift;
    if ((buf[i] & 0x80) === 0) return { value, length: i - start + 1 };
  }
  return undefined;
}

function parseEntry(buf: Buffer): [string, string] | undefined {
  let key = '';
  let value = '';
  let pos = 0;
  while (pos < buf.length) {
    const tag = varint(buf, pos, buf.length);
    if (!tag || Number(tag.value & 7n) !== 2) return undefined;
    pos += tag.length;
    const len = varint(buf, pos, buf.length);
    if (!len) return undefined;
    pos += len.length;
    const text = buf.subarray(pos, pos + Number(len.value)).toString('utf8');
    pos += Number(len.value);
    const field = Number(tag.value >> 3n);
    if (field === KEY_FIELD) key = text;
    else if (field === VALUE_FIELD) value = text;
  }
  return [key, value];
}
