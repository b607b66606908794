/**
 * Builds ONNX models (onnx.ModelProto) node by node, for exporting the project's own models and
 * for test fixtures. Names are checked as the graph grows (a node may only read values that
 * already exist), so the node list is always topologically ordered and a typo fails at the call
 * that made it, not later inside onnxruntime.
 *
 * No shape or type inference happens here: graph inputs and outputs carry the dtype and shape the
 * caller declares, intermediates carry none (onnxruntime infers them). The float helpers (gelu,
 * layerNorm…) create float32 constants and therefore expect float32 tensors.
 */
import { invalidInput } from '@weightsmith/core';
import { onnx, type ModelProto, type NodeProto, type OperatorSetIdProto, type TensorProto, type ValueInfoProto } from './onnx-proto.js';
import { encodeAttribute, type AttrValue } from './attributes.js';
import {
  dimsToProto,
  onnxDataType,
  tensorProto,
  type Dim,
  type InitializerData,
  type OnnxDType,
} from './tensor-proto.js';

export type { AttrValue } from './attributes.js';
export type { Dim, InitializerData, OnnxDType } from './tensor-proto.js';

export interface GraphBuilderOptions {
  /** Graph name stored in the model. */
  name?: string;
  /** Default-domain opset; 13 to 21 (LayerNormalization needs 17). Default 17. */
  opset?: number;
  /** producer_name of the model. Default 'weightsmith'. */
  producer?: string;
  /** producer_version of the model. */
  producerVersion?: string;
  /** doc_string of the model. */
  docString?: string;
}

export interface NodeOptions {
  /** Explicit output names, or how many auto-named outputs the node has. Default 1. */
  outputs?: string[] | number;
  attrs?: Record<string, AttrValue>;
  /** Node name; generated from the op type when absent. */
  name?: string;
  /** Operator domain ('' = ai.onnx). A new domain is imported at version 1 unless useDomain() said otherwise. */
  domain?: string;
}

export interface GemmOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
}

export interface LayerNormOptions {
  axis?: number;
  epsilon?: number;
}

export interface AttentionOptions {
  heads: number;
  /** Each position attends only to itself and earlier ones (a causal / unidirectional mask). */
  causal?: boolean;
}

export const MIN_OPSET = 13;
/** onnxruntime's contrib operator domain. */
export const MICROSOFT_DOMAIN = 'com.microsoft';
export const MAX_OPSET = 21;

/**
 * The IR version each opset was released with (onnx/onnx docs/Versioning.md). Writing the
 * matching IR version keeps the file loadable by the runtimes that support that opset.
 */
export function irVersionForOpset(opset: number): number {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  if (opset >= 15) return 8;
  return 7;
}

interface DeclaredValue {
  name: string;
  dtype: OnnxDType;
  shape: Dim[];
}

export class GraphBuilder {
  readonly opset: number;
  readonly name: string;
  private readonly producer: string;
  private readonly producerVersion: string;
  private readonly docString: string;

  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: DeclaredValue[] = [];
  private readonly outputs: DeclaredValue[] = [];
  /** Every value name that exists so far (inputs, initializers, node outputs). */
  private readonly values = new Set<string>();
  private readonly nodeNames = new Set<string>();
  private readonly counters = new Map<string, number>();
  private readonly domains = new Map<string, number>();
  private readonly scalarCache = new Map<string, string>();
  private readonly metadata = new Map<string, string>();

