/**
 * The house keeps its floors: every import in sdk/ (static, `export … from`, `import()` and
 * require) runs down or across a floor, never up, and no rooms import each other in a circle.
 * A room is a top-level folder of sdk/ or a file on the ground floor (sdk/errors.ts, …).
 * A new room must be given a floor here; a new arrow up must be refactored away (or, if truly
 * justified, listed in ALLOWED_UP with the reason).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SDK = path.resolve(__dirname, '../sdk');

/** Bottom → top. A room may import its own floor (no circles, see below) and the floors under it. */
const FLOORS: readonly (readonly string[])[] = [
  ['errors', 'version', 'hash-file', 'random'], // ground: nothing inside sdk/
  ['onnx'], // protobuf model, graph view, external data, patterns
  ['tensor-data'], // a plain tensor, typed by ONNX's dtypes
  ['runtime', 'linalg', 'hub', 'data', 'preprocess', 'models'],
  ['step'], // the step contract: steps take Datasets, so it stands on data
  ['calibrate', 'eval', 'report'],
  ['passes', 'train', 'check', 'analysis'],
  ['serve'], // below pipeline: pipeline.serve() starts a server
  ['pipeline'],
  ['deploy'],
  ['cli'],
  ['index'], // the SDK's entry, the only file that may import every room
];

/** Arrows allowed to run up a floor, each with why: none today. */
const ALLOWED_UP: readonly { from: string; to: string; why: string }[] = [];

interface Arrow {
  from: string;
  to: string;
}

function sdkFiles(dir = SDK): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sdkFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** The file a relative specifier names ('./x', './x.js', './dir'), or undefined outside sdk/. */
function resolveImport(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec.replace(/\.js$/, ''));
  const file = [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f));
  if (!file) throw new Error(`${path.relative(SDK, from)}: cannot resolve import '${spec}'`);
  return file.startsWith(SDK + path.sep) ? file : undefined;
}

/** Every import of every sdk/ file that names another sdk/ file. TypeScript's own scanner finds them, comments excluded. */
function fileArrows(): Arrow[] {
  return sdkFiles().flatMap((from) => {
    const { importedFiles } = ts.preProcessFile(fs.readFileSync(from, 'utf8'), true, true);
    return importedFiles
      .filter((i) => i.fileName.startsWith('.'))
      .flatMap((i) => {
        const to = resolveImport(from, i.fileName);
        return to ? [{ from, to }] : [];
      });
  });
}

const roomOf = (file: string): string => {
  const [top, ...rest] = path.relative(SDK, file).split(path.sep);
  return rest.length === 0 ? top.replace(/\.ts$/, '') : top;
};
const floorOf = new Map(FLOORS.flatMap((rooms, floor) => rooms.map((room) => [room, floor] as const)));
const rel = (f: string) => `sdk/${path.relative(SDK, f)}`;

/** The room graph's strongly connected components with more than one room (Tarjan). */
function circles(rooms: string[], next: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const r of rooms) if (!index.has(r)) visit(r);
  return found;
}

describe('the house (sdk/ imports)', () => {
  const arrows = fileArrows().filter((a) => roomOf(a.from) !== roomOf(a.to));
  const rooms = [...new Set(sdkFiles().map(roomOf))].sort();

  it('reads the imports (static, export-from and import())', () => {
    const lines = arrows.map((a) => `${rel(a.from)} -> ${rel(a.to)}`);
    // One of each kind, so a scanner that misses a form fails here rather than passing blind.
    expect(lines).toContain('sdk/pipeline/pipeline.ts -> sdk/step/index.ts');
    expect(lines).toContain('sdk/data/index.ts -> sdk/tensor-data.ts');
    expect(lines).toContain('sdk/passes/recover.ts -> sdk/train/distill.ts');
  });

  it('gives every room a floor, and declares no room that is gone', () => {
    expect(rooms.filter((r) => !floorOf.has(r)), 'rooms without a floor in FLOORS').toEqual([]);
    expect([...floorOf.keys()].filter((r) => !rooms.includes(r)), 'floors name rooms that do not exist').toEqual([]);
  });

  it('has no arrow that runs back up a floor', () => {
    const up = arrows
      .filter((a) => floorOf.get(roomOf(a.to))! > floorOf.get(roomOf(a.from))!)
      .filter((a) => !ALLOWED_UP.some((ok) => ok.from === roomOf(a.from) && ok.to === roomOf(a.to)))
      .map((a) => `${rel(a.from)} -> ${rel(a.to)} (${roomOf(a.from)} on floor ${floorOf.get(roomOf(a.from))}, ${roomOf(a.to)} on ${floorOf.get(roomOf(a.to))})`);
    expect(up).toEqual([]);
    expect(ALLOWED_UP.length).toBeLessThanOrEqual(2);
  });

  it('has no circle between rooms', () => {
    const next = new Map<string, Set<string>>();
    for (const a of arrows) next.set(roomOf(a.from), (next.get(roomOf(a.from)) ?? new Set()).add(roomOf(a.to)));
    expect(circles(rooms, next)).toEqual([]);
  });

  it('lets only sdk/index.ts import everything: no file imports the entry', () => {
    expect(floorOf.get('index')).toBe(FLOORS.length - 1);
    expect(FLOORS.at(-1)).toEqual(['index']);
    expect(arrows.filter((a) => roomOf(a.to) === 'index').map((a) => rel(a.from))).toEqual([]);
  });
});
