/** MIME bundles of tables, DataFrames and charts; SVG rendered from vega-lite in Node. */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  Chart,
  DisplayHandle,
  JUPYTER_DISPLAY,
  Progress,
  Table,
  VEGALITE_MIME,
  binCounts,
  compareVariants,
  histogram,
  layerBars,
  mimeBundleOf,
  paretoChart,
  paretoFront,
  toDataFrame,
  track,
  withProgress,
} from '../sdk/report';
import { isMmkitError } from '../sdk/errors';

const variants = [
  { name: 'fp32', sizeBytes: 22_000_000, latencyMs: 9.5, accuracy: 0.981 },
  { name: 'int8 <dynamic>', sizeBytes: 5_600_000, latencyMs: 4.1, accuracy: 0.978 },
  { name: 'pruned & int8', sizeBytes: 4_000_000, latencyMs: 4.0, accuracy: 0.95 },
  { name: 'fp16', sizeBytes: 11_000_000, latencyMs: 8.0, accuracy: 0.97 },
];

describe('tables', () => {
  const table = new Table(
    [
      { layer: '<script>alert("x")</script>', error: 0.0123456, params: 4096, ok: true },
      { layer: "a & 'b'", error: 1.5, params: 12, ok: false },
    ],
    { title: 'Per-layer <error>' },
  );

  it('carries escaped html, data resource and text, and nothing else', async () => {
    const bundle = await mimeBundleOf(table);
    expect(Object.keys(bundle).sort()).toEqual(['application/vnd.dataresource+json', 'text/html', 'text/plain']);
    const html = bundle['text/html'] as string;
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).toContain('a &amp; &#39;b&#39;');
    expect(html).toContain('<caption>Per-layer &lt;error&gt;</caption>');
    expect(html.match(/<tr>/g)).toHaveLength(3);
    expect(bundle['application/vnd.dataresource+json']).toEqual({
      schema: {
        fields: [
          { name: 'layer', type: 'string' },
          { name: 'error', type: 'number' },
          { name: 'params', type: 'integer' },
          { name: 'ok', type: 'boolean' },
        ],
      },
      data: [
        { layer: '<script>alert("x")</script>', error: 0.0123456, params: 4096, ok: true },
        { layer: "a & 'b'", error: 1.5, params: 12, ok: false },
      ],
    });
  });

  it('prints as an aligned text table in terminals', () => {
    const text = inspect(table);
    expect(text.split('\n')).toEqual([
      'Per-layer <error>',
      'layer                        error    params  ok',
      '---------------------------  -------  ------  -----',
      '<script>alert("x")</script>  0.01235  4096    true',
      "a & 'b'                      1.5      12      false",
    ]);
  });

  it('danfojs DataFrames display as the same HTML table', async () => {
    const frame = toDataFrame(table);
    expect(frame.shape).toEqual([2, 4]);
    const bundle = await mimeBundleOf(frame);
    expect(Object.keys(bundle).sort()).toEqual(['application/vnd.dataresource+json', 'text/html', 'text/plain']);
    expect(bundle['text/html']).toContain('&lt;script&gt;');
    expect((bundle['application/vnd.dataresource+json'] as { data: unknown[] }).data).toHaveLength(2);
    // A frame the user builds with danfojs directly displays too.
    const danfo = await import('danfojs-node');
    const own = new danfo.DataFrame({ a: [1, 2, 3] });
    expect(await mimeBundleOf(own)).toHaveProperty('text/html');
  }, 60_000);
});

