import { MmkitError } from '../errors';
import { WordTokenizer } from '../models/tokenizer';
import { Dataset } from './dataset';
import { mulberry32 } from '../random';
import { registerDatasetSource, specArgs } from './spec';
import type { TensorData } from '../tensor-data';

/**
 * A procedurally generated image–caption set in which the caption matters: coloured shapes, alone
 * ("a red circle") or in pairs with a spatial relation ("a red circle left of a blue square"), so a
 * model must read colour, shape and position. Rendered here, deterministic: item i of a split is
 * always the same image and caption. Even items hold one shape, odd items two.
 */
export const SHAPE_KINDS = ['circle', 'square', 'triangle', 'cross'] as const;
export const SHAPE_COLOURS = ['red', 'green', 'blue', 'yellow'] as const;
export const SHAPE_RELATIONS = ['left of', 'right of', 'above', 'below'] as const;

export type ShapeKind = (typeof SHAPE_KINDS)[number];
export type ShapeColour = (typeof SHAPE_COLOURS)[number];
export type ShapeRelation = (typeof SHAPE_RELATIONS)[number];

export const SHAPES_IMAGE_SIZE = 32;
/** Items per split: train for fitting (its first items serve as validation), test held out. */
export const SHAPES_SPLIT_SIZES = { train: 20_000, test: 1_000 } as const;
const SPLIT_SEEDS = { train: 0x5eed_0001, test: 0x5eed_0002 } as const;

const RGB: Record<ShapeColour, [number, number, number]> = {
  red: [0.9, 0.12, 0.1],
  green: [0.12, 0.8, 0.2],
  blue: [0.15, 0.3, 0.95],
  yellow: [0.95, 0.85, 0.1],
};

export interface PlacedShape {
  kind: ShapeKind;
  colour: ShapeColour;
  x: number;
  y: number;
  radius: number;
}

export interface ShapeScene {
  shapes: PlacedShape[];
  /** For two shapes: shapes[0] <relation> shapes[1]. */
  relation?: ShapeRelation;
  caption: string;
  /** For one shape: its zero-shot class (index into shapeClassNames()). */
  classIndex?: number;
}

export type ShapesSplit = keyof typeof SHAPES_SPLIT_SIZES;

/** The 16 zero-shot classes, "colour kind", in class-index order. */
export function shapeClassNames(): string[] {
  return SHAPE_COLOURS.flatMap((c) => SHAPE_KINDS.map((k) => `${c} ${k}`));
}

/** Text prompts for zero-shot classification, one per class (the single-shape caption form). */
export function shapePrompts(): string[] {
  return shapeClassNames().map((n) => `a ${n}`);
}

/** The word-level tokenizer for every caption and prompt of this set. */
export function shapesTokenizer(): WordTokenizer {
  const words = ['a', ...SHAPE_COLOURS, ...SHAPE_KINDS, 'left', 'right', 'of', 'above', 'below'];
  return new WordTokenizer(words, 12);
}

function pick<T>(items: readonly T[], rand: () => number): T {
  return items[Math.floor(rand() * items.length)];
}

function uniform(lo: number, hi: number, rand: () => number): number {
  return lo + (hi - lo) * rand();
}

function describe(s: PlacedShape): string {
  return `a ${s.colour} ${s.kind}`;
}

/** Item `index` of a split, as a scene description (no pixels yet). */
export function shapeScene(split: ShapesSplit, index: number): ShapeScene {
  const rand = mulberry32(Math.imul(SPLIT_SEEDS[split], 2_654_435_761) ^ index);
  const S = SHAPES_IMAGE_SIZE;
  if (index % 2 === 0) {
    const kind = pick(SHAPE_KINDS, rand);
    const colour = pick(SHAPE_COLOURS, rand);
    const radius = uniform(4.5, 7, rand);
    const x = uniform(radius + 1, S - radius - 1, rand);
    const y = uniform(radius + 1, S - radius - 1, rand);
    const shape = { kind, colour, x, y, radius };
    return { shapes: [shape], caption: describe(shape), classIndex: SHAPE_COLOURS.indexOf(colour) * SHAPE_KINDS.length + SHAPE_KINDS.indexOf(kind) };
  }
  const first = { kind: pick(SHAPE_KINDS, rand), colour: pick(SHAPE_COLOURS, rand) };
  let second = first;
  while (second.kind === first.kind && second.colour === first.colour) second = { kind: pick(SHAPE_KINDS, rand), colour: pick(SHAPE_COLOURS, rand) };
  const relation = pick(SHAPE_RELATIONS, rand);
  const radius = uniform(3.5, 5, rand);
  // Along the relation's axis the shapes sit in opposite halves; across it they stay within ±4 px.
  const near = uniform(5.5, 12, rand);
  const far = uniform(20, 26.5, rand);
  const across = uniform(6, 26, rand);
  const across2 = Math.min(26.5, Math.max(5.5, across + uniform(-4, 4, rand)));
  const [a, b] = relation === 'left of' || relation === 'above' ? [near, far] : [far, near];
  const horizontal = relation === 'left of' || relation === 'right of';
  const shapes: PlacedShape[] = [
    { ...first, radius, x: horizontal ? a : across, y: horizontal ? across : a },
    { ...second, radius, x: horizontal ? b : across2, y: horizontal ? across2 : b },
  ];
  return { shapes, relation, caption: `${describe(shapes[0])} ${relation} ${describe(shapes[1])}` };
}

