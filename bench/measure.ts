/** Small timing helpers shared by the benchmarks. Figures are ratios within one run. */

export interface Figure {
  bench: string;
  metric: string;
  value: number;
  unit: 'ratio' | 's' | 'ms' | 'MB' | 'points' | 'x';
  target?: string;
  pass?: boolean;
  detail?: Record<string, number | string>;
}

/** Prints one JSON line per figure (what `npm run bench` promises). */
export function report(f: Figure): void {
  process.stdout.write(`${JSON.stringify(f)}\n`);
}

/** Median wall seconds of each of `fns`, timed in turn for `rounds` rounds after one warm-up round. */
export async function alternatingMedians(fns: (() => Promise<unknown>)[], rounds = 5): Promise<number[]> {
  const times = fns.map((): number[] => []);
  for (let round = -1; round < rounds; round++) {
    for (const [i, fn] of fns.entries()) {
      const t0 = process.hrtime.bigint();
      await fn();
      if (round >= 0) times[i].push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
  }
  return times.map((t) => t.sort((a, b) => a - b)[Math.floor(t.length / 2)]);
}
