/**
 * Protocol buffers TEXT format (what Triton's config.pbtxt is written in), without a schema:
 * parse to a tree of named fields, format a tree back to text. Typed access with errors that
 * name the file, line and field is PbtxtReader's job; which fields exist is the caller's.
 */
import { MmkitError } from '../../errors';

/** A scalar as written: a quoted string, a number (kept as text: uint64 may exceed 2^53), or an identifier (enum value, true/false, inf/nan). */
export type PbtxtScalar = { kind: 'string'; value: string } | { kind: 'number'; text: string } | { kind: 'identifier'; name: string };

export interface PbtxtField {
  name: string;
  value: PbtxtScalar | PbtxtMessage;
  /** 1-based line the field's name is on (0 for trees built in code). */
  line: number;
}

/** A message: its fields in file order; a repeated field appears once per value. */
export interface PbtxtMessage {
  kind: 'message';
  fields: PbtxtField[];
}

export const pbtxt = {
  message: (fields: PbtxtField[] = []): PbtxtMessage => ({ kind: 'message', fields }),
  field: (name: string, value: PbtxtScalar | PbtxtMessage): PbtxtField => ({ name, value, line: 0 }),
  string: (value: string): PbtxtScalar => ({ kind: 'string', value }),
  number: (value: number | bigint): PbtxtScalar => ({ kind: 'number', text: String(value) }),
  identifier: (name: string): PbtxtScalar => ({ kind: 'identifier', name }),
};

type Token =
  | { type: 'identifier' | 'number' | 'symbol'; text: string; line: number }
  | { type: 'string'; text: string; value: string; line: number };

const SYMBOLS = new Set(['{', '}', '<', '>', '[', ']', ':', ',', ';']);
const SIMPLE_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', '\\': '\\', "'": "'", '"': '"', '?': '?' };

function syntaxError(file: string, line: number, what: string): MmkitError {
  return new MmkitError('BAD_OPTION', `${file}:${line}: ${what}.`, {
    file,
    hint: 'config.pbtxt is protobuf text format: `field: value`, `message { … }`, repeated values as `field: [a, b]`, # comments.',
  });
}

function tokenize(text: string, file: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) i++;
    else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (SYMBOLS.has(c)) {
      tokens.push({ type: 'symbol', text: c, line });
      i++;
    } else if (c === '"' || c === "'") {
      const start = i;
      const bytes: number[] = [];
      i++;
      while (text[i] !== c) {
        if (i >= text.length || text[i] === '\n') throw syntaxError(file, line, 'a string is not closed before the end of the line');
        if (text[i] === '\\') i = readEscape(text, i + 1, bytes, () => syntaxError(file, line, `bad escape '${text.slice(i, i + 2)}' in a string`));
        else {
          const cp = text.codePointAt(i)!;
          bytes.push(...Buffer.from(String.fromCodePoint(cp), 'utf8'));
          i += cp > 0xffff ? 2 : 1;
        }
      }
      i++;
      // Escapes denote bytes (octal, \x) or code points (\u): collect bytes, decode as UTF-8 once.
      tokens.push({ type: 'string', text: text.slice(start, i), value: Buffer.from(bytes).toString('utf8'), line });
    } else {
      const m = /^(-?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)[fF]?|-?[A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(i, i + 256));
      if (!m) throw syntaxError(file, line, `unexpected character '${c}'`);
      tokens.push({ type: /^-?[\d.]/.test(m[0]) ? 'number' : 'identifier', text: m[0], line });
      i += m[0].length;
    }
  }
  return tokens;
}

/** Reads one escape after its backslash into `bytes`; returns the index after it. */
function readEscape(text: string, i: number, bytes: number[], bad: () => MmkitError): number {
  const e = text[i];
  if (e in SIMPLE_ESCAPES) {
    bytes.push(SIMPLE_ESCAPES[e].charCodeAt(0));
    return i + 1;
  }
  const octal = /^[0-7]{1,3}/.exec(text.slice(i, i + 3));
  if (octal) {
    bytes.push(parseInt(octal[0], 8) & 0xff);
    return i + octal[0].length;
  }
  const hex = /^[xX]([0-9a-fA-F]{1,2})/.exec(text.slice(i, i + 3));
  if (hex) {
    bytes.push(parseInt(hex[1], 16));
    return i + hex[0].length;
  }
  const unicode = /^(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8}))/.exec(text.slice(i, i + 9));
  if (unicode) {
    bytes.push(...Buffer.from(String.fromCodePoint(parseInt(unicode[1] ?? unicode[2], 16)), 'utf8'));
    return i + unicode[0].length;
  }
  throw bad();
}

