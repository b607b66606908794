/**
 * Policy for non-LoRA tensors (`modules_to_save` copies of e.g. a classifier head, trained
 * biases): they are full weights, not low-rank factors, so there is nothing to merge. They are
 * carried into the merged adapter unchanged when EVERY input has the same set of them with
 * byte-identical contents (compared by sha256); otherwise the merge is refused, since picking
 * one input's head would silently drop the others' training.
 */
import { ErrorCode, WeightsmithError } from '@weightsmith/core';
import type { CarriedTensor, PeftAdapter } from './peft-adapter.js';

export interface CarriedToWrite extends CarriedTensor {
  /** Reads the bytes from the first input when the writer reaches the tensor. */
  producer: () => Promise<Uint8Array>;
}

export async function planCarriedTensors(adapters: readonly PeftAdapter[]): Promise<CarriedToWrite[]> {
  const first = adapters[0];
  if (!first || adapters.every((a) => a.carried.length === 0)) return [];
  const refuse = (i: number, name: string, why: string): never => {
    throw new WeightsmithError(
      ErrorCode.InvalidInput,
      `adapters[${i}] (${adapters[i]!.label}): non-LoRA tensor "${name}" (modules_to_save or bias) ${why}; ` +
        'full weights can only be carried through a merge when every adapter has identical bytes for them',
      { field: `adapters.${i}.${name}` },
    );
  };
  const reference = new Map(first.carried.map((t) => [t.name, t]));
  const digests = new Map<string, string>();
  for (const t of first.carried) digests.set(t.name, await first.carriedDigest(t.name));
  for (let i = 1; i < adapters.length; i++) {
    const adapter = adapters[i]!;
    const names = new Set(adapter.carried.map((t) => t.name));
    for (const name of reference.keys()) if (!names.has(name)) refuse(i, name, 'is missing here but present in adapters[0]');
    for (const t of adapter.carried) {
      const ref = reference.get(t.name);
      if (!ref) refuse(i, t.name, 'is not in adapters[0]');
      if (ref!.dtype !== t.dtype || ref!.shape.join() !== t.shape.join()) {
        refuse(i, t.name, `is ${t.dtype} [${t.shape.join(', ')}] but ${ref!.dtype} [${ref!.shape.join(', ')}] in adapters[0]`);
      }
      if ((await adapter.carriedDigest(t.name)) !== digests.get(t.name)) refuse(i, t.name, 'differs from adapters[0]');
    }
  }
  return first.carried.map((t) => ({ ...t, shape: [...t.shape], producer: () => first.readCarried(t.name) }));
}
