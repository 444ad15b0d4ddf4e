/**
 * Balancing across `mmkit serve` replicas with Debian's haproxy, on loopback: the generated
 * configuration passes `haproxy -c`; then three replicas behind haproxy take a stream of
 * inference requests while one of them is killed (SIGKILL: a crash, not a drain), and no request
 * fails, because haproxy retries on another replica; every live replica serves a share.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haproxyConfig, parseReplicas } from '../sdk/deploy/haproxy';
import { isMmkitError } from '../sdk/errors';
import { freePort, ROOT, VIT } from './helpers/serve-process';
import { mnistDigits } from './helpers/serve-reference';
import { expectUsageError, mmkit } from './helpers/cli-run';

let tmp: string;
const children: ChildProcess[] = [];

function haproxyCheck(cfg: string) {
  return spawnSync('haproxy', ['-c', '-f', cfg], { encoding: 'utf8' });
}

function start(command: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (output += s));
  return { child, output: () => output };
}

async function waitFor200(url: string, proc: { child: ChildProcess; output: () => string }, timeoutMs = 180_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) {
    if (proc.child.exitCode !== null) throw new Error(`exited before ${url} answered 200:\n${proc.output()}`);
    const status = await fetch(url).then(
      async (r) => (await r.arrayBuffer(), r.status),
      () => 0,
    );
    if (status === 200) return;
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms:\n${proc.output()}`);
}

/** The replica's count of successful inferences (Triton's counter name, Prometheus text). */
async function successes(httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('nv_inference_request_success{') && l.includes('model="vit"'))
    .reduce((n, l) => n + Number(l.split(/\s+/).at(-1)), 0);
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmkit-deploy-haproxy-'));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('haproxy config', () => {
  it('is accepted by haproxy -c, with and without the gRPC frontend', async () => {
    const cfg = path.join(tmp, 'check.cfg');
    const run = await mmkit(['export', 'haproxy', '--replicas', '10.0.0.5:8000:8001,10.0.0.6:8000:8001', '--port', '8080', '--grpc-port', '8081', '--stats-port', '8404', '--out', cfg]);
    expect(run.status, run.stderr).toBe(0);
    const check = haproxyCheck(cfg);
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const text = fs.readFileSync(cfg, 'utf8');
    expect(text).toMatch(/bind :8081 proto h2/);
    expect(text).toMatch(/server replica2 10\.0\.0\.6:8001 proto h2 .* port 8000 check-proto h1/);

    const plain = path.join(tmp, 'plain.cfg');
    // An address, not a name: haproxy -c resolves server names, and this machine resolves none.
    fs.writeFileSync(plain, haproxyConfig({ replicas: parseReplicas('10.0.0.7:8000'), listenPort: 80, balance: 'leastconn' }));
    const plainCheck = haproxyCheck(plain);
    expect(plainCheck.status, plainCheck.stdout + plainCheck.stderr).toBe(0);
  });

  it('refuses replicas it cannot balance', async () => {
    expectUsageError(await mmkit(['export', 'haproxy', '--replicas', 'host', '--port', '80', '--out', path.join(tmp, 'bad.cfg')]), 'export haproxy', 'BAD_OPTION');
    expect(fs.existsSync(path.join(tmp, 'bad.cfg'))).toBe(false);
    for (const list of ['', 'host', 'host:0', 'host:8000:99999']) {
      let err: unknown;
      try {
        parseReplicas(list);
      } catch (e) {
        err = e;
      }
      expect(isMmkitError(err, 'BAD_OPTION')).toBe(true);
    }
    expect(() => haproxyConfig({ replicas: parseReplicas('h:8000'), listenPort: 80, grpcListenPort: 81 })).toThrow(/every replica's gRPC port/);
  });
});

