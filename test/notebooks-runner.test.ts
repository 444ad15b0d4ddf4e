/**
 * Every notebook in notebooks/ runs top to bottom by mmkit's headless runner (`npm run notebook`,
 * no Python): every code cell, in order, without an error output or a stack trace on stderr, and
 * an HTML report written. Then Debian's Chromium, driven by playwright-core, opens the reports the
 * runner wrote: the tutorial's page must draw its charts (inline SVG with visible marks), show its
 * tables and load without console errors, page errors or failed requests; the reproducible-report
 * notebook's page must list the recipe and the saved and replayed models with one sha256.
 * Jupyter's own client runs the notebooks with their default parameters in
 * test/notebooks-jupyter.test.ts; here the runner overrides them to smaller evaluations.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Notebook } from '../kernel-extras/runner/notebook';
import { runProcess } from './helpers/run-process';
import { CELL_TIMEOUT_S, NOTEBOOK_TIMEOUT_MS, ROOT, notebookNames, notebooksListing, problemsOf, useNotebookMirror } from './helpers/notebook-mirror';

const CHROMIUM = '/usr/bin/chromium';
/** Smaller evaluations than the notebooks' defaults: the runner's pass is about running, not the figures. */
const PARAMETERS: Record<string, Record<string, number>> = {
  '01-vit-compression.ipynb': { evalItems: 500 },
  '02-quantization-error.ipynb': { probeItems: 128, evalItems: 500 },
  '03-reproducible-report.ipynb': { evalItems: 200 },
};

const mirror = useNotebookMirror();
const runnerOut = () => path.join(mirror.dir(), 'runner');
let context: BrowserContext;

interface OpenedReport {
  page: Page;
  consoleErrors: string[];
  pageErrors: string[];
  failedRequests: string[];
}

interface SvgFacts {
  width: number;
  height: number;
  /** vega mark items (a bar, a rule, a point, a label) drawn with a non-zero box */
  visibleMarks: number;
}

