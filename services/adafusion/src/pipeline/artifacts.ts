/** The artifact kinds AdaFusion writes, and reading its JSON artifacts back by kind. */
import { ErrorCode, WeightsmithError, isWeightsmithError, notFound } from '@weightsmith/core';
import { artifactDataKey, type Artifact, type ArtifactPutResult, type ArtifactStore } from '@weightsmith/store';

export const KINDS = {
  featureSet: 'adafusion-feature-set',
  model: 'adafusion-model',
  weights: 'adafusion-weights',
  onnx: 'adafusion-onnx',
  tileScores: 'adafusion-tile-scores',
  fusedFeatures: 'adafusion-fused-features',
} as const;

export type Producer = { service: string; version: string };

/** JSON as stored: no timestamps, keys in insertion order, so the same record gives the same id. */
export function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

/** The artifact as API responses show it (`created` is only the put's answer). */
export function publicArtifact(put: ArtifactPutResult): Artifact {
  const { created: _created, ...artifact } = put;
  return artifact;
}

/**
 * An artifact of one kind, or not_found naming `field` — an id of another kind is as unknown to
 * the endpoint as an id that does not exist.
 */
export async function getArtifactOfKind(artifacts: ArtifactStore, id: string, kind: string, field: string, what: string): Promise<Artifact> {
  const artifact = await artifacts.get(id).catch((err: unknown) => {
    if (isWeightsmithError(err, ErrorCode.NotFound)) throw notFound(`${what} ${id} does not exist`, field);
    throw err;
  });
  if (artifact.manifest.kind !== kind) throw notFound(`artifact ${id} is a '${artifact.manifest.kind}', not a ${what} (${kind})`, field);
  return artifact;
}

export async function readArtifactBytes(artifacts: ArtifactStore, id: string): Promise<Uint8Array> {
  return artifacts.store.getBytes(artifactDataKey(id));
}

/** A stored JSON artifact of one kind, parsed; a stored file that is not JSON is an internal fault. */
export async function readJsonArtifact(artifacts: ArtifactStore, id: string, kind: string, field: string, what: string): Promise<unknown> {
  await getArtifactOfKind(artifacts, id, kind, field, what);
  const bytes = await readArtifactBytes(artifacts, id);
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch (err) {
    throw new WeightsmithError(ErrorCode.Internal, `${what} ${id} is not valid JSON`, { cause: err });
  }
}
