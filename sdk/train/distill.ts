/**
 * Knowledge distillation: the teacher runs in onnxruntime once over the data, the student trains in
 * tfjs to match its softened outputs (and the labels, where there are any), pruning masks fixed.
 */
import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../data';
import { MmkitError } from '../errors';
import { TOKENIZER_METADATA_KEY, buildOnnx, checkSpec, initWeights, type ModelSpec } from '../models';
import type { OnnxModel } from '../onnx';
import type { RunContext } from '../step';
import { collectRecoveryData, teacherOutputs } from './recover-data';
import { runRecovery, softCrossEntropy, views, type Objective, type RecoveryResult } from './recover';
import { DISTILL_OP, distillSettings, type DistillOptions, type DistillSettings } from './recover-options';
import { studentFromOnnx, withWeights, type Student } from './student';

/** KL(softmax(t/T) ‖ softmax(s/T)) · T², averaged over rows. */
function distillationLoss(student: tf.Tensor2D, teacher: tf.Tensor2D, temperature: number): tf.Scalar {
  const logTeacher = tf.logSoftmax(tf.div(teacher, temperature));
  const kl = tf.sum(tf.mul(tf.exp(logTeacher), tf.sub(logTeacher, tf.logSoftmax(tf.div(student, temperature)))), -1);
  return tf.mul(tf.mean(kl), temperature * temperature);
}

function distillObjective(spec: ModelSpec, temperature: number, alpha: number): Objective {
  const labels = spec.kind === 'vit' ? 'the labels' : 'the true image–caption pairs (both directions)';
  return {
    describe: `Loss: ${alpha} · KL(teacher ‖ student) at T = ${temperature} · T²${alpha < 1 ? ` + ${(1 - alpha).toFixed(3).replace(/\.?0+$/, '')} · cross-entropy on ${labels}` : ''}${spec.kind === 'clip' ? '; KL over the in-batch image→text and text→image logits' : ''}.`,
    metric: 'top-1 agreement with the teacher',
    loss(student, b) {
      const teacher = views(b.teacher!, spec);
      const mean = (parts: tf.Scalar[]): tf.Scalar => tf.div(tf.addN(parts), parts.length);
      const kd = mean(student.map((s, i) => distillationLoss(s, teacher[i], temperature)));
      if (alpha === 1) return kd;
      const targets = views(b.targets!, spec);
      const ce = mean(student.map((s, i) => softCrossEntropy(s, targets[i])));
      return tf.add(tf.mul(kd, alpha), tf.mul(ce, 1 - alpha));
    },
    hits: (student, b) => tf.cast(tf.equal(tf.argMax(student, -1), tf.argMax(b.teacher!, -1)), 'float32') as tf.Tensor1D,
  };
}

function metadataOf(model: OnnxModel): Record<string, string> {
  const tokenizer = model.proto.metadataProps.find((p) => p.key === TOKENIZER_METADATA_KEY);
  return tokenizer ? { [tokenizer.key]: tokenizer.value } : {};
}

/**
 * Distills `teacher` into `student` over `data` and returns the trained student as ONNX: the
 * student's own graph with new weights, or, with options.student, a fresh graph of that spec
 * (carrying the teacher's tokenizer metadata). Neither input model is changed.
 */
export async function distillModel(student: OnnxModel, teacher: OnnxModel, data: AsyncIterable<Batch>, options: DistillOptions = {}, ctx: RunContext = {}): Promise<RecoveryResult> {
  return distillation(student, teacher, data, distillSettings(options), ctx);
}

/** distillModel over checked settings. */
export async function distillation(student: OnnxModel, teacher: OnnxModel, data: AsyncIterable<Batch>, s: DistillSettings, ctx: RunContext = {}): Promise<RecoveryResult> {
  let learner: Student;
  let output: (w: Student['weights']) => OnnxModel;
  if (s.student) {
    const spec = s.student;
    learner = { spec, weights: initWeights(spec, s.seed) };
    output = (w) => ({ proto: buildOnnx(spec, w, { name: 'student', metadata: metadataOf(teacher) }) });
  } else {
    learner = studentFromOnnx(student);
    output = (w) => withWeights(student, w);
  }
  const { spec } = learner;
  const items = await collectRecoveryData(data, spec, s.maxItems ?? Infinity, 'the distillation data', ctx.signal);
  const hasLabels = spec.kind === 'clip' || items.labels !== undefined;
  if (s.alpha !== null && s.alpha < 1 && !hasLabels) {
    throw new MmkitError('BAD_DATASET', `${DISTILL_OP}: alpha ${s.alpha} gives ${1 - s.alpha} weight to labels, but the data has none.`, { hint: 'Pass labelled data, or alpha: 1 (teacher only).' });
  }
  const alpha = s.alpha ?? (hasLabels ? 0.5 : 1);
  const outputs = await teacherOutputs(teacher, spec, items, ctx.signal, (done) => ctx.onProgress?.(done, items.size, `${DISTILL_OP}: teacher outputs`));
  return runRecovery(
    {
      op: DISTILL_OP,
      title: `Distillation from ${teacher.path ?? 'the teacher'}${s.student ? ' into a fresh student' : ''}`,
      student: learner,
      output,
      data: items,
      teacher: outputs,
      objective: distillObjective(spec, s.temperature, alpha),
      settings: s,
      lines: [
        s.student ? `Student: a fresh ${spec.kind} of width ${spec.vision.width}, ${spec.vision.layers} block${spec.vision.layers === 1 ? '' : 's'} (seed ${s.seed}).` : `Student: the ${spec.kind} model itself${spec.vision.blocks ? ' (pruned widths per block)' : ''}.`,
        `Teacher: ${teacher.path ?? 'the teacher model'}, run in onnxruntime once over ${items.size} items${spec.kind === 'clip' ? ` (its image and text embeddings, logit scale ${outputs.kind === 'clip' ? outputs.scale.toFixed(2) : ''})` : ''}.`,
      ],
    },
    ctx,
  );
}
