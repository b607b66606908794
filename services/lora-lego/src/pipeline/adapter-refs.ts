/**
 * Where a merge's inputs come from: an adapter artifact id (64 hex), or an `s3://bucket/key`
 * URI in the service's own bucket — a `.tar` key (the deterministic adapter tar or a user's tar)
 * or a prefix holding `adapter_config.json` and `adapter_model.safetensors`.
 */
import { invalidInput } from '@weightsmith/core';
import { storeKeyOfUri, type ArtifactStore } from '@weightsmith/store';
import { openPeftAdapterArtifact, openPeftAdapterObject, openPeftAdapterPrefix, type PeftAdapter } from '../adapter/index.js';

export const ARTIFACT_ID = /^[0-9a-f]{64}$/;


export async function openAdapterRef(ref: string, artifacts: ArtifactStore, field: string): Promise<{ adapter: PeftAdapter; sha256?: string }> {
  if (ARTIFACT_ID.test(ref)) {
    const artifact = await artifacts.get(ref);
    if (artifact.manifest.kind !== 'peft-adapter') {
      throw invalidInput(field, `artifact ${ref} is a '${artifact.manifest.kind}', not a 'peft-adapter' (upload adapters with POST /v1/adapters)`);
    }
    return { adapter: await openPeftAdapterArtifact(artifacts, ref), sha256: artifact.sha256 };
  }
  if (ref.startsWith('s3://')) {
    const key = storeKeyOfUri(ref, artifacts.store, field);
    return { adapter: key.endsWith('.tar') ? await openPeftAdapterObject(artifacts.store, key) : await openPeftAdapterPrefix(artifacts.store, key) };
  }
  throw invalidInput(field, `'${ref}' is neither an adapter artifact id (64 hex characters) nor an s3:// URI`);
}
