/**
 * A standalone HTML page for an executed notebook: its cells and outputs (charts as inline
 * SVG, tables as HTML), the parameters, the recipe, model hashes, environment and versions.
 * No scripts and no external resources, so it opens anywhere and archives well.
 */
import { escapeHtml } from '../../sdk/report/html';
import { REPORT_MIME, type ModelFact, type ReportFacts } from '../../sdk/report/report-facts';
import { joinText, type Notebook, type Output, type ParameterValue } from './notebook';

export interface ReportContext {
  title: string;
  parameters: Record<string, ParameterValue>;
  environment: Record<string, string>;
  /** What went wrong, when the run failed. */
  failure?: string;
  startedAt: Date;
  durationMs: number;
}

const STYLE = `body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;font-size:.85rem}
pre.error{background:#fde8e8;color:#8a1c1c}.cell{margin:1rem 0;overflow-x:auto}.prompt{color:#888;font-size:.75rem}
table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #ddd;padding:.2rem .5rem;overflow-wrap:anywhere}
.failed{background:#fde8e8;padding:.5rem;border-left:4px solid #c00}.ok{color:#070}`;

/** Enough Markdown for notebook prose: headings, lists, code fences, inline code, emphasis, links. */
export function markdownToHtml(markdown: string): string {
  const inline = (text: string) =>
    escapeHtml(text)
      .replace(/`([^`]+)`/g, '<code>$1</code>')
      .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
      .replace(/\*([^*]+)\*/g, '<em>$1</em>')
      .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, '<a href="$2">$1</a>');
  const html: string[] = [];
  for (const block of markdown.split(/^```.*$/m).map((b, i) => ({ text: b, code: i % 2 === 1 }))) {
    if (block.code) {
      html.push(`<pre><code>${escapeHtml(block.text.replace(/^\n|\n$/g, ''))}</code></pre>`);
      continue;
    }
    for (const para of block.text.split(/\n\s*\n/)) {
      const lines = para.trim().split('\n');
      if (!lines[0]) continue;
      const heading = /^(#{1,6})\s+(.*)$/.exec(lines[0]);
      if (heading && lines.length === 1) html.push(`<h${heading[1].length}>${inline(heading[2])}</h${heading[1].length}>`);
      else if (lines.every((l) => /^\s*[-*]\s+/.test(l))) html.push(`<ul>${lines.map((l) => `<li>${inline(l.replace(/^\s*[-*]\s+/, ''))}</li>`).join('')}</ul>`);
      else if (lines.every((l) => /^\s*\d+\.\s+/.test(l))) html.push(`<ol>${lines.map((l) => `<li>${inline(l.replace(/^\s*\d+\.\s+/, ''))}</li>`).join('')}</ol>`);
      else html.push(`<p>${inline(lines.join(' '))}</p>`);
    }
  }
  return html.join('\n');
}

function outputHtml(output: Output): string {
  switch (output.output_type) {
    case 'stream':
      return `<pre${output.name === 'stderr' ? ' class="error"' : ''}>${escapeHtml(joinText(output.text))}</pre>`;
    case 'error':
      return `<pre class="error">${escapeHtml(stripAnsi(output.traceback.join('\n') || `${output.ename}: ${output.evalue}`))}</pre>`;
    default:
      return bundleHtml(output.data);
  }
}

/** The richest form of a bundle a static page can show without scripts. */
function bundleHtml(data: Record<string, unknown>): string {
  const text = (mime: string) => (typeof data[mime] === 'string' ? (data[mime] as string) : Array.isArray(data[mime]) ? (data[mime] as string[]).join('') : undefined);
  const svg = text('image/svg+xml');
  if (svg) return `<div class="chart">${svg}</div>`;
  const html = text('text/html');
  if (html) return `<div>${html}</div>`;
  for (const mime of ['image/png', 'image/jpeg']) {
    const image = text(mime);
    if (image) return `<img src="data:${mime};base64,${image.replace(/\s/g, '')}">`;
  }
  const plain = text('text/plain');
  return plain === undefined ? '' : `<pre>${escapeHtml(plain)}</pre>`;
}

function stripAnsi(text: string): string {
  return text.replace(/\x1b\[[0-9;]*m/g, '');
}

function keyValueTable(rows: Record<string, string>): string {
  const body = Object.entries(rows).map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`);
  return `<table>${body.join('')}</table>`;
}

/** Recipes and model facts published by outputs under REPORT_MIME, in notebook order. */
export function collectReportFacts(nb: Notebook): { recipes: unknown[]; models: ModelFact[] } {
  const recipes: unknown[] = [];
  const models = new Map<string, ModelFact>();
  for (const cell of nb.cells) {
    if (cell.cell_type !== 'code') continue;
    for (const output of cell.outputs) {
      if (output.output_type !== 'display_data' && output.output_type !== 'execute_result') continue;
      const facts = output.data[REPORT_MIME] as ReportFacts | undefined;
      if (!facts) continue;
      if (facts.recipe !== undefined) recipes.push(facts.recipe);
      for (const model of facts.models ?? []) models.set(`${model.name}:${model.sha256}`, model);
    }
  }
  return { recipes, models: [...models.values()] };
}

export function renderHtmlReport(nb: Notebook, context: ReportContext): string {
  const { recipes, models } = collectReportFacts(nb);
  const cells = nb.cells.map((cell) => {
    if (cell.cell_type === 'markdown') return `<div class="cell">${markdownToHtml(joinText(cell.source))}</div>`;
    if (cell.cell_type !== 'code') return '';
    const prompt = `<div class="prompt">[${cell.execution_count ?? ' '}]</div>`;
    return `<div class="cell">${prompt}<pre><code>${escapeHtml(joinText(cell.source))}</code></pre>${cell.outputs.map(outputHtml).join('\n')}</div>`;
  });
  const status = context.failure
    ? `<p class="failed">Failed: ${escapeHtml(context.failure)}</p>`
    : `<p class="ok">All cells ran without errors.</p>`;
  const parameters = Object.keys(context.parameters).length
    ? keyValueTable(Object.fromEntries(Object.entries(context.parameters).map(([k, v]) => [k, JSON.stringify(v)])))
    : '<p>None (the notebook\'s defaults).</p>';
  const modelTable = models.length
    ? `<table><tr><th>model</th><th>bytes</th><th>sha256</th></tr>${models
        .map((m) => `<tr><td>${escapeHtml(m.name)}</td><td>${m.bytes}</td><td><code>${escapeHtml(m.sha256)}</code></td></tr>`)
        .join('')}</table>`
    : '<p>No model hashes were published.</p>';
  const recipeBlock = recipes.length
    ? recipes.map((r) => `<pre>${escapeHtml(JSON.stringify(r, null, 2))}</pre>`).join('\n')
    : '<p>No recipe was published.</p>';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(context.title)}</title><style>${STYLE}</style></head>
<body>
<h1>${escapeHtml(context.title)}</h1>
<p>Run ${escapeHtml(context.startedAt.toISOString())}, ${(context.durationMs / 1000).toFixed(1)} s.</p>
${status}
<h2>Parameters</h2>
${parameters}
${cells.join('\n')}
<h2>Recipe</h2>
${recipeBlock}
<h2>Models</h2>
${modelTable}
<h2>Environment</h2>
${keyValueTable(context.environment)}
</body></html>
`;
}
