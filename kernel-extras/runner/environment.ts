import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MMKIT_VERSION, PACKAGE_ROOT } from '../../sdk/version';

/** Packages whose versions decide what a notebook computes and shows. */
const TRACKED_PACKAGES = ['onnxruntime-node', 'onnxruntime-web', '@tensorflow/tfjs', 'tslab', 'vega', 'vega-lite', 'danfojs-node'];

function installedVersion(name: string): string {
  const manifest = path.join(PACKAGE_ROOT, 'node_modules', name, 'package.json');
  return existsSync(manifest) ? (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version : 'not installed';
}

/** The machine and software a notebook ran on, for its report. */
export function environmentFacts(): Record<string, string> {
  const cpus = os.cpus();
  return {
    mmkit: MMKIT_VERSION,
    node: process.version,
    platform: `${os.platform()} ${os.release()} (${os.arch()})`,
    cpu: cpus.length > 0 ? `${cpus[0].model} × ${cpus.length}` : 'unknown',
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    ...Object.fromEntries(TRACKED_PACKAGES.map((name) => [name, installedVersion(name)])),
  };
}
