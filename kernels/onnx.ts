/**
 * A thin typed builder over the protobufjs ONNX schema (`onnx-proto`). Every value in a graph has a
 * readable name (llama.cpp style: `blk.3.attn_q`); duplicate names are a bug and throw.
 * Large initializers go to external data (in-memory `externalData` session option), because
 * protobuf caps one message at 2 GiB.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export type ElementType = 'float32' | 'int64' | 'int32' | 'uint8' | 'bool';
/** A fixed size or a symbolic dimension name. */
export type Dim = number | string;

export interface TensorSpec {
  name: string;
  type: ElementType;
  dims: Dim[];
}

export type InitializerData = Float32Array | BigInt64Array | Int32Array | Uint8Array;

/** Attribute values: plain numbers are ints; floats must be marked (the ONNX type matters). */
export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };
export type Attrs = Record<string, AttrValue>;

export interface ExternalDataFile {
  path: string;
  data: Uint8Array;
}

export interface BuiltModel {
  model: Uint8Array;
  externalData: ExternalDataFile[];
}

export const OPSET = 21;
export const MS_DOMAIN = 'com.microsoft';
const IR_VERSION = 10;
/** Initializers above this many bytes are stored as external data. */
const EXTERNAL_THRESHOLD_BYTES = 1024;

const dataTypes: Record<ElementType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  uint8: onnx.TensorProto.DataType.UINT8,
  bool: onnx.TensorProto.DataType.BOOL,
};

function elementTypeOf(data: InitializerData): ElementType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  return 'uint8';
}

function bytesOf(data: InitializerData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function valueInfo(spec: TensorSpec): onnxProto.onnx.IValueInfoProto {
  return {
    name: spec.name,
    type: {
      tensorType: {
        elemType: dataTypes[spec.type],
        shape: { dim: spec.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, value: AttrValue): onnxProto.onnx.IAttributeProto {
  const types = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: types.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}=${value}: plain numbers are ints; wrap floats as { float }`);
    return { name, type: types.INT, i: value };
  }
  if (Array.isArray(value)) return { name, type: types.INTS, ints: value };
  if ('float' in value) return { name, type: types.FLOAT, f: value.float };
  return { name, type: types.FLOATS, floats: value.floats };
}

/** Builds names under a prefix: `scope('blk.3')('attn_q')` is `blk.3.attn_q`. */
export type Namer = (suffix: string) => string;
export function scope(prefix: string): Namer {
  return (suffix) => `${prefix}.${suffix}`;
}

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inputs: TensorSpec[] = [];
  private readonly outputs: TensorSpec[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly external: ExternalDataFile[] = [];
  private readonly names = new Set<string>();
  private readonly constants = new Map<string, string>();

  constructor(private readonly graphName: string) {}

  private claim(name: string): string {
    if (!name) throw new Error('every graph value needs a name');
    if (this.names.has(name)) throw new Error(`graph value "${name}" is defined twice`);
    this.names.add(name);
    return name;
  }

  /** True when a value of this name exists (input, initializer or node output). */
  has(name: string): boolean {
    return this.names.has(name);
  }

  input(name: string, type: ElementType, dims: Dim[]): string {
    this.inputs.push({ name: this.claim(name), type, dims });
    return name;
  }

  /** Marks an existing value as a graph output. */
  output(name: string, type: ElementType, dims: Dim[]): string {
    if (!this.names.has(name)) throw new Error(`output "${name}" is not a value of the graph`);
    this.outputs.push({ name, type, dims });
    return name;
  }

  initializer(name: string, data: InitializerData, dims: number[]): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) {
      throw new Error(`initializer "${name}": ${data.length} values do not fill dims [${dims.join(', ')}]`);
    }
    this.claim(name);
    const bytes = bytesOf(data);
    const tensor: onnxProto.onnx.ITensorProto = { name, dims, dataType: dataTypes[elementTypeOf(data)] };
    if (bytes.byteLength > EXTERNAL_THRESHOLD_BYTES) {
      const path = `${name}.bin`;
      this.external.push({ path, data: bytes });
      tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      tensor.externalData = [
        { key: 'location', value: path },
        { key: 'offset', value: '0' },
        { key: 'length', value: String(bytes.byteLength) },
      ];
    } else {
      tensor.rawData = bytes;
    }
    this.initializers.push(tensor);
    return name;
  }

  /** A shared small constant (deduplicated by value); name derived from its contents. */
  constInt64(values: number[], dims: number[] = [values.length]): string {
    return this.sharedConstant(`const.i64.${dims.join('x')}.${values.join('_')}`, BigInt64Array.from(values.map(BigInt)), dims);
  }

  constFloat(values: number[], dims: number[] = [values.length]): string {
    const key = values.map((v) => (Object.is(v, -Infinity) ? 'ninf' : String(v))).join('_');
    return this.sharedConstant(`const.f32.${dims.join('x')}.${key}`, Float32Array.from(values), dims);
  }

  private sharedConstant(name: string, data: InitializerData, dims: number[]): string {
    const existing = this.constants.get(name);
    if (existing) return existing;
    this.initializer(name, data, dims);
    this.constants.set(name, name);
    return name;
  }

  /** Adds a node; `''` in inputs or outputs marks an omitted optional slot. Returns the output names. */
  node(opType: string, inputs: string[], outputs: string[], attrs: Attrs = {}, domain = ''): string[] {
    for (const input of inputs) {
      if (input !== '' && !this.names.has(input)) throw new Error(`${opType} -> ${outputs[0]}: input "${input}" is not defined`);
    }
    for (const output of outputs) if (output !== '') this.claim(output);
    this.nodes.push({
      name: outputs.find((o) => o !== '') ?? opType,
      opType,
      domain,
      input: inputs,
      output: outputs,
      attribute: Object.entries(attrs).map(([key, value]) => attribute(key, value)),
    });
    return outputs;
  }

  /** A single-output node. */
  op(opType: string, inputs: string[], output: string, attrs: Attrs = {}, domain = ''): string {
    return this.node(opType, inputs, [output], attrs, domain)[0];
  }

  build(): BuiltModel {
    const graph: onnxProto.onnx.IGraphProto = {
      name: this.graphName,
      node: this.nodes,
      input: this.inputs.map(valueInfo),
      output: this.outputs.map(valueInfo),
      initializer: this.initializers,
    };
    const model: onnxProto.onnx.IModelProto = {
      irVersion: IR_VERSION,
      producerName: 'cotscope',
      opsetImport: [
        { domain: '', version: OPSET },
        { domain: MS_DOMAIN, version: 1 },
      ],
      graph,
    };
    return { model: onnx.ModelProto.encode(model).finish(), externalData: [...this.external] };
  }

  get io(): { inputs: TensorSpec[]; outputs: TensorSpec[] } {
    return { inputs: [...this.inputs], outputs: [...this.outputs] };
  }
}
