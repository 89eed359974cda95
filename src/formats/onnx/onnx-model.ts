/**
 * Encodes ONNX models (onnx.proto3's ModelProto) for the graphs bitsmith builds itself: nodes over float
 * tensors whose dimensions may be symbolic, so one model serves every shape. Field numbers follow onnx.proto:
 * ModelProto 1 ir_version, 2 producer_name, 7 graph, 8 opset_import; OperatorSetIdProto 1 domain, 2 version;
 * GraphProto 1 node, 2 name, 11 input, 12 output; NodeProto 1 input, 2 output, 3 name, 4 op_type,
 * 5 attribute, 7 domain; AttributeProto 1 name, 2 f, 3 i, 20 type (FLOAT = 1, INT = 2); ValueInfoProto 1 name,
 * 2 type; TypeProto 1 tensor_type; TypeProto.Tensor 1 elem_type (FLOAT = 1), 2 shape; TensorShapeProto 1 dim;
 * Dimension 1 dim_value, 2 dim_param.
 */
import { ProtoWriter } from "../../core/index.js";

/** ONNX IR version 8 (ONNX 1.10+), read by every onnxruntime since 1.10. */
const IR_VERSION = 8;
const ELEM_FLOAT = 1;
const ATTRIBUTE_FLOAT = 1;
const ATTRIBUTE_INT = 2;

/** A graph input or output: a float tensor whose dimensions are sizes or names (symbolic, bound at run time). */
export interface OnnxValue {
  readonly name: string;
  readonly dims: readonly (number | string)[];
}

export interface OnnxNode {
  readonly opType: string;
  /** "" (default) for the standard operators, e.g. "com.microsoft" for onnxruntime's contrib operators. */
  readonly domain?: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Integer-valued attributes (e.g. transB: 1); numbers that are not integers are encoded as floats. */
  readonly attributes?: Readonly<Record<string, number>>;
}

export interface OnnxGraph {
  readonly name: string;
  readonly nodes: readonly OnnxNode[];
  readonly inputs: readonly OnnxValue[];
  readonly outputs: readonly OnnxValue[];
  /** Operator set version per domain, e.g. { "": 13, "com.microsoft": 1 }. */
  readonly opsets: Readonly<Record<string, number>>;
}

function encodeValue(v: OnnxValue): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.dims) shape.message(1, typeof d === "number" ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  const tensor = new ProtoWriter().int(1, ELEM_FLOAT).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensor));
}

function encodeNode(node: OnnxNode, index: number): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of node.inputs) w.string(1, i);
  for (const o of node.outputs) w.string(2, o);
  w.string(3, `${node.opType.toLowerCase()}_${index}`).string(4, node.opType);
  for (const [name, value] of Object.entries(node.attributes ?? {})) {
    const a = new ProtoWriter().string(1, name);
    if (Number.isInteger(value)) a.int(3, value).int(20, ATTRIBUTE_INT);
    else a.float(2, value).int(20, ATTRIBUTE_FLOAT);
    w.message(5, a);
  }
  if (node.domain) w.string(7, node.domain);
  return w;
}

export function encodeOnnxModel(graph: OnnxGraph, producer = "bitsmith"): Uint8Array {
  const g = new ProtoWriter();
  graph.nodes.forEach((n, i) => g.message(1, encodeNode(n, i)));
  g.string(2, graph.name);
  for (const v of graph.inputs) g.message(11, encodeValue(v));
  for (const v of graph.outputs) g.message(12, encodeValue(v));
  const model = new ProtoWriter().int(1, IR_VERSION).string(2, producer).message(7, g);
  for (const [domain, version] of Object.entries(graph.opsets)) model.message(8, new ProtoWriter().string(1, domain).int(2, version));
  return model.finish();
}
