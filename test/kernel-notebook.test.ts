/** papermill-style parameters and notebook reading, as the headless runner applies them. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMmkitError } from '../sdk/errors';
import { injectParameters, parseParameter, readNotebook, type Notebook } from '../kernel-extras/runner/notebook';

const notebook = (tags: string[][]): Notebook => ({
  nbformat: 4,
  nbformat_minor: 5,
  metadata: {},
  cells: tags.map((t, i) => ({ cell_type: 'code', id: `c${i}`, source: `// ${i}`, metadata: { tags: t }, execution_count: null, outputs: [] })),
});

describe('parameters', () => {
  it('parse as JSON when they can, else as strings', () => {
    expect(parseParameter('sparsity=0.5')).toEqual(['sparsity', 0.5]);
    expect(parseParameter('fast=true')).toEqual(['fast', true]);
    expect(parseParameter('layers=[1,2]')).toEqual(['layers', [1, 2]]);
    expect(parseParameter('mode=dynamic')).toEqual(['mode', 'dynamic']);
    expect(parseParameter('id="007"')).toEqual(['id', '007']);
    expect(parseParameter('expr=a=b')).toEqual(['expr', 'a=b']);
  });

  it('need a TypeScript identifier as name', () => {
    for (const bad of ['1x=2', 'no-equals', '=3', 'a-b=1']) {
      let error: unknown;
      try {
        parseParameter(bad);
      } catch (e) {
        error = e;
      }
      expect(isMmkitError(error, 'BAD_OPTION'), bad).toBe(true);
    }
  });

  it('go in a tagged cell right after the cell tagged parameters, or first when there is none', () => {
    const tagged = injectParameters(notebook([[], ['parameters'], []]), { sparsity: 0.7, mode: 'static' });
    expect(tagged.cells.map((c) => c.id)).toEqual(['c0', 'c1', tagged.cells[2].id, 'c2']);
    expect(tagged.cells[2].metadata.tags).toEqual(['injected-parameters']);
    expect(tagged.cells[2].source).toBe('// Parameters injected by mmkit notebook\nconst sparsity = 0.7;\nconst mode = "static";');
    const untagged = injectParameters(notebook([[], []]), { n: 1 });
    expect(untagged.cells[0].metadata.tags).toEqual(['injected-parameters']);
    const none = notebook([[]]);
    expect(injectParameters(none, {})).toBe(none);
  });
});

describe('reading notebooks', () => {
  it('names the file when it is not an nbformat 4 notebook', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mmkit-nb-'));
    try {
      const file = path.join(dir, 'old.ipynb');
      writeFileSync(file, JSON.stringify({ nbformat: 3, worksheets: [] }));
      expect(() => readNotebook(file)).toThrow(`${file} is not an nbformat 4 notebook`);
      writeFileSync(file, '{ not json');
      expect(() => readNotebook(file)).toThrow(/Could not read the notebook/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
