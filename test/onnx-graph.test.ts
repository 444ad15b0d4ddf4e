import { describe, expect, test } from 'vitest';
import { create } from '@bufbuild/protobuf';
import {
  attrFloat,
  attrInt,
  attrInts,
  attrFloats,
  attrString,
  bytesPerElement,
  dataTypeOf,
  DataType,
  dtypeOf,
  editModel,
  findLinears,
  GraphView,
  makeTensor,
  ModelBuilder,
  node,
  readModel,
  serializeModel,
  tensorArray,
  tensorByteSize,
  TensorProtoSchema,
  topoSort,
  type NodeProto,
} from '../sdk/onnx';
import { buildMlp, maxAbsDiff, runOnce, seeded, TORCH_VIT } from './helpers/onnx-models';
import { mmkitErrorOf } from './helpers/errors';

const x = seeded(2 * 16 * 32, 9, 1);
const X_DIMS = [2, 16, 32];

describe('GraphView', () => {
  test('PyTorch export: topological order, producers, consumers, inputs, value info, opset', async () => {
    const view = GraphView.of((await readModel(TORCH_VIT)).proto);
    const seen = new Set([...view.graph.input.map((v) => v.name), ...view.graph.initializer.map((t) => t.name)]);
    for (const n of view.nodes) {
      for (const i of n.input) if (i) expect(seen.has(i), `${n.name} reads ${i} before it exists`).toBe(true);
      n.output.forEach((o) => seen.add(o));
      n.output.forEach((o) => expect(view.producer(o)).toBe(n));
      n.input.forEach((i) => i && expect(view.consumers(i)).toContain(n));
    }
    expect(view.inputs.map((v) => v.name)).toEqual(['pixel_values']);
    expect(view.valueInfo('pixel_values')).toEqual({ dtype: 'float32', shape: ['batch', 1, 28, 28] });
    expect(view.valueInfo('logits')).toEqual({ dtype: 'float32', shape: ['batch', 10] });
    expect(view.valueInfo('conv_proj.weight')).toEqual({ dtype: 'float32', shape: [64, 1, 7, 7] });
    expect(view.valueInfo('/Shape_output_0').dtype).toBe('int64');
    expect(view.valueInfo('/encoder/layers/encoder_layer_0/mlp/mlp.0/Add_output_0').dtype).toBe('float32');
    expect(view.consumers('pixel_values').map((n) => n.opType).sort()).toEqual(['Conv', 'Shape', 'Shape', 'Shape']);
    expect(view.opset()).toBe(17);
    expect(view.opset('com.microsoft')).toBeUndefined();
    const conv = view.producer('/conv_proj/Conv_output_0')!;
    expect(view.attrInts(conv, 'kernel_shape')).toEqual([7, 7]);
  });

  test('topoSort restores order and reports cycles', () => {
    const { model } = buildMlp();
    const nodes = model.graph!.node;
    expect(topoSort([...nodes].reverse())).toEqual(nodes);
    const a = node('Relu', ['b_out'], ['a_out'], {}, { name: 'a' });
    const b = node('Relu', ['a_out'], ['b_out'], {}, { name: 'b' });
    expect(mmkitErrorOf(() => topoSort([a, b])).code).toBe('BAD_MODEL');
  });
});

