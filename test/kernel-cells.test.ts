/** Cells that use earlier cells' variables, through the real kernel. */
import * as ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { expandShorthandProperties } from '../kernel-extras/shorthand-properties';
import { useKernel } from './helpers/kernel-session';

const kernelOf = useKernel();

const resultText = (messages: { header: { msg_type: string }; content: Record<string, unknown> }[]) => {
  const result = messages.find((m) => m.header.msg_type === 'execute_result');
  return String((result?.content.data as Record<string, string> | undefined)?.['text/plain']);
};

describe('shorthand properties', () => {
  it('are spelled out, in object literals and destructuring assignments alike, and nothing else changes', () => {
    expect(expandShorthandProperties('f({ calibration, ops: x }); ({ n = 1 } = o);', ts)).toBe('f({ calibration: calibration, ops: x }); ({ n: n = 1 } = o);');
    const untouched = 'const { a, b } = o; const c = { d: 1 }; type T = { e: number };';
    expect(expandShorthandProperties(untouched, ts)).toBe(untouched);
  });

  it("name an earlier cell's variable in the kernel (tslab alone failed: 'is not defined')", async () => {
    const first = await kernelOf().execute('const calibration = 41;\nlet n = 1;');
    expect(first.reply.content.status).toBe('ok');
    const second = await kernelOf().execute('({ calibration, n })');
    expect(second.reply.content.status).toBe('ok');
    expect(resultText(second.messages)).toBe('{ calibration: 41, n: 1 }');
    const third = await kernelOf().execute('({ n } = { n: 5 });\nn');
    expect(third.reply.content.status).toBe('ok');
    expect(resultText(third.messages)).toBe('5');
  }, 60_000);
});
