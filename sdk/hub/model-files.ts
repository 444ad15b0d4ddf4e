import * as path from 'node:path';
import { MmkitError } from '../errors';
import { allInitializers, externalRef, isExternal, readModel } from '../onnx';

/**
 * The external data files an ONNX file refers to, as repo paths beside it
 * (e.g. onnx/model.onnx → onnx/model.onnx_data). Parsing does not load the data itself.
 */
export async function externalDataFiles(modelPath: string, modelFile: string): Promise<string[]> {
  const { proto } = await readModel(modelPath);
  const locations = new Set<string>();
  if (proto.graph) {
    for (const t of allInitializers(proto.graph)) if (isExternal(t)) locations.add(externalRef(t).location);
  }
  const dir = path.posix.dirname(modelFile);
  return [...locations].map((location) => {
    const file = path.posix.normalize(path.posix.join(dir, location.replace(/\\/g, '/')));
    if (path.posix.isAbsolute(location) || file.startsWith('../') || file === '..') {
      throw new MmkitError('EXTERNAL_DATA', `${modelFile} points at external data '${location}', outside the repo folder of the model.`, {
        file: modelPath,
        hint: 'The hub file is damaged or hostile; external data must sit beside the .onnx file.',
      });
    }
    return file === '.' ? location : file.replace(/^\.\//, '');
  });
}

/** config.json's id2label with numeric keys ({"0": "cat"} → {0: "cat"}), when it has one. */
export function id2labelOf(config: Record<string, unknown> | undefined): Record<number, string> | undefined {
  const raw = config?.id2label;
  if (typeof raw !== 'object' || raw === null) return undefined;
  const out: Record<number, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (Number.isInteger(Number(k)) && typeof v === 'string') out[Number(k)] = v;
  }
  return Object.keys(out).length ? out : undefined;
}
