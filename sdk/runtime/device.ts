import { execFile } from 'node:child_process';
import * as ort from 'onnxruntime-node';
import { MmkitError, messageOf } from '../errors';
import { ModelBuilder, serializeModel } from '../onnx';

/** Where a model runs. 'auto' picks the first that works of cuda, webgpu, cpu. */
export type Device = 'cpu' | 'cuda' | 'webgpu' | 'auto';
/** A device a session actually runs on. */
export type ConcreteDevice = Exclude<Device, 'auto'>;

export const DEVICES: readonly Device[] = ['cpu', 'cuda', 'webgpu', 'auto'];
const AUTO_ORDER: readonly ConcreteDevice[] = ['cuda', 'webgpu', 'cpu'];

/** Receives one-line notices, e.g. "cuda is not available here, running on cpu". */
export type NoticeHook = (message: string) => void;

let noticeHook: NoticeHook = (message) => console.warn(message);
/** Why a device cannot run here, learned once per process. */
const failures = new Map<ConcreteDevice, string>();
/** Requested devices whose fallback was already announced: one notice per device per process. */
const announced = new Set<Device>();

/**
 * Redirects device notices (the notebook layer shows them in the cell). Returns the previous
 * hook so a caller can restore it.
 */
export function setNoticeHook(hook: NoticeHook): NoticeHook {
  const previous = noticeHook;
  noticeHook = hook;
  return previous;
}

export function checkDevice(device: string | undefined): Device {
  const d = device ?? 'cpu';
  if (!(DEVICES as readonly string[]).includes(d)) {
    throw new MmkitError('UNKNOWN_DEVICE', `Unknown device '${d}'.`, { hint: `Use one of ${DEVICES.map((x) => `'${x}'`).join(', ')}.` });
  }
  return d as Device;
}

/** The devices worth trying, in order, for a requested device; cpu always ends the list. */
export async function devicesToTry(device: Device): Promise<ConcreteDevice[]> {
  const wanted: readonly ConcreteDevice[] = device === 'auto' ? AUTO_ORDER : [device, 'cpu'];
  const tries: ConcreteDevice[] = [];
  for (const d of new Set(wanted)) if (d === 'cpu' || (await whyUnavailable(d)) === undefined) tries.push(d);
  return tries;
}

let webgpuProbe: Promise<void> | undefined;

async function whyUnavailable(device: ConcreteDevice): Promise<string | undefined> {
  if (device === 'webgpu' && !failures.has(device)) await (webgpuProbe ??= probeWebgpu());
  return failures.get(device);
}

/**
 * Tries webgpu once in a child process. Dawn, under the webgpu provider, writes adapter and
 * Vulkan warnings straight to stderr, which no onnxruntime log level silences; in a child that
 * noise is captured and dropped, and only the verdict comes back.
 */
function probeWebgpu(): Promise<void> {
  const b = new ModelBuilder({ opset: 17 });
  b.input('x', 'float32', [1]);
  b.node('Identity', ['x'], {}, { outputs: ['y'] });
  b.output('y', 'float32', [1]);
  const script = [
    `const ort = require(${JSON.stringify(require.resolve('onnxruntime-node'))});`,
    "ort.env.logLevel = 'fatal';",
    "ort.InferenceSession.create(Buffer.from(process.argv[1], 'base64'), { executionProviders: ['webgpu'], logSeverityLevel: 4 })",
    '  .then(() => process.exit(0), (e) => { process.stdout.write(String(e && e.message)); process.exit(1); });',
  ].join('\n');
  const model = Buffer.from(serializeModel(b.build())).toString('base64');
  return new Promise((resolve) => {
    execFile(process.execPath, ['-e', script, model], { timeout: 60_000, maxBuffer: 1 << 20 }, (error, stdout) => {
      if (error) failures.set('webgpu', firstLine(stdout || messageOf(error)));
      resolve();
    });
  });
}

/** Records that a device failed to start a session that cpu then ran: it is not tried again. */
export function markUnavailable(device: ConcreteDevice, cause: unknown): void {
  failures.set(device, firstLine(messageOf(cause)));
}

/** Says once per requested device, through the notice hook, that it ran somewhere else. */
export function announceFallback(requested: Device, ranOn: ConcreteDevice): void {
  // 'auto' on any accelerator is what was asked for; only landing on cpu is worth a word.
  if (requested === ranOn || (requested === 'auto' && ranOn !== 'cpu') || announced.has(requested)) return;
  announced.add(requested);
  const skipped = (requested === 'auto' ? AUTO_ORDER.slice(0, AUTO_ORDER.indexOf(ranOn)) : [requested as ConcreteDevice])
    .map((d) => `${d}: ${failures.get(d) ?? 'unavailable'}`)
    .join('; ');
  const what = requested === 'auto' ? "device 'auto' found no accelerator" : `device '${requested}' is not available here`;
  noticeHook(`mmkit: ${what} (${skipped}); running on ${ranOn}.`);
}

function firstLine(message: string): string {
  const line = message.split('\n').find((l) => l.trim()) ?? message;
  // ort prefixes some errors with a C++ source location and assertion: keep the readable tail.
  const readable = /(Failed to .*|No supported .*)$/.exec(line)?.[1] ?? line;
  return readable.trim().slice(0, 160);
}

let quieted = false;
/**
 * Raises onnxruntime's process-wide log level before its first session: failed provider loads
 * otherwise print multi-line errors to stderr that duplicate the exception we handle. Leaves a
 * level the user set themselves alone.
 */
export function quietOrt(): void {
  if (quieted) return;
  quieted = true;
  if (ort.env.logLevel === 'warning') ort.env.logLevel = 'fatal';
}

/** Forgets which devices failed and which notices were shown (after installing a provider, and in tests). */
export function resetDeviceState(): void {
  announced.clear();
  failures.clear();
  webgpuProbe = undefined;
}