/** Parses text format into a field tree. Syntax errors are BAD_OPTION naming `file` and the line. */
export function parsePbtxt(text: string, file: string): PbtxtMessage {
  const tokens = tokenize(text, file);
  let pos = 0;
  const lastLine = () => tokens[tokens.length - 1]?.line ?? 1;
  const peek = () => tokens[pos];
  const isSymbol = (t: Token | undefined, s: string) => t?.type === 'symbol' && t.text === s;
  const expect = (s: string, context: string): Token => {
    const t = tokens[pos];
    if (!isSymbol(t, s)) throw syntaxError(file, t?.line ?? lastLine(), `expected '${s}' ${context}, found ${t ? `'${t.text}'` : 'the end of the file'}`);
    pos++;
    return t;
  };

  const parseFields = (close: string | undefined): PbtxtMessage => {
    const msg = pbtxt.message();
    for (;;) {
      const t = peek();
      if (!t) {
        if (close) throw syntaxError(file, lastLine(), `a message is not closed: '${close}' missing at the end of the file`);
        return msg;
      }
      if (close && isSymbol(t, close)) {
        pos++;
        return msg;
      }
      if (t.type !== 'identifier') throw syntaxError(file, t.line, `expected a field name, found '${t.text}'`);
      pos++;
      const name = t.text;
      const colon = isSymbol(peek(), ':');
      if (colon) pos++;
      if (isSymbol(peek(), '[')) {
        pos++;
        if (!isSymbol(peek(), ']')) {
          for (;;) {
            msg.fields.push({ name, value: parseValue(name, true), line: t.line });
            if (isSymbol(peek(), ']')) break;
            expect(',', `between the values of '${name}'`);
          }
        }
        expect(']', `to end the list of '${name}'`);
      } else {
        if (!colon && !isSymbol(peek(), '{') && !isSymbol(peek(), '<')) throw syntaxError(file, peek()?.line ?? t.line, `field '${name}': expected ':' or '{' after the name`);
        msg.fields.push({ name, value: parseValue(name, colon), line: t.line });
      }
      if (isSymbol(peek(), ',') || isSymbol(peek(), ';')) pos++;
    }
  };

  const parseValue = (name: string, scalarAllowed: boolean): PbtxtScalar | PbtxtMessage => {
    const t = peek();
    if (isSymbol(t, '{') || isSymbol(t, '<')) {
      pos++;
      return parseFields(t.text === '{' ? '}' : '>');
    }
    if (!scalarAllowed || !t || t.type === 'symbol') throw syntaxError(file, t?.line ?? lastLine(), `field '${name}': expected a value, found ${t ? `'${t.text}'` : 'the end of the file'}`);
    pos++;
    if (t.type === 'string') {
      let value = t.value;
      // Adjacent strings concatenate, as in C.
      for (let next = peek(); next?.type === 'string'; next = peek()) {
        value += next.value;
        pos++;
      }
      return pbtxt.string(value);
    }
    return t.type === 'number' ? { kind: 'number', text: t.text } : pbtxt.identifier(t.text);
  };

  return parseFields(undefined);
}

