/** Small hand-built PEFT adapters for the adapter-* and tar-* tests. */
import { serializeSafetensors, type TensorToWrite } from '@weightsmith/safetensors';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

export function f32(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

export function u16(bits: number[]): Uint8Array {
  return new Uint8Array(new Uint16Array(bits).buffer);
}

export type Tensor = { name: string; dtype: 'F32' | 'F16' | 'BF16' | 'I64' | 'U8'; shape: number[]; bytes: Uint8Array };

export function weights(tensors: Tensor[], metadata: Record<string, string> = { format: 'pt' }): Promise<Uint8Array> {
  const specs: TensorToWrite[] = tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: t.bytes }));
  return serializeSafetensors(specs, metadata);
}

export const Q = 'model.layers.0.self_attn.q_proj';
export const V = 'model.layers.0.self_attn.v_proj';
export const key = (module: string, f: 'A' | 'B'): string => `base_model.model.${module}.lora_${f}.weight`;

/** r = 2, dIn = 3, dOut = 2 for q_proj; F32. */
export const QA = [1, 2, 3, 4, 5, 6];
export const QB = [0.5, -1, 2, 0.25];

export function baseConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    r: 2,
    lora_alpha: 4,
    target_modules: ['q_proj', 'v_proj'],
    base_model_name_or_path: 'tiny/base',
    task_type: 'CAUSAL_LM',
    use_rslora: false,
    rank_pattern: {},
    alpha_pattern: {},
    modules_to_save: null,
    bias: 'none',
    ...extra,
  };
}

export async function simpleAdapter(): Promise<{ config: Record<string, unknown>; weights: Uint8Array }> {
  return {
    config: baseConfig(),
    weights: await weights([
      { name: key(Q, 'A'), dtype: 'F32', shape: [2, 3], bytes: f32(QA) },
      { name: key(Q, 'B'), dtype: 'F32', shape: [2, 2], bytes: f32(QB) },
    ]),
  };
}
