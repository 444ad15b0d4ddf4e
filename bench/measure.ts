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

/** Median wall time of `runs` calls after `warmup` calls, in seconds. */
export async function medianSeconds(fn: () => Promise<unknown> | unknown, runs = 3, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
