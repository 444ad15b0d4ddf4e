/** Up to `limit` names closest to `wanted` (edit distance, case-insensitive), for "did you mean" hints. */
export function closeMatches(wanted: string, names: Iterable<string>, limit = 3): string[] {
  const w = wanted.toLowerCase();
  const scored: { name: string; score: number }[] = [];
  for (const name of names) {
    const n = name.toLowerCase();
    // A containment hit ("fc1" in "/fc1/MatMul_output_0") is a better hint than any edit distance.
    const score = w && n && (n.includes(w) || w.includes(n)) ? 0 : editDistance(w, n) / Math.max(w.length, n.length);
    if (score <= 0.5) scored.push({ name, score });
  }
  return scored.sort((a, b) => a.score - b.score || a.name.localeCompare(b.name)).slice(0, limit).map((s) => s.name);
}

/** The "did you mean" sentence for a hint, or the list of valid names when nothing is close. */
export function suggestion(wanted: string, names: readonly string[]): string {
  const close = closeMatches(wanted, names);
  if (close.length) return `Did you mean ${close.map((n) => `'${n}'`).join(', ')}?`;
  const shown = names.slice(0, 8).map((n) => `'${n}'`).join(', ');
  return names.length ? `Valid names: ${shown}${names.length > 8 ? `, … (${names.length} in all)` : ''}.` : 'There are none.';
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
