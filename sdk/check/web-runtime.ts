/**
 * onnxruntime-web in Node: its wasm backend is the CPU build a browser or a web worker runs, so a
 * model that loads and runs here loads and runs in a web app's default wasm backend.
 */
import type * as OrtWeb from 'onnxruntime-web';
import type { TensorData } from '../tensor-data';
import type { DType, TensorArray } from '../onnx';

type OrtWebModule = typeof OrtWeb;

let loaded: OrtWebModule | undefined;

/** onnxruntime-web, loaded on first use (its wasm binary is compiled then, once per process). */
export function ortWeb(): OrtWebModule {
  if (!loaded) {
    // require, not import(): in Node the package resolves to its CommonJS build for Node.
    loaded = require('onnxruntime-web') as OrtWebModule;
    // Failures reach us as exceptions; the wasm module's own copy on stderr would be noise.
    if (loaded.env.logLevel === 'warning') loaded.env.logLevel = 'fatal';
  }
  return loaded;
}

/** A loaded onnxruntime-web (wasm) session over serialized model bytes. */
export interface WebSession {
  inputNames: readonly string[];
  outputNames: readonly string[];
  run(feeds: Record<string, TensorData>): Promise<Record<string, TensorData>>;
  release(): Promise<void>;
}

export async function createWebSession(bytes: Uint8Array): Promise<WebSession> {
  const web = ortWeb();
  const session = await web.InferenceSession.create(bytes, { executionProviders: ['wasm'], logSeverityLevel: 4 });
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds) {
      const ortFeeds: Record<string, OrtWeb.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new web.Tensor(t.dtype as OrtWeb.Tensor.Type, t.data as OrtWeb.Tensor.DataType, t.dims);
      const out = await session.run(ortFeeds);
      const result: Record<string, TensorData> = {};
      for (const [name, t] of Object.entries(out)) result[name] = { data: t.data as TensorArray, dims: [...t.dims], dtype: t.type as DType };
      return result;
    },
    release: () => session.release(),
  };
}
