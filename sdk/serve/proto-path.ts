/**
 * Where the Open Inference Protocol's .proto lies. tsc does not copy .proto files into dist/, so
 * the file stays in the package's sdk/serve/proto/ whether this module runs from sources
 * (sdk/serve/, under vitest) or compiled (dist/sdk/serve/): find the package root and go from there.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { MmkitError } from '../errors';

const PROTO_IN_PACKAGE = path.join('sdk', 'serve', 'proto', 'grpc_predict_v2.proto');

let cached: string | undefined;

/** The absolute path of grpc_predict_v2.proto (package `inference`, service `GRPCInferenceService`). */
export function inferenceProtoPath(): string {
  if (cached) return cached;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, PROTO_IN_PACKAGE))) {
      cached = path.join(dir, PROTO_IN_PACKAGE);
      return cached;
    }
    if (path.dirname(dir) === dir) break;
  }
  throw new MmkitError('FILE_NOT_FOUND', `Cannot find ${PROTO_IN_PACKAGE} above ${__dirname}.`, {
    file: PROTO_IN_PACKAGE,
    hint: 'The .proto ships in the mmkit package beside package.json; reinstall mmkit if it is missing.',
  });
}
