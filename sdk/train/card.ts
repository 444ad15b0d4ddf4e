import * as fs from 'node:fs/promises';

/** What a shipped model's card says; rendered to Markdown beside the model, metrics also to JSON for tests. */
export interface ModelCard {
  title: string;
  /** The model file, relative to the card. */
  file: string;
  summary: string;
  architecture: Record<string, string | number>;
  inputs: string[];
  outputs: string[];
  data: string;
  command: string;
  training: Record<string, string | number>;
  /** Measured on the held-out split by the evaluation named in `evaluation`. */
  metrics: Record<string, number>;
  evaluation: string;
  notes?: string[];
}

function table(rows: Record<string, string | number>): string {
  return ['| | |', '|---|---|', ...Object.entries(rows).map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
}

export function renderCard(card: ModelCard): string {
  const metric = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(4));
  return [
    `# ${card.title}`,
    '',
    card.summary,
    '',
    `File: \`${card.file}\``,
    '',
    '## Architecture',
    '',
    table(card.architecture),
    '',
    `Inputs: ${card.inputs.map((i) => `\`${i}\``).join(', ')}. Outputs: ${card.outputs.map((o) => `\`${o}\``).join(', ')}.`,
    '',
    '## Data',
    '',
    card.data,
    '',
    '## Training',
    '',
    `Reproduce with \`${card.command}\`.`,
    '',
    table(card.training),
    '',
    '## Metrics',
    '',
    card.evaluation,
    '',
    table(Object.fromEntries(Object.entries(card.metrics).map(([k, v]) => [k, metric(v)]))),
    ...(card.notes?.length ? ['', '## Notes', '', ...card.notes.map((n) => `- ${n}`)] : []),
    '',
  ].join('\n');
}

/** Writes `<base>.md` (the card) and `<base>.metrics.json` (its metrics, for tests that re-measure them). */
export async function writeCard(base: string, card: ModelCard): Promise<void> {
  await fs.writeFile(`${base}.md`, renderCard(card));
  await fs.writeFile(`${base}.metrics.json`, `${JSON.stringify(card.metrics, null, 2)}\n`);
}
