/**
 * tslab rewrites a cell's references to variables of earlier cells as `exports.name`, but it looks
 * them up by the symbol at each identifier, and the identifier of a shorthand property
 * (`{ calibration }`) resolves to the property, not the variable: the reference stays bare and the
 * cell fails with "calibration is not defined". Spelling such properties out (`{ calibration:
 * calibration }`, which means the same in object literals and in destructuring assignments)
 * before tslab sees the cell avoids that.
 */
import type * as TS from 'typescript';

export function expandShorthandProperties(code: string, ts: typeof TS): string {
  if (!code.includes('{')) return code;
  const file = ts.createSourceFile('cell.ts', code, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const ends: { at: number; name: string }[] = [];
  const visit = (node: TS.Node): void => {
    if (ts.isShorthandPropertyAssignment(node)) ends.push({ at: node.name.getEnd(), name: node.name.text });
    ts.forEachChild(node, visit);
  };
  visit(file);
  let out = code;
  // From the end, so earlier offsets stay valid.
  for (const { at, name } of ends.sort((a, b) => b.at - a.at)) out = `${out.slice(0, at)}: ${name}${out.slice(at)}`;
  return out;
}
