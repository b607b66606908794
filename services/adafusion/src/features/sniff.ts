/** Container detection by signature, so callers need not trust file names or content types. */

export type FeatureFileFormat = 'hdf5' | 'safetensors';

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

function hasHdf5SignatureAt(bytes: Uint8Array, at: number): boolean {
  if (at + HDF5_SIGNATURE.length > bytes.byteLength) return false;
  return HDF5_SIGNATURE.every((b, i) => bytes[at + i] === b);
}

/**
 * HDF5 puts its superblock at 0 or, after a user block, at 512, 1024, 2048, … (powers of two);
 * the library searches those offsets, so do we.
 */
export function isHdf5(bytes: Uint8Array): boolean {
  for (let at = 0; at + HDF5_SIGNATURE.length <= bytes.byteLength; at = at === 0 ? 512 : at * 2) {
    if (hasHdf5SignatureAt(bytes, at)) return true;
  }
  return false;
}

/** safetensors: an 8-byte little-endian header length N that fits the file, then a JSON object. */
export function looksLikeSafetensors(bytes: Uint8Array): boolean {
  if (bytes.byteLength < 10) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  return n >= 2n && n <= BigInt(bytes.byteLength - 8) && bytes[8] === 0x7b; // '{'
}

export function detectFeatureFormat(bytes: Uint8Array): FeatureFileFormat | undefined {
  if (isHdf5(bytes)) return 'hdf5';
  if (looksLikeSafetensors(bytes)) return 'safetensors';
  return undefined;
}
