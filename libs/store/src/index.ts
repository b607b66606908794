export * from './object-store.js';
export {
  validateKey,
  isValidKey,
  compareKeys,
  MAX_KEY_BYTES,
  MAX_SEGMENT_BYTES,
  MAX_LIST_LIMIT,
  DEFAULT_LIST_LIMIT,
} from './key.js';
export { FsStore, type FsStoreOptions } from './fs-store.js';
export { S3Store, type S3StoreOptions } from './s3-store.js';
export { createObjectStore, type StoreConfig } from './create-store.js';
export { storeKeyOfUri } from './store-uri.js';
export {
  ArtifactStore,
  artifactManifestSchema,
  artifactManifestFieldsSchema,
  artifactInputSchema,
  artifactIdSchema,
  tensorEntrySchema,
  artifactDataKey,
  artifactManifestKey,
  validateArtifactId,
  type Artifact,
  type ArtifactBody,
  type ArtifactManifest,
  type ArtifactManifestFields,
  type ArtifactPutResult,
  type ArtifactListOptions,
  type ArtifactListPage,
  type ArtifactStoreOptions,
} from './artifact-store.js';
