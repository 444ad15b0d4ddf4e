/**
 * The Dockerfile, checked without a container engine (this machine has none): parsed into its
 * stages and instructions and checked for what the image must be (multi-stage, node 20 slim
 * runtime, non-root user, ports, health check); then its runtime stage rehearsed on the host —
 * the stage's own `npm ci` line into an empty folder, the files its COPY lines take from the
 * build, its ENTRYPOINT + CMD started, and its HEALTHCHECK command run against that server.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportTritonRepository } from '../sdk/deploy/triton';
import { runProcess } from './helpers/run-process';
import { freePort } from './helpers/serve-process';

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Dockerfile syntax: `# comments`, `\` continuations, INSTRUCTION args; a FROM starts a stage. */
function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const logical = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, op, rest] = /^(\S+)\s*(.*)$/.exec(line)!;
    const upper = op.toUpperCase();
    if (upper === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest)!;
      stages.push({ from: m[1].replace(/\$\{(\w+)\}/g, (_, k: string) => args[k] ?? ''), name: m[2], instructions: [] });
    } else if (upper === 'ARG' && stages.length === 0) {
      const [k, v = ''] = rest.split('=');
      args[k] = v;
    } else {
      if (stages.length === 0) throw new Error(`${op} before the first FROM`);
      stages[stages.length - 1].instructions.push({ op: upper, args: rest });
    }
  }
  return { args, stages };
}

const dockerfile = parseDockerfile(fs.readFileSync('Dockerfile', 'utf8'));
const build = dockerfile.stages.find((s) => s.name === 'build')!;
const runtime = dockerfile.stages[dockerfile.stages.length - 1];
const all = (s: Stage, op: string) => s.instructions.filter((i) => i.op === op);
const execForm = (i: Instruction | undefined): string[] => JSON.parse(i!.args);

describe('Dockerfile', () => {
  it('builds in one stage and runs on node 20 slim in another, as a non-root user', () => {
    expect(dockerfile.stages.map((s) => s.name)).toEqual(['build', 'runtime']);
    expect(runtime.from).toBe('node:20-bookworm-slim');
    expect(build.from).toBe('node:20-bookworm-slim');
    const buildRuns = all(build, 'RUN').map((i) => i.args);
    expect(buildRuns.some((r) => /^npm ci\b/.test(r))).toBe(true);
    expect(buildRuns).toContain('npm run build');
    // The runtime installs production dependencies only, and runs no scripts: `prepare` would need tsc.
    const install = all(runtime, 'RUN').find((i) => /npm ci/.test(i.args))!.args;
    expect(install).toMatch(/--omit=dev/);
    expect(install).toMatch(/--ignore-scripts/);
    expect(all(runtime, 'COPY').some((c) => c.args.includes('--from=build /app/dist'))).toBe(true);
    const user = all(runtime, 'USER').at(-1)!.args;
    expect(user.split(':')[0]).not.toMatch(/^(root|0)$/);
    expect(user).toMatch(/^\d+:\d+$/); // numeric: Kubernetes' runAsNonRoot can verify it
    expect(all(runtime, 'EXPOSE').flatMap((e) => e.args.split(/\s+/))).toEqual(['8000', '8001']);
    const health = all(runtime, 'HEALTHCHECK').at(-1)!.args;
    expect(health).toMatch(/\/v2\/health\/ready/);
    expect(health).toMatch(/CMD \["node", "-e"/); // no curl in the slim image
  });

  it('copies only files that exist and that .dockerignore lets into the build context', () => {
    const ignored = fs
      .readFileSync('.dockerignore', 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const copy of all(build, 'COPY').concat(all(runtime, 'COPY')).filter((c) => !c.args.includes('--from='))) {
      const sources = copy.args.split(/\s+/).slice(0, -1);
      for (const src of sources) {
        if (src === '.') continue;
        expect(fs.existsSync(src), `COPY ${src}`).toBe(true);
        expect(ignored, `COPY ${src} is excluded by .dockerignore`).not.toContain(src);
      }
    }
    // What the build compiles (tsconfig's include) is all copied in.
    const include: string[] = JSON.parse(fs.readFileSync('tsconfig.json', 'utf8').replace(/^\s*\/\/.*$/gm, '')).include;
    const copied = all(build, 'COPY').map((c) => c.args.split(/\s+/)[0]);
    for (const pattern of include) expect(copied, `tsconfig includes ${pattern}`).toContain(pattern.split('/')[0]);
  });
});

describe("the Dockerfile's runtime stage, rehearsed on the host", () => {
  let root: string;
  let server: ChildProcess | undefined;

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'mmkit-deploy-docker-'));
  });
  afterAll(() => {
    server?.kill('SIGKILL');
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("installs with the stage's npm ci line, starts with its ENTRYPOINT + CMD, and its HEALTHCHECK passes", async () => {
    const app = path.join(root, 'app');
    fs.mkdirSync(app);
    // COPY package.json package-lock.json .npmrc ./
    for (const f of all(runtime, 'COPY').find((c) => c.args.startsWith('package.json'))!.args.split(/\s+/).slice(0, -1)) fs.copyFileSync(f, path.join(app, f));
    // The stage's own install command; --prefer-offline only spares the registry what npm's cache already holds.
    const install = all(runtime, 'RUN').find((i) => /npm ci/.test(i.args))!.args.split('&&')[0].trim();
    const npm = await runProcess('bash', ['-c', `${install} --prefer-offline`], { cwd: app, timeoutMs: 400_000 });
    expect(npm.status, npm.stderr).toBe(0);
    expect(fs.existsSync(path.join(app, 'node_modules', 'typescript'))).toBe(false);
    expect(fs.existsSync(path.join(app, 'node_modules', 'onnxruntime-node'))).toBe(true);
    // COPY --from=build lines: what the build stage made (here: this checkout's dist/ and proto).
    for (const c of all(runtime, 'COPY').filter((i) => i.args.includes('--from=build /app/'))) {
      const [src, dest] = c.args.split(/\s+/).slice(-2);
      fs.cpSync(path.relative('/app', src), path.resolve(app, dest), { recursive: true });
    }
    const models = path.join(root, 'models');
    await exportTritonRepository('datasets/models/vit-tiny-mnist.onnx', { name: 'vit', out: models });

    const entry = [...execForm(all(runtime, 'ENTRYPOINT').at(-1)), ...execForm(all(runtime, 'CMD').at(-1))];
    expect(entry.slice(0, 2)).toEqual(['node', 'dist/sdk/cli/main.js']);
    // The image's ports and /models, moved to a free port and this test's repository.
    const port = await freePort();
    const args = entry.slice(1).map((a) => (a === '/models' ? models : a === '8000' ? String(port) : a === '8001' ? '0' : a));
    server = spawn(process.execPath, args, { cwd: app, env: { ...process.env, NODE_ENV: 'production' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    server.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));

    const health = all(runtime, 'HEALTHCHECK').at(-1)!.args;
    const check = JSON.parse(health.slice(health.indexOf('CMD') + 3).trim()) as string[];
    const runCheck = () => spawnSync(check[0] === 'node' ? process.execPath : check[0], [check[1], check[2].replace(':8000/', `:${port}/`)], { timeout: 5000 }).status;
    let status = runCheck();
    for (const deadline = Date.now() + 90_000; status !== 0 && Date.now() < deadline && server.exitCode === null; status = runCheck()) {
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(status, stderr).toBe(0);
    server.kill('SIGTERM');
    await new Promise((r) => server!.once('exit', r));
    // Nothing listens now: the same check fails.
    expect(runCheck()).toBe(1);
  }, 600_000);
});
