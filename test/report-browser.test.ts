/**
 * The tutorial's HTML report in a real browser: the headless runner executes
 * notebooks/01-vit-compression.ipynb, and Debian's Chromium, driven by playwright-core, opens
 * the page it wrote. The charts must be drawn (inline SVG with visible marks), the tables
 * present, and the page must load without console errors, page errors or failed requests.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');
const CHROMIUM = '/usr/bin/chromium';
const TUTORIAL = 'notebooks/01-vit-compression.ipynb';

let work: string;
let context: BrowserContext;
let page: Page;
const consoleErrors: string[] = [];
const pageErrors: string[] = [];
const failedRequests: string[] = [];

interface SvgFacts {
  width: number;
  height: number;
  /** vega mark items (a bar, a rule, a point, a label) drawn with a non-zero box */
  visibleMarks: number;
  markKinds: string[];
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`npm run setup:system\` (it installs Debian's chromium).`);
  const build = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
  expect(build.status, `npm run build failed:\n${build.stdout}${build.stderr}`).toBe(0);

  work = mkdtempSync(path.join(os.tmpdir(), 'mmkit-report-browser-'));
  // The tutorial's saved models go to the temp folder too (its outDir parameter), not to out/.
  const tutorial = spawnSync(
    process.execPath,
    ['dist/kernel-extras/notebook-cli.js', TUTORIAL, '--param', `outDir=${path.join(work, 'models')}`, '--param', 'evalItems=500', '--out', path.join(work, 'report')],
    { cwd: ROOT, encoding: 'utf8', timeout: 240_000 },
  );
  expect(tutorial.status, `the tutorial failed:\n${tutorial.stdout}${tutorial.stderr}`).toBe(0);

  context = await chromium.launchPersistentContext(path.join(work, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('requestfailed', (request) => failedRequests.push(`${request.url()}: ${request.failure()?.errorText}`));
  page.on('response', (response) => {
    if (response.status() >= 400) failedRequests.push(`${response.url()}: HTTP ${response.status()}`);
  });
  const response = await page.goto(pathToFileURL(path.join(work, 'report', '01-vit-compression.html')).href, { waitUntil: 'load' });
  expect(response?.ok()).toBe(true);
}, 300_000);

afterAll(async () => {
  await context?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the tutorial report in Chromium', () => {
  it('draws its charts as inline SVG with visible marks', async () => {
    const svgs: SvgFacts[] = await page.$$eval('svg.marks', (elements) =>
      elements.map((svg) => {
        const box = svg.getBoundingClientRect();
        const items = [...svg.querySelectorAll('g[class^="mark-"] > path, g[class^="mark-"] > line, g[class^="mark-"] > text')];
        const visible = items.filter((item) => {
          const r = item.getBoundingClientRect();
          return r.width > 0 || r.height > 0; // a horizontal rule has no height, a vertical one no width
        });
        const kinds = new Set(visible.map((item) => (item.parentElement?.getAttribute('class') ?? '').split(' ')[0]));
        return { width: box.width, height: box.height, visibleMarks: visible.length, markKinds: [...kinds].sort() };
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
    expect(text).toContain('vit-tiny-mnist-replayed.onnx');
    expect(text).toContain('onnxruntime-node');
  });

  it('loads without console errors, page errors or failed requests', () => {
    expect(consoleErrors).toEqual([]);
    expect(pageErrors).toEqual([]);
    expect(failedRequests).toEqual([]);
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
