import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isMmkitError, type MmkitError } from '../sdk/errors';
import { hubSettings, parseHubRef, resolveHubModel, type ResolveHubOptions } from '../sdk/hub';
import { ModelBuilder, serializeModel, writeModel } from '../sdk/onnx';
import { createSession } from '../sdk/runtime';
import { LocalHub } from './helpers/hub-server';
import { testTempDir } from './helpers/temp';

const COMMIT = 'a'.repeat(40);
const WIDTH = 256; // a 256×256 float weight: 256 KiB, enough to cut a download in the middle

/** y = x · W with W[i][j] = (i + j) mod 7 − 3, so outputs can be checked by hand. */
function matmulModel(): ModelBuilder {
  const b = new ModelBuilder({ opset: 17 });
  b.input('x', 'float32', [1, WIDTH]);
  const w = Float32Array.from({ length: WIDTH * WIDTH }, (_, k) => ((Math.floor(k / WIDTH) + (k % WIDTH)) % 7) - 3);
  const y = b.node('MatMul', ['x', b.initializer('W', 'float32', [WIDTH, WIDTH], w)], {}, { outputs: ['y'] })[0];
  b.output(y, 'float32', [1, WIDTH]);
  return b;
}

/** x = e_0 picks row 0 of W: y[j] = j mod 7 − 3. */
async function expectRunsRight(modelPath: string): Promise<void> {
  const session = await createSession(modelPath);
  const x = new Float32Array(WIDTH);
  x[0] = 1;
  const { y } = await session.run({ x: { data: x, dims: [1, WIDTH], dtype: 'float32' } });
  await session.dispose();
  expect(Array.from(y.data as Float32Array).slice(0, 8)).toEqual([-3, -2, -1, 0, 1, 2, 3, -3]);
}

const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
const CONFIG = { model_type: 'vit', id2label: { '0': 'cat', '1': 'dog' } };
const PREPROCESSOR = { do_resize: true, size: { height: 4, width: 4 }, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] };

/** An http://127.0.0.1:<port> where nothing listens. */
async function closedEndpoint(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((done) => server.close(done));
  return `http://127.0.0.1:${port}`;
}