/** Opens the report page the runner wrote for a notebook, recording everything that goes wrong while it loads. */
async function open(notebook: string): Promise<OpenedReport> {
  const htmlFile = path.join(runnerOut(), notebook.replace(/\.ipynb$/, '.html'));
  const opened: OpenedReport = { page: await context.newPage(), consoleErrors: [], pageErrors: [], failedRequests: [] };
  const { page } = opened;
  page.on('console', (message) => {
    if (message.type() === 'error') opened.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => opened.pageErrors.push(error.message));
  page.on('requestfailed', (request) => opened.failedRequests.push(`${request.url()}: ${request.failure()?.errorText}`));
  page.on('response', (response) => {
    if (response.status() >= 400) opened.failedRequests.push(`${response.url()}: HTTP ${response.status()}`);
  });
  const response = await page.goto(pathToFileURL(htmlFile).href, { waitUntil: 'load' });
  expect(response?.ok(), htmlFile).toBe(true);
  return opened;
}

describe('headless runner (npm run notebook)', () => {
  it.each(notebookNames)('runs every cell of %s without errors', async (name) => {
    const params = Object.entries(PARAMETERS[name] ?? {}).flatMap(([k, v]) => ['--param', `${k}=${v}`]);
    const notebook = path.join(mirror.dir(), 'notebooks', name);
    const args = ['dist/sdk/cli/main.js', 'notebook', notebook, ...params, '--timeout', String(CELL_TIMEOUT_S), '--out', runnerOut()];
    const result = await runProcess(process.execPath, args, { cwd: ROOT, timeoutMs: NOTEBOOK_TIMEOUT_MS });
    expect(result.status, `${name}:\n${result.stdout}${result.stderr}`).toBe(0);

    const executed = JSON.parse(readFileSync(path.join(runnerOut(), name), 'utf8')) as Notebook;
    expect(problemsOf(executed), name).toEqual([]);
    expect((executed.metadata.mmkit as { ok: boolean }).ok).toBe(true);
    expect(existsSync(path.join(runnerOut(), name.replace(/\.ipynb$/, '.html')))).toBe(true);
  }, NOTEBOOK_TIMEOUT_MS + 30_000);

  it('does not write to the checkout: notebooks/ is unchanged after the runs', () => {
    expect(notebooksListing()).toBe(mirror.before());
  });
});

describe('the reports in Chromium', () => {
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`npm run setup:system\` (it installs Debian's chromium).`);
    context = await chromium.launchPersistentContext(path.join(mirror.dir(), 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1100, height: 900 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
  });

  describe('the tutorial report (npm run tutorial)', () => {
    let report: OpenedReport;
    let page: Page;

    beforeAll(async () => {
      report = await open('01-vit-compression.ipynb');
      page = report.page;
    }, 60_000);

    it('draws its charts as inline SVG with visible marks', async () => {
      const svgs: SvgFacts[] = await page.$$eval('svg.marks', (elements) =>
        elements.map((svg) => {
          const box = svg.getBoundingClientRect();
          const items = [...svg.querySelectorAll('g[class^="mark-"] > path, g[class^="mark-"] > line, g[class^="mark-"] > text')];
          const visible = items.filter((item) => {
            const r = item.getBoundingClientRect();
            return r.width > 0 || r.height > 0; // a horizontal rule has no height, a vertical one no width
          });
          return { width: box.width, height: box.height, visibleMarks: visible.length };
        }),
      );
      // The tutorial draws two charts: MFLOPs per layer (bars) and latency by batch size.
      expect(svgs.length).toBeGreaterThanOrEqual(2);
      for (const svg of svgs) {
        expect(svg.width).toBeGreaterThan(100);
        expect(svg.height).toBeGreaterThan(50);
        expect(svg.visibleMarks).toBeGreaterThan(5);
      }
      // The bar chart's bars are drawn with area, not only its axes.
      const barAreas = await page.$$eval('svg.marks g.mark-rect > path', (bars) =>
        bars.map((bar) => {
          const r = bar.getBoundingClientRect();
          return r.width * r.height;
        }),
      );
      expect(barAreas.length).toBeGreaterThanOrEqual(3);
      for (const area of barAreas) expect(area).toBeGreaterThan(0);
    });

    it('shows the tables: evaluation, saved models, parameters and environment', async () => {
      const tables = await page.$$eval('table', (elements) =>
        elements.map((table) => ({ rows: table.querySelectorAll('tr').length, text: table.textContent ?? '' })),
      );
      expect(tables.length).toBeGreaterThanOrEqual(4);
      for (const table of tables) expect(table.rows).toBeGreaterThanOrEqual(1);
      const text = tables.map((t) => t.text).join('\n');
      expect(text).toContain('top-1');
      expect(text).toContain('vit-tiny-mnist-compressed-replayed.onnx');
      expect(text).toContain('onnxruntime-node');
    });

    it('loads without console errors, page errors or failed requests', () => {
      expect(report.consoleErrors).toEqual([]);
      expect(report.pageErrors).toEqual([]);
      expect(report.failedRequests).toEqual([]);
    });

    it('renders to a full-page screenshot', async () => {
      const file = path.join(mirror.dir(), 'report.png');
      await page.screenshot({ path: file, fullPage: true });
      const png = readFileSync(file);
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
      // PNG header: width and height, big-endian, at bytes 16 and 20.
      expect(png.readUInt32BE(16)).toBe(1100);
      expect(png.readUInt32BE(20)).toBeGreaterThan(2000);
    });
  });

  describe('the reproducible-report notebook (03)', () => {
    let report: OpenedReport;

    beforeAll(async () => {
      report = await open('03-reproducible-report.ipynb');
    }, 60_000);

    it('lists the recipe and the saved and replayed models with one sha256', async () => {
      const sections = await report.page.$$eval('h2', (headings) =>
        headings.map((h) => {
          const next = h.nextElementSibling;
          return { title: h.textContent ?? '', text: next?.textContent ?? '', rows: next ? [...next.querySelectorAll('tr')].map((tr) => [...tr.children].map((c) => c.textContent ?? '')) : [] };
        }),
      );
      const recipe = sections.find((s) => s.title === 'Recipe');
      expect(JSON.parse(recipe?.text ?? 'null')).toMatchObject({ source: { uri: '../datasets/models/vit-tiny-mnist.onnx', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }, steps: [] });
      const models = sections.find((s) => s.title === 'Models');
      const [header, ...rows] = models?.rows ?? [];
      expect(header).toEqual(['model', 'bytes', 'sha256']);
      expect(rows.map((r) => r[0])).toEqual(['vit-tiny-mnist.onnx', 'vit-tiny-mnist-replayed.onnx']);
      expect(rows[1][2]).toMatch(/^[0-9a-f]{64}$/);
      expect(rows[1].slice(1)).toEqual(rows[0].slice(1));
      expect(report.consoleErrors.concat(report.pageErrors, report.failedRequests)).toEqual([]);
    });
  });
});
