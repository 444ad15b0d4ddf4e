import { benchIo } from './io';
import { benchQuantize } from './quantize';
import { benchAccuracy } from './accuracy';
import { benchPrune } from './prune';
import { benchRecover } from './recover';
import { benchLowRank } from './low-rank';
import { benchServe } from './serve';

/**
 * `npm run bench`: every benchmark prints one JSON line per figure, each a ratio against a
 * baseline measured in the same run on this machine. Pick some with `npm run bench -- io`.
 */
const benches: Record<string, () => Promise<void>> = {
  io: benchIo,
  quantize: benchQuantize,
  accuracy: benchAccuracy,
  prune: benchPrune,
  'low-rank': benchLowRank,
  recover: benchRecover,
  serve: benchServe,
};

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  for (const [name, run] of Object.entries(benches)) {
    if (wanted.length && !wanted.includes(name)) continue;
    await run();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
