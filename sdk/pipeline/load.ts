import { readModel, type OnnxModel } from '../onnx';
import { resolveHubModel } from '../hub';
import { hashFile } from '../hash-file';
import { loadFileSource, sourceKind } from './source';
import { downloadModelUrl } from './url-source';

export interface LoadedSource {
  model: OnnxModel;
  sha256: string;
  /** The source pinned exactly (hub references gain their commit), for recipes. */
  pinnedUri: string;
  /** Files a save must never replace: the model and what it was read from. */
  protect: string[];
}

/** Reads the model a pipeline starts from, with the sha256 a recipe pins it by. */
export async function loadSource(uri: string): Promise<LoadedSource> {
  switch (sourceKind(uri)) {
    case 'hub': {
      const r = await resolveHubModel(uri);
      const model = await readModel(r.modelPath);
      return { model, sha256: r.modelSha256, pinnedUri: `hf:${r.repo}@${r.revision}:${r.file}`, protect: [r.modelPath, ...r.externalDataPaths] };
    }
    case 'url': {
      const file = await downloadModelUrl(uri);
      return { model: await readModel(file), sha256: await hashFile(file), pinnedUri: uri, protect: [file] };
    }
    case 'file': {
      const model = await loadFileSource(uri);
      return { model, sha256: await hashFile(model.path ?? uri), pinnedUri: uri, protect: [model.path ?? uri] };
    }
  }
}
