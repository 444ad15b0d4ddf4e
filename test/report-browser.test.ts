/**
 * Notebook HTML reports in a real browser: the headless runner executes a notebook into a
 * temp folder, and Debian's Chromium, driven by playwright-core, opens the page it wrote.
 * The tutorial's page must draw its charts (inline SVG with visible marks), show its tables and
 * load without console errors, page errors or failed requests; the reproducible-report
 * notebook's page must list the recipe and the saved and replayed models with one sha256.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { runProcess } from './helpers/run-process';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');
const CHROMIUM = '/usr/bin/chromium';

let work: string;
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

/** Runs a notebook by the headless runner into the temp folder; its outDir parameter keeps saved models there too. */
async function runToHtml(notebook: string, parameters: Record<string, string | number>): Promise<string> {
  const name = path.basename(notebook, '.ipynb');
  const params = Object.entries({ ...parameters, outDir: path.join(work, name, 'models') }).flatMap(([k, v]) => ['--param', `${k}=${v}`]);
  const run = await runProcess(process.execPath, ['dist/sdk/cli/main.js', 'notebook', notebook, ...params, '--out', path.join(work, name)], { cwd: ROOT, timeoutMs: 240_000 });
  expect(run.status, `${notebook} failed:\n${run.stdout}${run.stderr}`).toBe(0);
  return path.join(work, name, `${name}.html`);
}

/** Opens a report page, recording everything that goes wrong while it loads. */
async function open(htmlFile: string): Promise<OpenedReport> {
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

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`npm run setup:system\` (it installs Debian's chromium).`);
  const build = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
  expect(build.status, `npm run build failed:\n${build.stdout}${build.stderr}`).toBe(0);

  work = mkdtempSync(path.join(os.tmpdir(), 'mmkit-report-browser-'));
  context = await chromium.launchPersistentContext(path.join(work, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the tutorial report (npm run tutorial) in Chromium', () => {
  let report: OpenedReport;
  let page: Page;

  beforeAll(async () => {
    report = await open(await runToHtml('notebooks/01-vit-compression.ipynb', { evalItems: 500 }));
    page = report.page;
  }, 300_000);

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
    const file = path.join(work, 'report.png');
    await page.screenshot({ path: file, fullPage: true });
    const png = readFileSync(file);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    // PNG header: width and height, big-endian, at bytes 16 and 20.
    expect(png.readUInt32BE(16)).toBe(1100);
    expect(png.readUInt32BE(20)).toBeGreaterThan(2000);
  });
});

describe('the reproducible-report notebook (03) in Chromium', () => {
  let report: OpenedReport;

  beforeAll(async () => {
    report = await open(await runToHtml('notebooks/03-reproducible-report.ipynb', { evalItems: 200 }));
  }, 300_000);

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
