/**
 * Probes and checks on real pretrained models that need real input shapes (the corpus of
 * scripts/fetch-corpus.mjs; skipped when it was not fetched): Silero VAD v5 takes 512-sample
 * chunks and a sample rate it branches on, openWakeWord's mel front end at least 512 samples.
 */
import { describe, expect, it } from 'vitest';
import { mm } from '../sdk';
import { checkCompression } from '../sdk/check';
import { readModel } from '../sdk/onnx';
import { corpusModel } from './helpers/weight-models';

const SILERO = corpusModel('silero-vad-v5');
const MEL = corpusModel('oww-melspectrogram');
/** The suite's title, saying how to fetch the model when it is missing. */
const title = (name: string, id: string, file: string | undefined) => (file ? name : `${name} (corpus model ${id} not fetched: run node scripts/fetch-corpus.mjs --only ${id})`);

describe.skipIf(!SILERO)(title('Silero VAD v5', 'silero-vad-v5', SILERO), () => {
  it('summarises (it used to throw: a 1-sample chunk fails its reflect Pad) and checks on 512-sample chunks at sr 16000', async () => {
    const s = await mm.load(SILERO!).summary();
    expect(s.probedInputs).toEqual({ input: [1, 512], state: [2, 1, 128], sr: [] });
    expect(s.notices[0]).toContain('input[1] = 512 (audio chunk), sr = 16000 (the value the graph compares it with)');
    const model = await readModel(SILERO!);
    const check = await checkCompression(model, model, { maxItems: 16, latencyBudgetMs: 0, web: false });
    expect(check.flags.map((f) => f.kind)).toEqual(['not-smaller']);
    expect(check.data).toContain('(input [8, 512], state [2, 8, 128], sr [])');
    expect(check.fidelity!.outputs.map((o) => [o.output, o.scoreDrift, o.decisions])).toEqual([['output', 0, 1]]);
  });
});

describe.skipIf(!MEL)(title('openWakeWord mel front end', 'oww-melspectrogram', MEL), () => {
  it('summarises at 512 samples, or at the shape given, and falls back with a notice where the shape fails', async () => {
    const chunk = await mm.load(MEL!).summary();
    expect(chunk.probedInputs).toEqual({ input: [1, 512] });
    const given = await mm.load(MEL!).summary({ inputs: { input: [1, 1280] } });
    expect(given.rows.find((r) => r.op === 'MatMul')!.outputShapes[0]).toEqual([1, 1, 5, 32]);
    const one = await mm.load(MEL!).summary({ dims: { samples: 1 } });
    expect(one.probedBatch).toBeUndefined();
    expect(one.notices[0]).toMatch(/^No shape probe: The model does not run at input \[1, 1\]: .*at node 'Conv_3'.*summary\(\{ inputs: \{ "input": \[batch_size, samples\] \} \}\)/);
  });

  it("flags the broken low-rank mel filterbank (cosine ≈ 0.07) with inputs given, and says 'reference-fails' — not fails-node — on 1-sample inputs", async () => {
    const broken = mm.load(MEL!).lowRank({ rank: 0.5, check: { inputs: { input: [1, 1280] }, latencyBudgetMs: 0, maxItems: 32 } });
    const [check] = await broken.checks();
    expect(check.flags.map((f) => f.kind)).toContain('fidelity');
    expect(check.fidelity!.cosine).toBeLessThan(0.5);
    expect(check.fidelity!.items).toBe(32);
    expect(check.flags.find((f) => f.kind === 'fidelity')!.cause).toContain("the error starts at layer 'MatMul_15'");
    const [tooShort] = await mm.load(MEL!).quantize({ mode: 'dynamic', check: { dims: { samples: 1 }, latencyBudgetMs: 0 } }).checks();
    expect(tooShort.flags.map((f) => f.kind)).toEqual(['reference-fails']);
    expect(tooShort.flags[0].cause).toContain('(input [8, 1]) are not what it takes — give data, dims or inputs');
    expect(tooShort.runs.node).toEqual({ ok: true, loadOnly: true });
  });
});
