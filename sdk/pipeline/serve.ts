/**
 * `pipeline.serve()`: serves a pipeline's model from this process over the Open Inference
 * Protocol, for a notebook or a test. The model is saved to a private temporary folder (the
 * instances load it in their worker threads), which close() removes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { startServer, type ServeOptions, type ServerHandle } from '../serve/server';
import { singleModelConfig, type SingleModelOptions } from '../serve/single-model';
import type { SaveOptions, SaveResult } from './save';

export type PipelineServeOptions = SingleModelOptions & Omit<ServeOptions, 'models'>;

export async function servePipeline(save: (file: string, opts: SaveOptions) => Promise<SaveResult>, defaultName: string, opts: PipelineServeOptions): Promise<ServerHandle> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mmkit-serve-'));
  const removeDir = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    const file = path.join(dir, 'model.onnx');
    await save(file, {});
    const { host, httpPort, grpcPort, maxBodyBytes, drainTimeoutMs, ...model } = opts;
    const config = await singleModelConfig(file, { ...model, name: model.name ?? defaultName });
    // A notebook's server listens on loopback and on free ports unless told otherwise.
    const handle = await startServer({ models: [config], host: host ?? '127.0.0.1', httpPort: httpPort ?? 0, grpcPort: grpcPort === undefined ? 0 : grpcPort, maxBodyBytes, drainTimeoutMs });
    try {
      await handle.ready;
    } catch (e) {
      await handle.close();
      throw e;
    }
    return {
      ...handle,
      close: async () => {
        const drained = await handle.close();
        await removeDir();
        return drained;
      },
    };
  } catch (e) {
    await removeDir();
    throw e;
  }
}