  constructor(opts: GraphBuilderOptions = {}) {
    const opset = opts.opset ?? 17;
    if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
      throw invalidInput('opset', `opset must be an integer from ${MIN_OPSET} to ${MAX_OPSET}, got ${opset}`);
    }
    this.opset = opset;
    this.name = opts.name ?? 'graph';
    this.producer = opts.producer ?? 'weightsmith';
    this.producerVersion = opts.producerVersion ?? '';
    this.docString = opts.docString ?? '';
  }

  // ---------------------------------------------------------------- core API

  /** Declares a graph input; returns its name. */
  input(name: string, dtype: OnnxDType, shape: Dim[]): string {
    this.claimValueName(name, 'input');
    checkShape(name, shape);
    onnxDataType(dtype, name);
    this.inputs.push({ name, dtype, shape: [...shape] });
    return name;
  }

  /**
   * Marks a value as a graph output. With `from`, the value `from` is exposed under the new
   * name `name` (through an Identity node), so a computed value can get a stable public name.
   */
  output(name: string, dtype: OnnxDType, shape: Dim[], opts: { from?: string } = {}): void {
    checkShape(name, shape);
    onnxDataType(dtype, name);
    if (opts.from !== undefined && opts.from !== name) {
      if (!this.values.has(opts.from)) {
        throw invalidInput('output', `output '${name}' is taken from '${opts.from}', which is not a value of the graph`);
      }
      this.node('Identity', [opts.from], { outputs: [name] });
    } else if (!this.values.has(name)) {
      throw invalidInput('output', `output '${name}' is not a value of the graph (no input, initializer or node produces it)`);
    }
    if (this.outputs.some((o) => o.name === name)) {
      throw invalidInput('output', `'${name}' is already a graph output`);
    }
    this.outputs.push({ name, dtype, shape: [...shape] });
  }

  /** Adds a constant weight tensor; returns its name. Uint8Array data is stored as bool. */
  initializer(name: string, data: InitializerData, dims: number[]): string {
    this.claimValueName(name, 'initializer');
    this.initializers.push(tensorProto(name, data, dims));
    return name;
  }

  /** Adds a node; returns the names of its outputs. */
  node(opType: string, inputs: string[], opts: NodeOptions = {}): string[] {
    if (typeof opType !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*$/.test(opType)) {
      throw invalidInput('opType', `'${String(opType)}' is not an operator name`);
    }
    const nodeName = opts.name ?? this.fresh(opType, this.nodeNames);
    if (this.nodeNames.has(nodeName)) {
      throw invalidInput('name', `node name '${nodeName}' is already used`);
    }
    inputs.forEach((input, i) => {
      // '' stands for an omitted optional input, as in ONNX itself.
      if (input !== '' && !this.values.has(input)) {
        throw invalidInput(
          `${nodeName}.inputs.${i}`,
          `node '${nodeName}' (${opType}) reads '${input}', which no input, initializer or earlier node produces`,
        );
      }
    });
    const outputs = this.outputNames(opType, nodeName, opts.outputs ?? 1);
    const attribute = Object.entries(opts.attrs ?? {}).map(([k, v]) => encodeAttribute(k, v, `${nodeName}.attrs.${k}`));
    const domain = opts.domain ?? '';
    if (domain !== '' && !this.domains.has(domain)) this.domains.set(domain, 1);

    this.nodeNames.add(nodeName);
    for (const o of outputs) this.values.add(o);
    this.nodes.push({ opType, input: [...inputs], output: outputs, name: nodeName, domain, attribute });
    return outputs;
  }

  /** Imports an operator domain (e.g. 'com.microsoft') at a given version. */
  useDomain(domain: string, version: number): void {
    if (domain === '') throw invalidInput('domain', 'the default domain is set by the opset option');
    if (!Number.isInteger(version) || version < 1) throw invalidInput('version', `domain version must be a positive integer, got ${version}`);
    this.domains.set(domain, version);
  }

  /** Adds a metadata_props entry (e.g. training parameters of an exported model). */
  setMetadata(key: string, value: string): void {
    this.metadata.set(key, value);
  }

  /** True when `name` is already a value of the graph. */
  has(name: string): boolean {
    return this.values.has(name);
  }

  /** The model as a protobuf message object (before serialisation). */
  toModelProto(): ModelProto {
    if (this.outputs.length === 0) {
      throw invalidInput('outputs', `graph '${this.name}' has no outputs; mark at least one value with output()`);
    }
    const opsetImport: OperatorSetIdProto[] = [{ domain: '', version: this.opset }];
    for (const [domain, version] of this.domains) opsetImport.push({ domain, version });
    return {
      irVersion: irVersionForOpset(this.opset),
      opsetImport,
      producerName: this.producer,
      producerVersion: this.producerVersion,
      docString: this.docString,
      metadataProps: [...this.metadata].map(([key, value]) => ({ key, value })),
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
    };
  }

  /** The serialised onnx.ModelProto, ready for onnxruntime or a .onnx file. */
  toModelBytes(): Uint8Array {
    return onnx.ModelProto.encode(this.toModelProto()).finish();
  }

  // ---------------------------------------------------------------- constants

  /** A Constant node holding `data` with shape `dims`; returns its output name. */
  constant(data: InitializerData, dims: number[]): string {
    const name = this.fresh('const', this.values);
    this.node('Constant', [], { outputs: [name], attrs: { value: { tensor: { data, dims } } } });
    return name;
  }

  /** A shared scalar initializer (shape []), created once per dtype and value. */
  scalar(value: number, dtype: 'float32' | 'int64' | 'int32' = 'float32'): string {
    const key = `${dtype}:${Object.is(value, -0) ? '-0' : String(value)}`;
    const cached = this.scalarCache.get(key);
    if (cached !== undefined) return cached;
    const name = this.fresh(`scalar_${dtype}`, this.values);
    this.initializer(name, scalarData(value, dtype), []);
    this.scalarCache.set(key, name);
    return name;
  }

  /** An int64 initializer holding a list of integers (shapes, axes, slice bounds). */
  int64s(values: number[], label = 'ints'): string {
    const data = new BigInt64Array(values.length);
    values.forEach((v, i) => {
      if (!Number.isSafeInteger(v)) throw invalidInput(label, `${label}[${i}] must be an integer, got ${v}`);
      data[i] = BigInt(v);
    });
    return this.initializer(this.fresh(label, this.values), data, [values.length]);
  }

  // ---------------------------------------------------------------- arithmetic

  matMul(a: string, b: string): string {
    return this.one('MatMul', [a, b]);
  }

  /** Y = alpha·op(A)·op(B) + beta·C (2-D only, as the Gemm op). */
  gemm(a: string, b: string, c?: string, opts: GemmOptions = {}): string {
    const attrs: Record<string, AttrValue> = {};
    if (opts.transA) attrs['transA'] = 1;
    if (opts.transB) attrs['transB'] = 1;
    if (opts.alpha !== undefined) attrs['alpha'] = { float: opts.alpha };
    if (opts.beta !== undefined) attrs['beta'] = { float: opts.beta };
    return this.one('Gemm', c === undefined ? [a, b] : [a, b, c], attrs);
  }

  add(a: string, b: string): string {
    return this.one('Add', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.one('Sub', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.one('Mul', [a, b]);
  }
  div(a: string, b: string): string {
    return this.one('Div', [a, b]);
  }
  pow(a: string, b: string): string {
    return this.one('Pow', [a, b]);
  }
  equal(a: string, b: string): string {
    return this.one('Equal', [a, b]);
  }
  where(cond: string, a: string, b: string): string {
    return this.one('Where', [cond, a, b]);
  }

  sqrt(x: string): string {
    return this.one('Sqrt', [x]);
  }
  tanh(x: string): string {
    return this.one('Tanh', [x]);
  }
  sigmoid(x: string): string {
    return this.one('Sigmoid', [x]);
  }
  exp(x: string): string {
    return this.one('Exp', [x]);
  }
  log(x: string): string {
    return this.one('Log', [x]);
  }
  erf(x: string): string {
    return this.one('Erf', [x]);
  }
  relu(x: string): string {
    return this.one('Relu', [x]);
  }
  neg(x: string): string {
    return this.one('Neg', [x]);
  }
  abs(x: string): string {
    return this.one('Abs', [x]);
  }
  reciprocal(x: string): string {
    return this.one('Reciprocal', [x]);
  }
  identity(x: string): string {
    return this.one('Identity', [x]);
  }

  // ---------------------------------------------------------------- neural-network blocks

  /** LayerNormalization over the axes from `axis` to the last (opset ≥ 17). */
  layerNorm(x: string, scale: string, bias: string, opts: LayerNormOptions = {}): string {
    if (this.opset < 17) {
      throw invalidInput('opset', `layerNorm needs opset 17 or later (LayerNormalization); this graph uses opset ${this.opset}`);
    }
    return this.one('LayerNormalization', [x, scale, bias], {
      axis: { int: opts.axis ?? -1 },
      epsilon: { float: opts.epsilon ?? 1e-5 },
    });
  }

  /**
   * Multi-head self-attention as onnxruntime's fused `com.microsoft.Attention` kernel:
   * x [B, T, W] → [B, T, W] = concat_heads(softmax(q·kᵀ/√(W/heads) [+ causal mask])·v), where
   * [q | k | v] = x·qkvWeight + qkvBias, qkvWeight [W, 3W], qkvBias [3W]. One node does the packed
   * projection, the head split and merge and the softmax, so the graph carries no Transpose.
   * The output projection is not included. onnxruntime-only (a contrib operator).
   */
  attention(x: string, qkvWeight: string, qkvBias: string, opts: AttentionOptions): string {
    if (!Number.isSafeInteger(opts.heads) || opts.heads < 1) throw invalidInput('heads', `heads must be a positive integer, got ${opts.heads}`);
    const attrs: Record<string, AttrValue> = { num_heads: { int: opts.heads } };
    if (opts.causal) attrs['unidirectional'] = { int: 1 };
    const [out] = this.node('Attention', [x, qkvWeight, qkvBias], { domain: MICROSOFT_DOMAIN, attrs });
    return out as string;
  }

  softmax(x: string, axis = -1): string {
    return this.one('Softmax', [x], { axis: { int: axis } });
  }

  /**
   * Exact GELU, 0.5·x·(1 + erf(x/√2)), written as the Div→Erf→Add→Mul→Mul pattern that
   * onnxruntime fuses into one Gelu kernel (the Gelu op itself only exists from opset 20).
   */
  gelu(x: string): string {
    const e = this.erf(this.div(x, this.scalar(Math.SQRT2)));
    return this.mul(this.mul(x, this.add(e, this.scalar(1))), this.scalar(0.5));
  }

  /** The sigmoid approximation x·σ(1.702·x) that CLIP's text tower uses ("quick_gelu"). */
  quickGelu(x: string): string {
    return this.mul(x, this.sigmoid(this.mul(x, this.scalar(1.702))));
  }

  // ---------------------------------------------------------------- shape manipulation

  /** Reshape to a fixed shape; 0 copies the input dim, -1 is inferred (ONNX semantics). */
  reshape(x: string, shape: number[]): string {
    return this.one('Reshape', [x, this.int64s(shape, 'shape')]);
  }

  transpose(x: string, perm: number[]): string {
    return this.one('Transpose', [x], { perm: { ints: perm } });
  }

  concat(xs: string[], axis: number): string {
    if (xs.length === 0) throw invalidInput('xs', 'concat needs at least one input');
    return this.one('Concat', xs, { axis: { int: axis } });
  }

  /**
   * Zero padding: `pads` = [begin_0, …, begin_{r−1}, end_0, …, end_{r−1}] values added before and
   * after each axis (ONNX Pad, constant mode).
   */
  pad(x: string, pads: number[]): string {
    if (pads.length === 0 || pads.length % 2 !== 0 || !pads.every((p) => Number.isSafeInteger(p) && p >= 0)) {
      throw invalidInput('pads', `pads must list a non-negative begin and end count per axis, got [${pads.join(', ')}]`);
    }
    return this.one('Pad', [x, this.int64s(pads, 'pads')]);
  }

  gather(data: string, indices: string, axis = 0): string {
    return this.one('Gather', [data, indices], { axis: { int: axis } });
  }

  gatherND(data: string, indices: string, batchDims = 0): string {
    return this.one('GatherND', [data, indices], { batch_dims: { int: batchDims } });
  }

  /** Slice with constant bounds; `ends` may be Number.MAX_SAFE_INTEGER for "to the end". */
  slice(x: string, starts: number[], ends: number[], axes?: number[], steps?: number[]): string {
    if (starts.length !== ends.length) {
      throw invalidInput('ends', `slice needs as many ends as starts (${starts.length}), got ${ends.length}`);
    }
    if (axes !== undefined && axes.length !== starts.length) {
      throw invalidInput('axes', `slice needs as many axes as starts (${starts.length}), got ${axes.length}`);
    }
    if (steps !== undefined && steps.length !== starts.length) {
      throw invalidInput('steps', `slice needs as many steps as starts (${starts.length}), got ${steps.length}`);
    }
    const inputs = [x, this.int64s(starts, 'starts'), this.int64s(ends, 'ends')];
    if (axes !== undefined || steps !== undefined) {
      inputs.push(this.int64s(axes ?? starts.map((_, i) => i), 'axes'));
    }
    if (steps !== undefined) inputs.push(this.int64s(steps, 'steps'));
    return this.one('Slice', inputs);
  }

  unsqueeze(x: string, axes: number[]): string {
    return this.one('Unsqueeze', [x, this.int64s(axes, 'axes')]);
  }

  squeeze(x: string, axes?: number[]): string {
    return this.one('Squeeze', axes === undefined ? [x] : [x, this.int64s(axes, 'axes')]);
  }

  /** The runtime shape of x as an int64 vector. */
  shape(x: string): string {
    return this.one('Shape', [x]);
  }

  cast(x: string, to: OnnxDType): string {
    return this.one('Cast', [x], { to: { int: onnxDataType(to, 'to') } });
  }

  // ---------------------------------------------------------------- reductions

  argMax(x: string, axis: number, keepdims = true): string {
    return this.one('ArgMax', [x], { axis: { int: axis }, keepdims: { int: keepdims ? 1 : 0 } });
  }

  reduceMean(x: string, axes: number[], keepdims = true): string {
    // ReduceMean took axes as an attribute until opset 18, as an input since.
    if (this.opset < 18) {
      return this.one('ReduceMean', [x], { axes: { ints: axes }, keepdims: { int: keepdims ? 1 : 0 } });
    }
    return this.one('ReduceMean', [x, this.int64s(axes, 'axes')], { keepdims: { int: keepdims ? 1 : 0 } });
  }

  reduceSum(x: string, axes: number[], keepdims = true): string {
    return this.one('ReduceSum', [x, this.int64s(axes, 'axes')], { keepdims: { int: keepdims ? 1 : 0 } });
  }

  // ---------------------------------------------------------------- internals

  private one(opType: string, inputs: string[], attrs?: Record<string, AttrValue>): string {
    const [out] = this.node(opType, inputs, attrs === undefined ? {} : { attrs });
    return out as string;
  }

  private outputNames(opType: string, nodeName: string, spec: string[] | number): string[] {
    if (typeof spec === 'number') {
      if (!Number.isInteger(spec) || spec < 1) {
        throw invalidInput('outputs', `node '${nodeName}' needs a positive number of outputs, got ${spec}`);
      }
      return Array.from({ length: spec }, () => this.fresh(opType.toLowerCase(), this.values));
    }
    const seen = new Set<string>();
    for (const o of spec) {
      if (o === '') continue; // omitted optional output
      if (typeof o !== 'string') throw invalidInput('outputs', `node '${nodeName}' has a non-string output name`);
      if (this.values.has(o) || seen.has(o)) {
        throw invalidInput('outputs', `node '${nodeName}' writes '${o}', which already exists; every value has exactly one producer`);
      }
      seen.add(o);
    }
    return [...spec];
  }

  private claimValueName(name: string, what: string): void {
    if (typeof name !== 'string' || name === '') throw invalidInput(what, `${what} name must be a non-empty string`);
    if (this.values.has(name)) throw invalidInput(what, `${what} '${name}' clashes with an existing value of the same name`);
    this.values.add(name);
  }

  /** A name `${base}_${n}` not yet in `taken` (generated names never clash with explicit ones). */
  private fresh(base: string, taken: Set<string>): string {
    let n = this.counters.get(base) ?? 0;
    let name = `${base}_${n}`;
    while (taken.has(name)) name = `${base}_${++n}`;
    this.counters.set(base, n + 1);
    return name;
  }
}

function valueInfo(v: DeclaredValue): ValueInfoProto {
  return {
    name: v.name,
    type: { tensorType: { elemType: onnxDataType(v.dtype, v.name), shape: { dim: dimsToProto(v.shape) } } },
  };
}

function checkShape(name: string, shape: Dim[]): void {
  if (!Array.isArray(shape)) throw invalidInput(name, `shape of '${name}' must be an array`);
  shape.forEach((d, i) => {
    const ok = typeof d === 'string' ? d.length > 0 : Number.isSafeInteger(d) && d >= 0;
    if (!ok) throw invalidInput(name, `dim ${i} of '${name}' must be a non-negative integer or a symbolic name, got ${String(d)}`);
  });
}

function scalarData(value: number, dtype: 'float32' | 'int64' | 'int32'): InitializerData {
  if (dtype === 'float32') return Float32Array.of(value);
  if (!Number.isSafeInteger(value)) throw invalidInput('value', `${dtype} scalar must be an integer, got ${value}`);
  return dtype === 'int64' ? BigInt64Array.of(BigInt(value)) : Int32Array.of(value);
}
