/**
 * `mmkit export haproxy`: an haproxy.cfg that balances N `mmkit serve` replicas. Replicas are
 * health-checked on /v2/health/ready (a draining or loading replica gets no traffic), and a
 * request that fails on one replica is retried on another, so losing a replica loses no request.
 */
import { MmkitError } from '../errors';
import { GRPC_PORT, HTTP_PORT } from './container';
import { generatedHeader } from './files';

export interface Replica {
  host: string;
  /** The replica's HTTP port. */
  port: number;
  /** Its gRPC port; the gRPC frontend is written when every replica has one. */
  grpcPort?: number;
}

export interface HaproxyOptions {
  replicas: Replica[];
  /** Port clients send HTTP requests to. */
  listenPort: number;
  /** Port for gRPC clients (needs every replica's grpcPort). */
  grpcListenPort?: number;
  /** Address to listen on; default all interfaces. */
  bindAddress?: string;
  /** Port of haproxy's stats page (/stats, with per-replica counts in CSV at /stats;csv); unset: none. */
  statsPort?: number;
  /** 'roundrobin' (default) or 'leastconn' (better when request costs vary a lot). */
  balance?: 'roundrobin' | 'leastconn';
  /** How long one inference may take before haproxy gives up on the replica; default 60 s. */
  serverTimeoutSeconds?: number;
}

/**
 * Largest request body haproxy can replay on another replica: L7 retries resend the request from
 * haproxy's buffer, so a body must fit in it (a 28×28 image in JSON is ~10 KB, a 224×224×3 one in
 * binary ~600 KB). Bigger requests are still balanced, but not retried.
 */
export const RETRY_BUFFER_BYTES = 1024 * 1024;

/** Parses `host:port[:grpcPort],…` as the CLI takes replicas. */
export function parseReplicas(list: string): Replica[] {
  const replicas = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((item) => {
      const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d+)(?::(\d+))?$/.exec(item);
      const port = (s: string | undefined) => (s === undefined ? undefined : Number(s));
      if (!m || !validPort(port(m[2])) || (m[3] !== undefined && !validPort(port(m[3])))) {
        throw new MmkitError('BAD_OPTION', `--replicas: '${item}' is not host:port or host:port:grpcPort.`, { hint: 'Write e.g. --replicas 10.0.0.5:8000,10.0.0.6:8000 (ports 1–65535).' });
      }
      return { host: m[1], port: port(m[2])!, ...(m[3] !== undefined ? { grpcPort: port(m[3]) } : {}) };
    });
  if (replicas.length === 0) throw new MmkitError('BAD_OPTION', '--replicas lists no replicas.', { hint: 'Write e.g. --replicas 10.0.0.5:8000,10.0.0.6:8000.' });
  return replicas;
}

function validPort(p: number | undefined): boolean {
  return p !== undefined && Number.isInteger(p) && p >= 1 && p <= 65535;
}

export function haproxyConfig(opts: HaproxyOptions): string {
  if (opts.replicas.length === 0) throw new MmkitError('BAD_OPTION', 'haproxy needs at least one replica.', { hint: 'Pass the mmkit serve replicas as host:port.' });
  for (const p of [opts.listenPort, opts.grpcListenPort, opts.statsPort]) {
    if (p !== undefined && !validPort(p)) throw new MmkitError('BAD_OPTION', `port ${p} is not a TCP port.`, { hint: 'Ports are whole numbers 1–65535.' });
  }
  const grpc = opts.grpcListenPort !== undefined;
  if (grpc && opts.replicas.some((r) => r.grpcPort === undefined)) {
    throw new MmkitError('BAD_OPTION', 'a gRPC port to listen on needs every replica\'s gRPC port.', { hint: `List replicas as host:httpPort:grpcPort, e.g. 10.0.0.5:${HTTP_PORT}:${GRPC_PORT}.` });
  }
  const bind = opts.bindAddress ?? '';
  const balance = opts.balance ?? 'roundrobin';
  const serverTimeout = opts.serverTimeoutSeconds ?? 60;
  // Health checks every second: a replica that dies is out after two failed checks; until then retries cover it.
  const checks = 'check inter 1s fall 2 rise 2';
  const lines = [
    generatedHeader('haproxy', `${opts.replicas.length} mmkit serve replicas`).trimEnd(),
    'global',
    '    maxconn 4096',
    `    tune.bufsize ${RETRY_BUFFER_BYTES}`,
    '',
    'defaults',
    '    mode http',
    '    timeout connect 2s',
    // Clients' idle keep-alive ends before haproxy's, so a client never reuses a connection haproxy just closed.
    '    timeout client 75s',
    '    timeout http-keep-alive 75s',
    '    timeout http-request 15s',
    `    timeout server ${serverTimeout}s`,
    '    timeout queue 30s',
    // Inference is idempotent: replaying a request on another replica is safe.
    '    retries 3',
    '    retry-on all-retryable-errors',
    '    option redispatch 1',
    '',
    'frontend mmkit_http',
    `    bind ${bind}:${opts.listenPort}`,
    '    default_backend mmkit_http_replicas',
    '',
    'backend mmkit_http_replicas',
    `    balance ${balance}`,
    // The whole body is read before a replica is chosen, so a retry can resend it.
    '    option http-buffer-request',
    '    option httpchk',
    '    http-check send meth GET uri /v2/health/ready',
    '    http-check expect status 200',
    ...opts.replicas.map((r, i) => `    server replica${i + 1} ${r.host}:${r.port} ${checks}`),
  ];
  if (grpc) {
    lines.push(
      '',
      // gRPC keeps one HTTP/2 connection open for all its calls: balancing connections (L4) would
      // pin a client to one replica. In HTTP mode with h2 on both sides haproxy balances each call.
      'frontend mmkit_grpc',
      `    bind ${bind}:${opts.grpcListenPort} proto h2`,
      '    timeout client 1h',
      '    default_backend mmkit_grpc_replicas',
      '',
      'backend mmkit_grpc_replicas',
      `    balance ${balance}`,
      '    option httpchk',
      '    http-check send meth GET uri /v2/health/ready',
      '    http-check expect status 200',
      // Checks go to the replica's HTTP port over HTTP/1.1; calls go to its gRPC port over h2c.
      ...opts.replicas.map((r, i) => `    server replica${i + 1} ${r.host}:${r.grpcPort} proto h2 ${checks} port ${r.port} check-proto h1`),
    );
  }
  if (opts.statsPort !== undefined) {
    lines.push('', 'frontend stats', `    bind ${bind}:${opts.statsPort}`, '    stats enable', '    stats uri /stats', '    stats refresh 5s');
  }
  return `${lines.join('\n')}\n`;
}