describe('editModel', () => {
  test('never mutates its input and shares untouched weights', async () => {
    const { model } = buildMlp();
    const before = serializeModel(model);
    const fc2 = findLinears(GraphView.of(model))[1];
    const scaled = Float32Array.from(tensorArray(model.graph!.initializer.find((t) => t.name === fc2.weight)!) as Float32Array, (v) => v * 2);
    const edited = editModel(model, (e) => {
      e.replaceInitializer(fc2.weight, makeTensor(fc2.weight, 'float32', [64, 32], scaled));
      e.renameInput(fc2.matmul, 0, fc2.input); // a no-op rename still copies the node
    });
    expect(Buffer.from(serializeModel(model)).equals(Buffer.from(before))).toBe(true);
    expect(edited).not.toBe(model);
    expect(edited.graph!.initializer.length).toBe(model.graph!.initializer.length);
    edited.graph!.initializer.forEach((t, i) => {
      if (t.name === fc2.weight) expect(t).not.toBe(model.graph!.initializer[i]);
      else expect(t).toBe(model.graph!.initializer[i]);
    });
    expect(edited.graph!.node.filter((n, i) => n !== model.graph!.node[i]).map((n) => n.name)).toEqual([fc2.matmul.name]);

    // fc2 is linear: doubling its weight doubles (y - bias).
    const base = await runOnce(serializeModel(model), 'x', x, X_DIMS);
    const doubled = await runOnce(serializeModel(edited), 'x', x, X_DIMS);
    const bias = tensorArray(model.graph!.initializer.find((t) => t.name === fc2.bias)!) as Float32Array;
    const expected = base.map((v, i) => 2 * (v - bias[i % 32]) + bias[i % 32]);
    expect(maxAbsDiff(doubled, expected)).toBeLessThan(1e-5);
  });

  test('add nodes and outputs, replace nodes, keep topological order', async () => {
    const { model, output } = buildMlp();
    const view = GraphView.of(model);
    const fc1 = findLinears(view)[0];
    const erf = view.nodes.find((n) => n.opType === 'Erf')!;
    const edited = editModel(model, (e) => {
      // Appended at the end but read by the Erf chain: finish() must sort it before its consumers.
      const clipped = e.uniqueName('clipped');
      const relu = node('Relu', [fc1.output], [clipped], {}, { name: e.uniqueName('relu') });
      e.addNode(relu);
      e.addOutput(clipped);
      e.replaceNode(erf, node('Tanh', [erf.input[0]], [erf.output[0]], {}, { name: 'tanh_instead_of_erf' }));
      e.setOpset('', 17);
    });
    const order = edited.graph!.node.map((n) => n.opType);
    expect(order.indexOf('Relu')).toBeGreaterThan(order.indexOf('Add'));
    expect(order).toContain('Tanh');
    expect(order).not.toContain('Erf');
    expect(edited.graph!.output.map((o) => o.name)).toEqual([output, 'clipped']);
    expect(GraphView.of(edited).valueInfo('clipped')).toEqual({ dtype: 'float32', shape: undefined });

    const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
    const session = await ort.InferenceSession.create(serializeModel(edited), { logSeverityLevel: 3 });
    const out = await session.run({ x: new ort.Tensor('float32', x, X_DIMS) });
    const clipped = out.clipped.data as Float32Array;
    expect(clipped.every((v) => v >= 0)).toBe(true);
    expect(clipped.some((v) => v > 0)).toBe(true);
    await session.release();
  });

  test('prune drops dead nodes and initializers; uniqueName never clashes', () => {
    const { model } = buildMlp();
    const edited = editModel(model, (e) => {
      expect(e.uniqueName('fc1.weight')).toBe('fc1.weight_1');
      expect(e.uniqueName('fc1.weight')).toBe('fc1.weight_2');
      e.addInitializer(makeTensor('unused', 'float32', [2], new Float32Array([1, 2])));
      e.addNode(node('Neg', ['sqrt2'], ['dead'], {}, { name: 'dead' }));
      e.prune();
    });
    expect(edited.graph!.initializer.map((t) => t.name)).toEqual(model.graph!.initializer.map((t) => t.name));
    expect(edited.graph!.node).toEqual(model.graph!.node);
    expect(Buffer.from(serializeModel(edited)).equals(Buffer.from(serializeModel(model)))).toBe(true);
    expect(mmkitErrorOf(() => editModel(model, (e) => e.addInitializer(model.graph!.initializer[0]))).code).toBe('BAD_OPTION');
    expect(mmkitErrorOf(() => editModel(model, (e) => e.replaceInitializer('missing', model.graph!.initializer[0]))).code).toBe('UNKNOWN_TENSOR');
  });
});