function inside(s: PlacedShape, px: number, py: number): boolean {
  const dx = px - s.x;
  const dy = py - s.y;
  const r = s.radius;
  switch (s.kind) {
    case 'circle':
      return dx * dx + dy * dy <= r * r;
    case 'square':
      return Math.abs(dx) <= 0.85 * r && Math.abs(dy) <= 0.85 * r;
    case 'triangle':
      // Apex up at y − r, base at y + 0.8 r as wide as the radius each side.
      return dy >= -r && dy <= 0.8 * r && Math.abs(dx) <= (dy + r) / 1.8;
    case 'cross':
      return (Math.abs(dx) <= 0.3 * r && Math.abs(dy) <= r) || (Math.abs(dy) <= 0.3 * r && Math.abs(dx) <= r);
  }
}

/**
 * Renders a scene into `out` at `offset` as float32 [3, 32, 32], normalised to [-1, 1]
 * ((v − 0.5) / 0.5). Colours and the dark background get a little seeded noise.
 */
export function renderScene(scene: ShapeScene, out: Float32Array, offset: number, seed: number): void {
  const rand = mulberry32(seed);
  const S = SHAPES_IMAGE_SIZE;
  const colours = scene.shapes.map((s) => RGB[s.colour].map((v) => Math.min(1, Math.max(0, v + uniform(-0.08, 0.08, rand)))));
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      let rgb = [0.1, 0.1, 0.1];
      scene.shapes.forEach((s, i) => {
        if (inside(s, x + 0.5, y + 0.5)) rgb = colours[i];
      });
      for (let c = 0; c < 3; c++) out[offset + c * S * S + y * S + x] = (rgb[c] + uniform(-0.03, 0.03, rand) - 0.5) / 0.5;
    }
  }
}

export interface ShapesItems {
  pixels: TensorData;
  scenes: ShapeScene[];
}

/** Renders the items at `indices` of a split: pixel_values [n, 3, 32, 32] and their scenes. */
export function renderShapes(split: ShapesSplit, indices: ArrayLike<number>): ShapesItems {
  const per = 3 * SHAPES_IMAGE_SIZE * SHAPES_IMAGE_SIZE;
  const data = new Float32Array(indices.length * per);
  const scenes: ShapeScene[] = [];
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    const limit = SHAPES_SPLIT_SIZES[split];
    if (!(Number.isInteger(i) && i >= 0 && i < limit)) throw new MmkitError('BAD_OPTION', `Shapes ${split} has items 0..${limit - 1}; asked for ${i}.`);
    const scene = shapeScene(split, i);
    renderScene(scene, data, k * per, SPLIT_SEEDS[split] ^ (i * 7919));
    scenes.push(scene);
  }
  return { pixels: { data, dims: [indices.length, 3, SHAPES_IMAGE_SIZE, SHAPES_IMAGE_SIZE], dtype: 'float32' }, scenes };
}

export interface ShapesOptions {
  split: ShapesSplit;
  /**
   * 'pairs' (default): every item as { pixel_values, input_ids, attention_mask }, for CLIP.
   * 'zero-shot': the one-shape items as bare pixel_values labelled with their class (see shapePrompts()).
   * 'retrieval': the two-shape items as pairs, where only the relation tells near-duplicates apart.
   */
  task?: 'pairs' | 'zero-shot' | 'retrieval';
  batchSize?: number;
}

/** Indices of a split that a task uses. */
export function shapeIndices(split: ShapesSplit, task: NonNullable<ShapesOptions['task']> = 'pairs'): number[] {
  const all = Array.from({ length: SHAPES_SPLIT_SIZES[split] }, (_, i) => i);
  if (task === 'pairs') return all;
  return all.filter((i) => i % 2 === (task === 'zero-shot' ? 0 : 1));
}

/** The shapes image–caption set as a Dataset (rendered lazily, batch by batch). */
export function shapes(opts: ShapesOptions): Dataset {
  if (opts?.split !== 'train' && opts?.split !== 'test') {
    throw new MmkitError('BAD_OPTION', `shapes({ split: ${JSON.stringify(opts?.split)} }): split must be 'train' or 'test'.`, { hint: "Use mm.datasets.shapes({ split: 'test' })." });
  }
  const task = opts.task ?? 'pairs';
  if (!['pairs', 'zero-shot', 'retrieval'].includes(task)) throw new MmkitError('BAD_OPTION', `shapes: task must be 'pairs', 'zero-shot' or 'retrieval', got '${task}'.`);
  const indices = shapeIndices(opts.split, task);
  const per = opts.batchSize ?? 32;
  const tokenizer = shapesTokenizer();
  return Dataset.from(
    function* () {
      for (let s = 0; s < indices.length; s += per) {
        const { pixels, scenes } = renderShapes(opts.split, indices.slice(s, s + per));
        if (task === 'zero-shot') yield { inputs: pixels, label: Int32Array.from(scenes, (sc) => sc.classIndex!) };
        else yield { inputs: { pixel_values: pixels, ...tokenizer.encode(scenes.map((sc) => sc.caption)) } };
      }
    },
    {
      name: `shapes:${opts.split}:${task}`,
      size: indices.length,
      ...(task === 'zero-shot' ? { classes: shapeClassNames() } : {}),
      spec: { source: 'shapes', args: specArgs(opts), ops: [] },
    },
  );
}

registerDatasetSource('shapes', (args) => shapes(args as unknown as ShapesOptions));
