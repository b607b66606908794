/**
 * PEFT's tensor naming in `adapter_model.safetensors`.
 *
 * `get_peft_model_state_dict` saves the model's state-dict keys with the adapter name removed:
 *   linear:    `base_model.model.<module>.lora_A.weight`  [r, d_in]
 *              `base_model.model.<module>.lora_B.weight`  [d_out, r]
 *   embedding: `base_model.model.<module>.lora_embedding_A` [r, num_embeddings]   (a ParameterDict
 *              `base_model.model.<module>.lora_embedding_B` [embedding_dim, r]    entry: no `.weight`)
 * In memory the adapter name sits before `.weight` (`lora_A.default.weight`, `lora_embedding_A.default`);
 * files written by hand sometimes keep it, so `.default` is accepted there.
 *
 * Embedding convention. PEFT's `Embedding.get_delta_weight` is `transpose(B @ A) * scaling`,
 * because `nn.Embedding.weight` is [num_embeddings, embedding_dim] ("in × out"), while
 * `nn.Linear.weight` is [out, in]. Its forward is `embedding(x, A.T) @ B.T * scaling`: a one-hot
 * input of size num_embeddings mapped to embedding_dim. So in the linear-map view both kinds are
 * ΔW = scale · B · A with d_in = A's columns and d_out = B's rows, and the factors are used exactly
 * as stored — no transposition on read or on write. Only someone adding ΔW to the base
 * embedding matrix must transpose it, which this service never does.
 */

export type ModuleKind = 'linear' | 'embedding';

export type ParsedKey =
  | { type: 'factor'; module: string; kind: ModuleKind; factor: 'A' | 'B' }
  | { type: 'dora'; module: string }
  | { type: 'lora_bias'; module: string }
  /** Contains a `lora_…` segment but follows no known PEFT layout. */
  | { type: 'unknown_lora'; }
  /** Not a LoRA tensor: a `modules_to_save` copy, a trained bias, trainable tokens… */
  | { type: 'other' };

/** The prefix `PeftModel` puts before the base model's own module paths. */
export const PEFT_PREFIX = 'base_model.model.';

const LINEAR = /^(.+)\.lora_([AB])(?:\.default)?\.weight$/s;
const EMBEDDING = /^(.+)\.lora_embedding_([AB])(?:\.default)?$/s;
const DORA = /^(.+)\.lora_magnitude_vector(?:\.default)?(?:\.weight)?$/s;
const LORA_BIAS = /^(.+)\.lora_B(?:\.default)?\.bias$/s;

/** PEFT's module name (`current_key` in `_create_and_replace`): the path without `base_model.model.`. */
export function moduleNameOf(path: string): string {
  return path.startsWith(PEFT_PREFIX) ? path.slice(PEFT_PREFIX.length) : path;
}

export function parseTensorKey(key: string): ParsedKey {
  let m = LINEAR.exec(key);
  if (m) return { type: 'factor', module: moduleNameOf(m[1]!), kind: 'linear', factor: m[2] as 'A' | 'B' };
  m = EMBEDDING.exec(key);
  if (m) return { type: 'factor', module: moduleNameOf(m[1]!), kind: 'embedding', factor: m[2] as 'A' | 'B' };
  m = DORA.exec(key);
  if (m) return { type: 'dora', module: moduleNameOf(m[1]!) };
  m = LORA_BIAS.exec(key);
  if (m) return { type: 'lora_bias', module: moduleNameOf(m[1]!) };
  if (key.split('.').some((segment) => segment.startsWith('lora_'))) return { type: 'unknown_lora' };
  return { type: 'other' };
}

/** The key PEFT saves for a factor of `module`. */
export function factorKey(module: string, kind: ModuleKind, factor: 'A' | 'B'): string {
  return kind === 'linear' ? `${PEFT_PREFIX}${module}.lora_${factor}.weight` : `${PEFT_PREFIX}${module}.lora_embedding_${factor}`;
}
