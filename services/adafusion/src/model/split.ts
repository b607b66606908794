/** Seeded train/validation split of slide ids, stratified by class for classification. */
import { invalidInput } from '@weightsmith/core';
import type { Rng } from '@weightsmith/tensor';

/**
 * Splits `ids` so that about `valFraction` of them (at least one, at most all but one) go to
 * validation. With `strata` (id → class) each class contributes round(fraction · its count)
 * slides, and at least one when it has two or more, so small classes appear on both sides.
 */
export function splitTrainVal(ids: readonly string[], valFraction: number, rng: Rng, strata?: ReadonlyMap<string, number>): { train: string[]; val: string[] } {
  if (ids.length < 2) throw invalidInput('trainIds', `fitting needs at least 2 training slides (one for validation), got ${ids.length}`);
  const groups = new Map<number, string[]>();
  for (const id of ids) {
    const key = strata?.get(id) ?? 0;
    const g = groups.get(key);
    if (g) g.push(id);
    else groups.set(key, [id]);
  }
  const val = new Set<string>();
  for (const key of [...groups.keys()].sort((a, b) => a - b)) {
    const members = rng.shuffle([...groups.get(key)!]);
    let take = Math.round(valFraction * members.length);
    if (members.length >= 2) take = Math.max(1, Math.min(take, members.length - 1));
    for (const id of members.slice(0, take)) val.add(id);
  }
  if (val.size === 0) val.add(rng.choice(ids));
  if (val.size === ids.length) val.delete([...val][0]!);
  return { train: ids.filter((id) => !val.has(id)), val: ids.filter((id) => val.has(id)) };
}