function quote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\${code.toString(8).padStart(3, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function scalarText(v: PbtxtScalar): string {
  return v.kind === 'string' ? quote(v.value) : v.kind === 'number' ? v.text : v.name;
}

/** Text format of a tree, two spaces per level, one field per line (repeated fields repeat). */
export function formatPbtxt(msg: PbtxtMessage, indent = ''): string {
  let out = '';
  const fields = msg.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    if (f.value.kind === 'message') {
      out += `${indent}${f.name} {\n${formatPbtxt(f.value, `${indent}  `)}${indent}}\n`;
      continue;
    }
    // Consecutive scalar values of one field are written as a list: `dims: [1, 28, 28]`.
    let end = i + 1;
    while (end < fields.length && fields[end].name === f.name && fields[end].value.kind !== 'message') end++;
    const values = fields.slice(i, end).map((g) => scalarText(g.value as PbtxtScalar));
    out += `${indent}${f.name}: ${values.length > 1 ? `[${values.join(', ')}]` : values[0]}\n`;
    i = end - 1;
  }
  return out;
}

/**
 * Typed, checked access to one message of a parsed file: each getter names the file, line and
 * dotted field path when a value has the wrong kind or range, or a singular field repeats.
 */
export class PbtxtReader {
  constructor(
    readonly message: PbtxtMessage,
    readonly file: string,
    /** Dotted path of this message from the root ('' at the root), for messages. */
    readonly path = '',
    private readonly line = 0,
  ) {}

  fieldPath(name: string): string {
    return this.path ? `${this.path}.${name}` : name;
  }

  /** A BAD_OPTION error about a field of this message (or the message itself when name is empty). */
  error(name: string, what: string, hint: string, line = this.lineOf(name)): MmkitError {
    const where = line ? `${this.file}:${line}` : this.file;
    return new MmkitError('BAD_OPTION', `${where}: ${name ? `field '${this.fieldPath(name)}'` : this.path || 'the file'} ${what}.`, { file: this.file, hint });
  }

  lineOf(name: string): number {
    return this.message.fields.find((f) => f.name === name)?.line ?? this.line;
  }

  names(): string[] {
    return [...new Set(this.message.fields.map((f) => f.name))];
  }

  has(name: string): boolean {
    return this.message.fields.some((f) => f.name === name);
  }

  /** Fails on any field outside `known`, so a misspelt field is not silently ignored. */
  onlyKnown(known: readonly string[], what: string): void {
    for (const f of this.message.fields) {
      if (!known.includes(f.name)) throw this.error(f.name, `is not a field of ${what}`, `Known fields: ${known.join(', ')}.`, f.line);
    }
  }

  private all(name: string): PbtxtField[] {
    return this.message.fields.filter((f) => f.name === name);
  }

  private single(name: string): PbtxtField | undefined {
    const found = this.all(name);
    if (found.length > 1) throw this.error(name, `is given ${found.length} times (lines ${found.map((f) => f.line).join(', ')})`, 'A singular field takes one value; remove the extra ones.', found[1].line);
    return found[0];
  }

  private scalarOf(f: PbtxtField): PbtxtScalar {
    if (f.value.kind === 'message') throw this.error(f.name, 'is a message here, but takes a value', `Write \`${f.name}: value\`.`, f.line);
    return f.value;
  }

  private stringOf(f: PbtxtField): string {
    const v = this.scalarOf(f);
    if (v.kind !== 'string') throw this.error(f.name, `must be a quoted string, got ${scalarText(v)}`, `Write \`${f.name}: "${scalarText(v)}"\`.`, f.line);
    return v.value;
  }

  private intOf(f: PbtxtField, min: number): number {
    const v = this.scalarOf(f);
    const n = v.kind === 'number' && /^-?(0[xX][0-9a-fA-F]+|\d+)$/.test(v.text) ? Number(v.text.startsWith('-') ? -Number(v.text.slice(1)) : v.text) : NaN;
    if (!Number.isSafeInteger(n) || n < min) throw this.error(f.name, `must be a whole number ≥ ${min}, got ${scalarText(v)}`, 'Write a plain integer, without quotes.', f.line);
    return n;
  }

  string(name: string): string | undefined {
    const f = this.single(name);
    return f && this.stringOf(f);
  }

  strings(name: string): string[] {
    return this.all(name).map((f) => this.stringOf(f));
  }

  int(name: string, min = 0): number | undefined {
    const f = this.single(name);
    return f && this.intOf(f, min);
  }

  ints(name: string, min = 0): number[] {
    return this.all(name).map((f) => this.intOf(f, min));
  }

  bool(name: string): boolean | undefined {
    const f = this.single(name);
    if (!f) return undefined;
    const v = this.scalarOf(f);
    const text = scalarText(v);
    if (text === 'true' || text === 'True' || text === 't' || text === '1') return true;
    if (text === 'false' || text === 'False' || text === 'f' || text === '0') return false;
    throw this.error(name, `must be true or false, got ${text}`, 'Write true or false.', f.line);
  }

  /** An enum field's value name, one of `allowed`. */
  enumValue<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const f = this.single(name);
    if (!f) return undefined;
    const v = this.scalarOf(f);
    if (v.kind !== 'identifier' || !(allowed as readonly string[]).includes(v.name)) {
      throw this.error(name, `must be one of ${allowed.join(', ')}, got ${scalarText(v)}`, 'Enum values are written bare, without quotes.', f.line);
    }
    return v.name as T;
  }

  messages(name: string): PbtxtReader[] {
    return this.all(name).map((f, i, list) => {
      if (f.value.kind !== 'message') throw this.error(name, `takes a message \`${name} { … }\`, got ${scalarText(f.value)}`, `Write \`${name} { … }\`.`, f.line);
      return new PbtxtReader(f.value, this.file, list.length > 1 ? `${this.fieldPath(name)}[${i}]` : this.fieldPath(name), f.line);
    });
  }

  child(name: string): PbtxtReader | undefined {
    this.single(name);
    return this.messages(name)[0];
  }
}