async function rejection(p: Promise<unknown>): Promise<MmkitError> {
  try {
    await p;
  } catch (e) {
    if (isMmkitError(e)) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe('parseHubRef', () => {
  it('reads repo, revision and variant', () => {
    expect(parseHubRef('hf:org/vit')).toEqual({ repo: 'org/vit', revision: undefined, variant: 'model', modelFile: 'onnx/model.onnx' });
    expect(parseHubRef('hf:org/vit@v1.0:model_quantized')).toMatchObject({ revision: 'v1.0', modelFile: 'onnx/model_quantized.onnx' });
    expect(parseHubRef('hf:org/clip:vision_model').modelFile).toBe('onnx/vision_model.onnx');
    expect(parseHubRef('hf:org/vit:exports/int8.onnx').modelFile).toBe('exports/int8.onnx');
    expect(parseHubRef('hf:gpt2').repo).toBe('gpt2');
  });

  it('rejects malformed references with BAD_OPTION', () => {
    for (const bad of ['org/vit', 'hf:', 'hf:a/b/c', 'hf:org/vit@', 'hf:org/vit:', 'hf:org/vit:../x.onnx', 'hf:../etc']) {
      expect(() => parseHubRef(bad), bad).toThrowError(expect.objectContaining({ code: 'BAD_OPTION' }));
    }
  });
});

describe('hubSettings', () => {
  it('honours HF_ENDPOINT, HF_HOME, HF_HUB_OFFLINE and HF_TOKEN; options win', () => {
    const env = { HF_ENDPOINT: 'http://mirror.local/', HF_HOME: '/tmp/hfhome', HF_HUB_OFFLINE: '1', HF_TOKEN: 'tok' };
    expect(hubSettings({}, env)).toEqual({ endpoint: 'http://mirror.local', cacheDir: '/tmp/hfhome/hub', offline: true, token: 'tok' });
    expect(hubSettings({ endpoint: 'http://other', offline: false, cacheDir: '/tmp/c' }, env)).toMatchObject({ endpoint: 'http://other', offline: false, cacheDir: '/tmp/c' });
  });

  it('falls back to ~/.cache/mmkit/hub when there is no huggingface cache', () => {
    const home = testTempDir('xdg');
    expect(hubSettings({}, { XDG_CACHE_HOME: home }).cacheDir).toBe(path.join(home, 'mmkit', 'hub'));
    fs.mkdirSync(path.join(home, 'huggingface'));
    expect(hubSettings({}, { XDG_CACHE_HOME: home }).cacheDir).toBe(path.join(home, 'huggingface', 'hub'));
  });
});

describe('resolveHubModel against a local hub', () => {
  const hub = new LocalHub();
  let endpoint = '';
  let modelBytes: Uint8Array;
  let work = '';
  let cacheDir = '';
  const opts = (extra: ResolveHubOptions = {}): ResolveHubOptions => ({ endpoint, cacheDir, offline: false, token: undefined, ...extra });

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'mmkit-hub-'));
    modelBytes = serializeModel(matmulModel().build());
    // The same model saved with its weight in onnx/model.onnx_data, as Optimum exports large models.
    const ext = await writeModel(matmulModel().build(), path.join(work, 'ext', 'model.onnx'), { externalData: { location: 'model.onnx_data', threshold: 1024 } });
    hub.addRepo('org/vit', {
      commit: COMMIT,
      files: {
        'onnx/model.onnx': modelBytes,
        'config.json': json(CONFIG),
        'preprocessor_config.json': json(PREPROCESSOR),
      },
    });
    hub.addRepo('org/big', {
      commit: 'b'.repeat(40),
      files: { 'onnx/model.onnx': fs.readFileSync(ext.files[0]), 'onnx/model.onnx_data': fs.readFileSync(ext.files[1]) },
    });
    hub.addRepo('org/private', { commit: 'c'.repeat(40), token: 'secret', files: { 'onnx/model.onnx': modelBytes } });
    endpoint = await hub.start();
  });
  afterAll(async () => {
    await hub.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });
  beforeEach(() => {
    cacheDir = fs.mkdtempSync(path.join(work, 'cache-'));
    hub.log.length = 0;
  });

  it('downloads model, config and preprocessor into the hub cache layout; the model runs', async () => {
    const r = await resolveHubModel('hf:org/vit', opts());
    const repoDir = path.join(cacheDir, 'models--org--vit');
    expect(r).toMatchObject({ repo: 'org/vit', file: 'onnx/model.onnx', revision: COMMIT, fromCache: false, externalDataPaths: [] });
    expect(r.modelPath).toBe(path.join(repoDir, 'snapshots', COMMIT, 'onnx', 'model.onnx'));
    expect(fs.lstatSync(r.modelPath).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(r.modelPath)).toEqual(Buffer.from(modelBytes));
    expect(fs.readFileSync(path.join(repoDir, 'refs', 'main'), 'utf8')).toBe(COMMIT);
    expect(fs.readdirSync(path.join(repoDir, 'blobs')).filter((f) => f.endsWith('.incomplete'))).toEqual([]);
    expect(r.modelSha256).toBe(createHash('sha256').update(modelBytes).digest('hex'));
    expect(r.config).toEqual(CONFIG);
    expect(r.preprocessorConfig).toEqual(PREPROCESSOR);
    expect(r.id2label).toEqual({ 0: 'cat', 1: 'dog' });
    expect(r.tokenizerPath).toBeUndefined();
    // Files after the model are fetched at the commit the branch resolved to.
    expect(hub.requests('/resolve/main/').map((q) => q.path)).toEqual(['/org/vit/resolve/main/onnx/model.onnx']);
    await expectRunsRight(r.modelPath);
  });

  it('a second resolve is a cache hit that does not contact the hub', async () => {
    await resolveHubModel('hf:org/vit', opts());
    const before = hub.log.length;
    const again = await resolveHubModel('hf:org/vit', opts());
    expect(hub.log.length).toBe(before);
    expect(again.fromCache).toBe(true);
    expect(again.preprocessorConfig).toEqual(PREPROCESSOR);
    expect(again.modelSha256).toBe(createHash('sha256').update(modelBytes).digest('hex'));
    // refresh asks the hub again but downloads nothing new.
    const refreshed = await resolveHubModel('hf:org/vit', opts({ refresh: true }));
    expect(refreshed.fromCache).toBe(false);
    expect(hub.log.slice(before).every((q) => q.method === 'HEAD' || q.status === 302)).toBe(true);
  });

  it('resumes a cut download with a Range request for the rest only', async () => {
    const abort = new AbortController();
    let seen = 0;
    const e = await rejection(
      resolveHubModel('hf:org/vit', opts({
        signal: abort.signal,
        onProgress: (bytes, total, file) => {
          expect(file).toBe('onnx/model.onnx');
          expect(total).toBe(modelBytes.length);
          seen = bytes;
          if (bytes >= total! / 2) abort.abort();
        },
      })),
    );
    expect(e.code).toBe('CANCELLED');
    const blobs = path.join(cacheDir, 'models--org--vit', 'blobs');
    const [part] = fs.readdirSync(blobs).filter((f) => f.endsWith('.incomplete'));
    const have = fs.statSync(path.join(blobs, part)).size;
    expect(have).toBeGreaterThan(0);
    expect(have).toBeLessThan(modelBytes.length);
    expect(seen).toBeGreaterThan(0);

    hub.log.length = 0;
    const progress: number[] = [];
    const r = await resolveHubModel('hf:org/vit', opts({ onProgress: (bytes) => progress.push(bytes) }));
    const [get] = hub.requests('/lfs/').filter((q) => q.method === 'GET');
    expect(get.range).toBe(`bytes=${have}-`);
    expect(get.status).toBe(206);
    expect(get.bodyBytes).toBe(modelBytes.length - have);
    expect(progress[0]).toBe(have);
    expect(fs.readFileSync(r.modelPath)).toEqual(Buffer.from(modelBytes));
  });

  it('a download whose sha256 does not match the ETag is deleted and reported', async () => {
    hub.tamper = (bytes) => {
      const copy = bytes.slice();
      copy[copy.length - 1] ^= 0xff;
      return copy;
    };
    try {
      const e = await rejection(resolveHubModel('hf:org/vit', opts()));
      expect(e.code).toBe('FETCH_FAILED');
      expect(e.message).toMatch(/onnx\/model\.onnx is corrupt: its sha256 is [0-9a-f]{64}, the hub's ETag is [0-9a-f]{64}/);
      expect(fs.readdirSync(path.join(cacheDir, 'models--org--vit', 'blobs'))).toEqual([]);
    } finally {
      hub.tamper = undefined;
    }
    expect((await resolveHubModel('hf:org/vit', opts())).fromCache).toBe(false);
  });

  it('concurrent resolves of one model download it once', async () => {
    const [a, b] = await Promise.all([resolveHubModel('hf:org/vit', opts()), resolveHubModel('hf:org/vit', opts())]);
    expect(a.modelPath).toBe(b.modelPath);
    expect(hub.requests('/lfs/').filter((q) => q.method === 'GET')).toHaveLength(1);
    expect(fs.readFileSync(a.modelPath)).toEqual(Buffer.from(modelBytes));
    expect(fs.readdirSync(path.join(cacheDir, 'models--org--vit', 'blobs')).filter((f) => !/^[0-9a-f]{40,64}$/.test(f))).toEqual([]);
  });

  it('a lock left by a process that died is taken over', async () => {
    const blobs = path.join(cacheDir, 'models--org--vit', 'blobs');
    fs.mkdirSync(blobs, { recursive: true });
    const sha = createHash('sha256').update(modelBytes).digest('hex');
    fs.writeFileSync(path.join(blobs, `${sha}.lock`), '999999999');
    expect(fs.readFileSync((await resolveHubModel('hf:org/vit', opts())).modelPath)).toEqual(Buffer.from(modelBytes));
  });

  it('fetches external data the model refers to, beside it in the snapshot', async () => {
    const r = await resolveHubModel('hf:org/big', opts());
    expect(r.externalDataPaths).toEqual([path.join(path.dirname(r.modelPath), 'model.onnx_data')]);
    await expectRunsRight(r.modelPath);
    // Offline, the cached copy is complete with its data.
    const offline = await resolveHubModel('hf:org/big', opts({ offline: true }));
    expect(offline.externalDataPaths).toEqual(r.externalDataPaths);
  });

  it('offline mode uses the cache and never the network', async () => {
    const missing = await rejection(resolveHubModel('hf:org/vit', opts({ offline: true })));
    expect(missing.code).toBe('FETCH_FAILED');
    expect(missing.message).toMatch(/Offline.*onnx\/model\.onnx.*org\/vit@main.*not in the cache/);
    expect(hub.log).toEqual([]);
    await resolveHubModel('hf:org/vit', opts());
    hub.log.length = 0;
    const r = await resolveHubModel('hf:org/vit', opts({ offline: true, endpoint: await closedEndpoint() }));
    expect(r).toMatchObject({ fromCache: true, revision: COMMIT, id2label: { 0: 'cat', 1: 'dog' } });
    expect(hub.log).toEqual([]);
  });

  it('HF_HUB_OFFLINE and HF_ENDPOINT from the environment are honoured', async () => {
    const saved = { ...process.env };
    try {
      process.env.HF_ENDPOINT = endpoint;
      process.env.HF_HUB_CACHE = cacheDir;
      await resolveHubModel('hf:org/vit');
      expect(hub.log.length).toBeGreaterThan(0);
      process.env.HF_HUB_OFFLINE = '1';
      process.env.HF_ENDPOINT = await closedEndpoint();
      expect((await resolveHubModel('hf:org/vit@main')).fromCache).toBe(true);
    } finally {
      process.env = saved;
    }
  });

  it('an unreachable hub is FETCH_FAILED naming the URL and what to do', async () => {
    const closed = await closedEndpoint();
    const e = await rejection(resolveHubModel('hf:org/vit', opts({ endpoint: closed })));
    expect(e.code).toBe('FETCH_FAILED');
    expect(e.message).toContain(`${closed}/org/vit/resolve/main/onnx/model.onnx`);
    expect(e.message).toMatch(/ECONNREFUSED/);
    expect(e.message).toMatch(/HF_ENDPOINT/);
    expect(e.message).toMatch(/HF_HUB_OFFLINE/);
  });

  it('404s name the URL and what is wrong: variant, repo, revision', async () => {
    const variant = await rejection(resolveHubModel('hf:org/vit:model_quantized', opts()));
    expect(variant.code).toBe('FETCH_FAILED');
    expect(variant.message).toContain(`${endpoint}/org/vit/resolve/main/onnx/model_quantized.onnx answered 404 (EntryNotFound)`);
    expect(variant.message).toMatch(/variant/);
    expect((await rejection(resolveHubModel('hf:org/nope', opts()))).message).toMatch(/RepoNotFound.*Check the repo name 'org\/nope'/);
    expect((await rejection(resolveHubModel('hf:org/vit@v9', opts()))).message).toMatch(/RevisionNotFound.*Check the revision 'v9'/);
  });

  it('private repos need a token: 401 says to log in, the token opens them', async () => {
    const e = await rejection(resolveHubModel('hf:org/private', opts()));
    expect(e.code).toBe('FETCH_FAILED');
    expect(e.message).toMatch(/answered 401.*HF_TOKEN/);
    const r = await resolveHubModel('hf:org/private', opts({ token: 'secret' }));
    expect(fs.readFileSync(r.modelPath)).toEqual(Buffer.from(modelBytes));
  });

  it('a plain mirror without commit headers or ETags still works: blobs named by sha256, snapshot by revision', async () => {
    hub.plain = true;
    try {
      const r = await resolveHubModel('hf:org/vit', opts());
      const sha = createHash('sha256').update(modelBytes).digest('hex');
      expect(r.revision).toBe('main');
      expect(r.modelSha256).toBe(sha);
      expect(fs.existsSync(path.join(cacheDir, 'models--org--vit', 'blobs', sha))).toBe(true);
      hub.log.length = 0;
      expect((await resolveHubModel('hf:org/vit', opts())).fromCache).toBe(true);
      expect(hub.log).toEqual([]);
    } finally {
      hub.plain = false;
    }
  });

  it('a pinned commit resolves without refs and is reused from the cache', async () => {
    const r = await resolveHubModel(`hf:org/vit@${COMMIT}`, opts());
    expect(r.revision).toBe(COMMIT);
    expect(fs.existsSync(path.join(cacheDir, 'models--org--vit', 'refs'))).toBe(false);
    hub.log.length = 0;
    expect((await resolveHubModel('hf:org/vit', opts({ revision: COMMIT }))).fromCache).toBe(true);
    expect(hub.log).toEqual([]);
  });
});
