/**
 * @weightsmith/safetensors — validating, header-first reader and streaming writer of the
 * safetensors format (huggingface/safetensors).
 *
 *   const file = await openSafetensorsFile('model.safetensors');   // or openSafetensorsObject(store, key)
 *   for await (const t of file) use(t.name, t.dtype, t.shape, t.data); // one tensor in memory at a time
 *   await file.close();
 *
 *   await writeSafetensors('out.safetensors', [{ name, dtype: 'F32', shape, data }], { format: 'pt' });
 *   const { stream, bytes } = createSafetensorsStream(tensors);      // store.put(key, stream, { size: bytes })
 */
export {
  SAFETENSORS_DTYPES,
  dtypeBits,
  isSafetensorsDType,
  viewTensorData,
  type SafetensorsDType,
  type TensorData,
  type TensorDataByDType,
} from './dtype.js';
export { memorySource, type ByteSource } from './byte-source.js';
export { openFileSource, type FileByteSource } from './file-source.js';
export { openObjectStoreSource, type ObjectStoreByteSource } from './store-source.js';
export {
  DEFAULT_MAX_HEADER_BYTES,
  parseHeader,
  parseHeaderLength,
  tensorByteSize,
  type SafetensorsHeader,
  type TensorInfo,
} from './header.js';
export {
  openSafetensors,
  openSafetensorsFile,
  openSafetensorsObject,
  readSafetensorsHeader,
  type OpenSafetensorsOptions,
  type SafetensorsFile,
  type SafetensorsTensor,
} from './reader.js';
export {
  planSafetensors,
  type SafetensorsLayout,
  type TensorChunks,
  type TensorProducer,
  type TensorToWrite,
  type TensorWithData,
  type TensorWithProducer,
} from './layout.js';
export {
  createSafetensorsStream,
  putSafetensors,
  serializeSafetensors,
  writeSafetensors,
  type SafetensorsStream,
  type WriteResult,
} from './writer.js';