describe('builder, attributes, dtypes, tensors', () => {
  test('typed attributes round-trip through the helpers', () => {
    const n: NodeProto = node('Custom', ['a'], ['b'], { i: 3, f: 0.5, one: { f: 1 }, ints: [1, 2], floats: [0.5, 2], s: 'tanh', big: { i: 7n } });
    expect(attrInt(n, 'i')).toBe(3);
    expect(attrFloat(n, 'f')).toBe(0.5);
    expect(attrFloat(n, 'one')).toBe(1);
    expect(attrInt(n, 'one')).toBeUndefined();
    expect(attrInts(n, 'ints')).toEqual([1, 2]);
    expect(attrFloats(n, 'floats')).toEqual([0.5, 2]);
    expect(attrString(n, 's')).toBe('tanh');
    expect(attrInt(n, 'big')).toBe(7);
    expect(attrInt(n, 'missing', 9)).toBe(9);
  });

  test('ModelBuilder names values uniquely, adds Constants and custom opsets, and builds runnable models', async () => {
    const b = new ModelBuilder({ opset: 18 });
    const inp = b.input('x', 'float32', ['n', 4]);
    const c = b.constant('float32', [4], new Float32Array([1, 2, 3, 4]));
    const [a1] = b.node('Add', [inp, c]);
    const [a2] = b.node('Add', [a1, c]);
    expect(a1).not.toBe(a2);
    const y = b.op('Mul', [a2, c]);
    b.output(y, 'float32', ['n', 4]);
    expect(mmkitErrorOf(() => b.input('x', 'float32', [1])).code).toBe('BAD_MODEL');
    const model = b.build();
    expect(model.irVersion).toBe(8n);
    const out = await runOnce(serializeModel(model), 'x', new Float32Array([1, 1, 1, 1]), [1, 4]);
    expect([...out]).toEqual([3, 10, 21, 36]);
  });

  test('dtypes map to ONNX data types and byte sizes', () => {
    expect(dtypeOf(DataType.FLOAT16)).toBe('float16');
    expect(dataTypeOf('bfloat16')).toBe(DataType.BFLOAT16);
    expect(bytesPerElement('int4')).toBe(0.5);
    expect(bytesPerElement('int64')).toBe(8);
    expect(mmkitErrorOf(() => dtypeOf(DataType.COMPLEX64)).code).toBe('UNSUPPORTED');
  });

  test('tensors stored in typed fields read like raw_data ones; makeTensor checks its input', () => {
    const floats = create(TensorProtoSchema, { name: 'f', dataType: DataType.FLOAT, dims: [2n], floatData: [1.5, -2] });
    expect(tensorArray(floats)).toEqual(new Float32Array([1.5, -2]));
    const longs = create(TensorProtoSchema, { name: 'l', dataType: DataType.INT64, dims: [3n], int64Data: [1n, -2n, 3n] });
    expect(tensorArray(longs)).toEqual(BigInt64Array.from([1n, -2n, 3n]));
    const halves = create(TensorProtoSchema, { name: 'h', dataType: DataType.FLOAT16, dims: [1n], int32Data: [0x3c00] });
    expect(tensorArray(halves)).toEqual(new Uint16Array([0x3c00]));
    const packed = makeTensor('q', 'int4', [3], new Uint8Array([0x21, 0x03]));
    expect(tensorByteSize(packed)).toBe(2);
    expect(mmkitErrorOf(() => makeTensor('bad', 'float32', [3], new Float32Array(2))).code).toBe('SHAPE_MISMATCH');
    expect(mmkitErrorOf(() => makeTensor('bad', 'int64', [1], new Int32Array(2))).code).toBe('DTYPE_MISMATCH');
    expect(mmkitErrorOf(() => tensorArray(create(TensorProtoSchema, { name: 'short', dataType: DataType.FLOAT, dims: [4n], rawData: new Uint8Array(8) }))).code).toBe('BAD_MODEL');
  });
});
