/**
 * onnx-proto is a CommonJS bundle (protobufjs static code) whose namespace Node's ESM loader
 * cannot see as a named export; this module is the one place that unwraps it, and it re-exports
 * the message types under plain names.
 */
import onnxProtoPackage from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

export const onnx = onnxProtoPackage.onnx;

export type ModelProto = OnnxTypes.IModelProto;
export type GraphProto = OnnxTypes.IGraphProto;
export type NodeProto = OnnxTypes.INodeProto;
export type TensorProto = OnnxTypes.ITensorProto;
export type AttributeProto = OnnxTypes.IAttributeProto;
export type ValueInfoProto = OnnxTypes.IValueInfoProto;
export type OperatorSetIdProto = OnnxTypes.IOperatorSetIdProto;
export type DimensionProto = OnnxTypes.TensorShapeProto.IDimension;
