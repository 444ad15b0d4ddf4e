/** `--input name=1,3,320,320` and `--dim name=320`, repeatable: the shapes made-up inputs take (summary's probe, check's synthetic data). */
import { InvalidArgumentError, type Command } from 'commander';

function split(text: string, what: string): [string, string] {
  const at = text.lastIndexOf('=');
  if (at <= 0) throw new InvalidArgumentError(`expected ${what}.`);
  return [text.slice(0, at), text.slice(at + 1)];
}

const size = (text: string) => (/^\d+$/.test(text) && Number(text) >= 1 ? Number(text) : NaN);

function collectInput(text: string, previous: Record<string, number[]>): Record<string, number[]> {
  const [name, sizes] = split(text, 'name=sizes, e.g. x=1,3,320,320');
  const shape = sizes === '' ? [] : sizes.split(',').map(size);
  if (shape.some(Number.isNaN)) throw new InvalidArgumentError('expected sizes as whole numbers ≥ 1, e.g. x=1,3,320,320.');
  return { ...previous, [name]: shape };
}

function collectDim(text: string, previous: Record<string, number>): Record<string, number> {
  const [name, value] = split(text, 'name=size, e.g. samples=1280');
  if (Number.isNaN(size(value))) throw new InvalidArgumentError('expected a whole number ≥ 1, e.g. samples=1280.');
  return { ...previous, [name]: size(value) };
}

export interface ShapeCommandOptions {
  input?: Record<string, number[]>;
  dim?: Record<string, number>;
}

/** Adds --input and --dim; `what` says what the shapes are for. */
export function shapeOptions(cmd: Command, what: string): Command {
  return cmd
    .option('--input <name=sizes>', `shape of an input for ${what}, batch axis included (repeatable), e.g. --input x=1,3,320,320`, collectInput)
    .option('--dim <name=size>', `size of a named symbolic dimension for ${what} (repeatable), e.g. --dim samples=1280`, collectDim);
}
