export * from './graph-builder.js';
export { onnx } from './onnx-proto.js';
export type { ModelProto, GraphProto, NodeProto, TensorProto, AttributeProto, ValueInfoProto } from './onnx-proto.js';
export * from './tensor-data.js';
export * from './session-cache.js';
export * from './inference-pool.js';
export * from './transformer-layer.js';