describe('charts', () => {
  it('bundle: vega-lite v5 spec, SVG rendered in Node, text; never text/html', async () => {
    const chart = compareVariants(variants);
    const bundle = await mimeBundleOf(chart);
    expect(Object.keys(bundle).sort()).toEqual(['image/svg+xml', 'text/plain', VEGALITE_MIME].sort());
    expect(VEGALITE_MIME).toBe('application/vnd.vegalite.v5+json');
    expect((bundle[VEGALITE_MIME] as { $schema: string }).$schema).toBe('https://vega.github.io/schema/vega-lite/v5.json');
    expect(bundle['image/svg+xml']).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(inspect(chart)).toBe('Chart: Variants compared');
  });

  it('the SVG holds one bar mark per variant and metric, with escaped labels', async () => {
    const svg = await compareVariants(variants).toSVG();
    const bars = svg.match(/<path[^>]*aria-roledescription="bar"/g) ?? [];
    expect(bars).toHaveLength(variants.length * 3);
    expect(svg).toContain('int8 &lt;dynamic&gt;');
  });

  it('Pareto front keeps the variants nothing beats on both size and accuracy', async () => {
    expect(paretoFront(variants).map((v) => v.name)).toEqual(['pruned & int8', 'int8 <dynamic>', 'fp32']);
    const svg = await paretoChart(variants).toSVG();
    expect(svg.match(/aria-roledescription="point"/g)).toHaveLength(variants.length);
    expect(svg).toContain('aria-roledescription="line mark"');
  });

  it('per-layer bars are sorted largest first and can keep the top n', () => {
    const chart = layerBars(
      [
        { layer: 'attn.q', value: 0.1 },
        { layer: 'mlp.fc1', value: 0.7 },
        { layer: 'head', value: 0.3 },
      ],
      { metric: 'mse', top: 2 },
    );
    expect((chart.spec as { data: { values: unknown[] } }).data.values).toEqual([
      { layer: 'mlp.fc1', mse: 0.7 },
      { layer: 'head', mse: 0.3 },
    ]);
  });

  it('histograms bin in JS (every finite value counted once) and render bars', async () => {
    const values = Float32Array.from({ length: 10_001 }, (_, i) => Math.sin(i) * 3);
    const bins = binCounts([...values, Number.NaN, Infinity], 20);
    expect(bins).toHaveLength(20);
    expect(bins.reduce((n, b) => n + b.count, 0)).toBe(10_001);
    expect(bins[0].start).toBeCloseTo(Math.min(...values), 6);
    expect(bins[19].end).toBeCloseTo(Math.max(...values), 5);
    const svg = await histogram(values, { bins: 20 }).toSVG();
    expect(svg.match(/aria-roledescription="bar"/g)?.length).toBeGreaterThanOrEqual(15);
  });

  it('a spec naming a missing mark fails with a clear error', async () => {
    const broken = new Chart({ title: 'broken', data: { values: [{ a: 1 }] }, mark: 'no-such-mark' } as never);
    await expect(broken.toSVG()).rejects.toThrow(/Could not render the chart "broken"/);
  });
});

describe('display protocol', () => {
  it('objects with Symbol.for("Jupyter.display") get text/plain added when they leave it out', async () => {
    const bundle = await mimeBundleOf({ [JUPYTER_DISPLAY]: () => ({ 'text/markdown': '# hi' }) });
    expect(bundle['text/markdown']).toBe('# hi');
    expect(typeof bundle['text/plain']).toBe('string');
    expect(await mimeBundleOf('text')).toEqual({ 'text/plain': "'text'" });
  });

  it('a display handle shows nothing, so `await display(x)` as last line does not echo it', async () => {
    expect(await mimeBundleOf(new DisplayHandle('abc'))).toEqual({});
    expect(inspect(new DisplayHandle('abc'))).toBe('DisplayHandle(abc)');
  });
});

describe('progress outside a notebook', () => {
  it('quiet mode draws nothing and counts steps; track() finishes the bar', async () => {
    const seen: number[] = [];
    for await (const n of track([1, 2, 3], { mode: 'quiet', total: 3 })) seen.push(n);
    expect(seen).toEqual([1, 2, 3]);
    const bar = new Progress({ mode: 'quiet', total: 10, label: 'calibrating' });
    bar.tick(4);
    expect(bar.done).toBe(4);
    expect(bar.text()).toContain('4/10 (40%)');
  });

  it('an aborted signal stops the loop with CANCELLED', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const loop = async () => {
      for await (const n of track([1, 2, 3, 4], { mode: 'quiet', signal: controller.signal, label: 'calibrating' })) {
        seen.push(n);
        if (n === 2) controller.abort();
      }
    };
    const error = await loop().catch((e: unknown) => e);
    expect(isMmkitError(error, 'CANCELLED')).toBe(true);
    expect((error as Error).message).toMatch(/calibrating was cancelled after 2 steps/);
    expect(seen).toEqual([1, 2]);
  });

  it('withProgress finishes the bar as complete, failed or cancelled, and feeds onProgress-style callbacks', async () => {
    let kept: Progress | undefined;
    const total = await withProgress({ mode: 'quiet', label: 'evaluating' }, async (bar) => {
      kept = bar;
      for (let done = 1; done <= 3; done++) bar.update(done * 10, 30);
      return bar.done;
    });
    expect(total).toBe(30);
    expect(kept?.outcome).toBe('complete');
    expect(kept?.text()).toContain('30/30 (100%)');

    await expect(withProgress({ mode: 'quiet' }, async (bar) => { kept = bar; throw new Error('boom'); })).rejects.toThrow('boom');
    expect(kept?.outcome).toBe('failed');

    const stop = new AbortController();
    const cancelled = withProgress({ mode: 'quiet', signal: stop.signal }, async (bar) => {
      kept = bar;
      stop.abort();
      bar.tick();
    });
    await expect(cancelled).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(kept?.outcome).toBe('cancelled');
  });
});