describe('three mmkit serve replicas behind haproxy', () => {
  it('answer every request of a stream while one replica is killed, each live replica serving a share', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const replicas = ports.map((port) =>
      start(process.execPath, ['dist/sdk/cli/main.js', 'serve', VIT, '--name', 'vit', '--host', '127.0.0.1', '--http-port', String(port), '--grpc-port', '0', '--workers', '1']),
    );
    await Promise.all(replicas.map((r, i) => waitFor200(`http://127.0.0.1:${ports[i]}/v2/health/ready`, r)));

    const [listenPort, statsPort] = [await freePort(), await freePort()];
    const cfg = path.join(tmp, 'haproxy.cfg');
    fs.writeFileSync(cfg, haproxyConfig({ replicas: ports.map((port) => ({ host: '127.0.0.1', port })), listenPort, statsPort, bindAddress: '127.0.0.1' }));
    const haproxy = start('haproxy', ['-f', cfg, '-db']);
    const balanced = `http://127.0.0.1:${listenPort}`;
    await waitFor200(`${balanced}/v2/health/ready`, haproxy, 30_000);

    const digit = await mnistDigits(1);
    const body = JSON.stringify({ inputs: [{ name: 'pixel_values', shape: [1, 1, 28, 28], datatype: 'FP32', data: Array.from(digit.data as Float32Array) }] });
    const TOTAL = 150;
    const CONCURRENCY = 4;
    const KILL_AFTER = 50;
    const failures: string[] = [];
    let sent = 0;
    let done = 0;
    let killedAt: number[] | undefined;
    const victim = 1;
    const client = async () => {
      while (sent < TOTAL) {
        sent++;
        try {
          const res = await fetch(`${balanced}/v2/models/vit/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          const json = (await res.json()) as { outputs?: Array<{ name: string; data: number[] }> };
          if (res.status !== 200 || json.outputs?.[0]?.data.length !== 10) failures.push(`${res.status} ${JSON.stringify(json).slice(0, 200)}`);
        } catch (e) {
          failures.push(String(e));
        }
        done++;
        if (done === KILL_AFTER) {
          // Counts of the survivors at the moment of the kill, then the crash.
          killedAt = await Promise.all(ports.filter((_, i) => i !== victim).map(successes));
          replicas[victim].child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, client));

    expect(failures).toEqual([]);
    expect(done).toBe(TOTAL);
    expect(replicas[victim].child.signalCode ?? (await new Promise((r) => replicas[victim].child.once('exit', (_c, s) => r(s))))).toBe('SIGKILL');
    const after = await Promise.all(ports.filter((_, i) => i !== victim).map(successes));
    // Every live replica served a share after the kill, and together they served at least the requests sent after it.
    after.forEach((n, i) => expect(n - killedAt![i], `replica ${i} after the kill`).toBeGreaterThan(0));
    expect(after.reduce((a, b) => a + b, 0) - killedAt!.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(TOTAL - KILL_AFTER - CONCURRENCY);
    // haproxy's health checks take the dead replica out (two failed checks, a second apart) and keep the others in.
    const serverRows = async () => {
      const csv = await (await fetch(`http://127.0.0.1:${statsPort}/stats;csv`)).text();
      return csv.split('\n').filter((l) => l.startsWith('mmkit_http_replicas,replica')).map((l) => l.split(','));
    };
    const states = async () => Object.fromEntries((await serverRows()).map((r) => [r[1], r[17]]));
    let seen = await states();
    for (const deadline = Date.now() + 10_000; seen.replica2 !== 'DOWN' && Date.now() < deadline; seen = await states()) await new Promise((r) => setTimeout(r, 250));
    expect(seen).toEqual({ replica1: 'UP', replica2: 'DOWN', replica3: 'UP' });
    // Requests did reach the dead replica before the checks caught it, and were retried elsewhere (CSV columns wretr, wredis).
    expect((await serverRows()).reduce((n, r) => n + Number(r[15]) + Number(r[16]), 0)).toBeGreaterThan(0);
  }, 400_000);
});
