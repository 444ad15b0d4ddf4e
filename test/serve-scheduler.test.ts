/**
 * The dynamic batcher's rules (sdk/serve/scheduler.ts), on a runner the test controls: when a
 * batch forms, what it may hold, that each request gets its own result, back-pressure and timeouts.
 */
import { describe, expect, it } from 'vitest';
import { Scheduler, type Queued, type SchedulerOptions } from '../sdk/serve/scheduler';
import { expectMmkitError } from './helpers/errors';

interface Harness {
  scheduler: Scheduler<string, string>;
  /** The batches started, as the items they hold. */
  batches: string[][];
  /** Finishes the oldest running batch (each item's result is `item:done`). */
  finish(): Promise<void>;
}

function harness(opts: Partial<SchedulerOptions>, instances = 1): Harness {
  const running: (() => void)[] = [];
  const batches: string[][] = [];
  let busy = 0;
  const scheduler: Scheduler<string, string> = new Scheduler<string, string>(
    { maxBatchSize: 4, batching: true, maxQueueDelayMs: 0, preferredBatchSizes: [], maxQueueSize: 100, queueTimeoutMs: 0, ...opts },
    () => instances - busy,
    (batch: Queued<string>[]) => {
      busy++;
      batches.push(batch.map((q) => q.item));
      return new Promise<string[]>((resolve) =>
        running.push(() => {
          busy--;
          resolve(batch.map((q) => `${q.item}:done`));
          scheduler.schedule();
        }),
      );
    },
    'model test',
  );
  return {
    scheduler,
    batches,
    finish: async () => {
      running.shift()!();
      await new Promise((r) => setTimeout(r, 0));
    },
  };
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe('Scheduler', () => {
  it('runs the first request at once on an idle instance, then batches what waited meanwhile, each request getting its own result', async () => {
    const h = harness({});
    const results = ['a', 'b', 'c', 'd', 'e', 'f'].map((x) => h.scheduler.submit(x, 1, 's'));
    await tick();
    expect(h.batches).toEqual([['a']]);
    await h.finish();
    expect(h.batches).toEqual([['a'], ['b', 'c', 'd', 'e']]); // max_batch_size 4
    await h.finish();
    await h.finish();
    expect(h.batches).toEqual([['a'], ['b', 'c', 'd', 'e'], ['f']]);
    expect(await Promise.all(results)).toEqual(['a:done', 'b:done', 'c:done', 'd:done', 'e:done', 'f:done']);
  });

  it('counts rows, not requests, against max_batch_size, and never splits a request', async () => {
    const h = harness({ maxQueueDelayMs: 30 });
    const done = [h.scheduler.submit('r3', 3, 's'), h.scheduler.submit('r2', 2, 's'), h.scheduler.submit('r1', 1, 's')];
    await tick();
    // 3 + 2 > 4: the batch is cut before r2 without waiting for the delay.
    expect(h.batches).toEqual([['r3']]);
    await h.finish();
    await tick(50); // r2 + r1 could still grow: they wait out the delay
    expect(h.batches[1]).toEqual(['r2', 'r1']);
    await h.finish();
    await Promise.all(done);
  });

  it('waits up to max_queue_delay for a batch to fill, and sends a full one at once', async () => {
    const h = harness({ maxQueueDelayMs: 60 });
    const first = h.scheduler.submit('a', 1, 's');
    await tick(20);
    expect(h.batches).toEqual([]);
    await tick(80);
    expect(h.batches).toEqual([['a']]);
    await h.finish();
    await first;
    const four = ['b', 'c', 'd', 'e'].map((x) => h.scheduler.submit(x, 1, 's'));
    await tick();
    expect(h.batches[1]).toEqual(['b', 'c', 'd', 'e']);
    await h.finish();
    await Promise.all(four);
  });

  it('sends a preferred batch size as soon as it forms', async () => {
    const h = harness({ maxQueueDelayMs: 10_000, preferredBatchSizes: [2] });
    const done = [h.scheduler.submit('a', 1, 's'), h.scheduler.submit('b', 1, 's'), h.scheduler.submit('c', 1, 's')];
    await tick();
    expect(h.batches).toEqual([['a', 'b']]);
    await h.finish();
    await Promise.all(done.slice(0, 2));
  });

  it('batches only requests whose shapes agree (the first one that differs ends the batch)', async () => {
    const h = harness({ maxQueueDelayMs: 30 });
    const done = [h.scheduler.submit('a', 1, '[28,28]'), h.scheduler.submit('b', 1, '[28,28]'), h.scheduler.submit('c', 1, '[32,32]'), h.scheduler.submit('d', 1, '[32,32]')];
    await tick();
    expect(h.batches).toEqual([['a', 'b']]); // c cannot join: sent without waiting for the delay
    await h.finish();
    await tick(50);
    expect(h.batches[1]).toEqual(['c', 'd']);
    await h.finish();
    expect(await Promise.all(done)).toEqual(['a:done', 'b:done', 'c:done', 'd:done']);
  });

  it('without dynamic batching runs each request alone, one per idle instance', async () => {
    const h = harness({ batching: false }, 2);
    const done = ['a', 'b', 'c'].map((x) => h.scheduler.submit(x, 1, 's'));
    await tick();
    expect(h.batches).toEqual([['a'], ['b']]);
    await h.finish();
    await h.finish();
    await h.finish();
    expect(await Promise.all(done)).toEqual(['a:done', 'b:done', 'c:done']);
  });

  it('refuses a request beyond max_queue_size with UNAVAILABLE, and still serves those it holds', async () => {
    const h = harness({ maxQueueDelayMs: 60, maxQueueSize: 2 });
    const kept = [h.scheduler.submit('a', 1, 's'), h.scheduler.submit('b', 1, 's')];
    await expectMmkitError(h.scheduler.submit('c', 1, 's'), 'UNAVAILABLE', /queue of model test is full \(2 requests waiting\)/);
    expect(h.scheduler.pending).toBe(2);
    await tick(100);
    expect(h.batches).toEqual([['a', 'b']]);
    await h.finish();
    expect(await Promise.all(kept)).toEqual(['a:done', 'b:done']);
  });

  it('times a request out after the queue policy timeout', async () => {
    const h = harness({ batching: false, queueTimeoutMs: 30 }, 1);
    const first = h.scheduler.submit('a', 1, 's'); // takes the only instance
    const second = h.scheduler.submit('b', 1, 's');
    await expectMmkitError(second, 'UNAVAILABLE', /waited 30 ms .* timed out/);
    await h.finish();
    expect(await first).toBe('a:done');
  });
});
