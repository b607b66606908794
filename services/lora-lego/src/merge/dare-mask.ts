import { Rng, splitMix64, type Seed } from '@weightsmith/tensor';

/*
 * DARE's Bernoulli drop mask, applied to a task vector block by block. The stream is exactly
 * Rng(seed).fork(label).nextUint32(), one draw per entry in index order (the seeded contract the
 * dense merge documents), but generated here with the xoshiro128** state in local variables: a
 * method call per entry on the Rng object was the hot spot of dare_* on a 45M-entry module. The
 * state is derived from the forked key exactly as the Rng constructor does (two SplitMix64 steps).
 */
export class DareMask {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  /** Draws below this keep the entry: density·2^32. */
  private readonly below: number;

  constructor(seed: Seed, label: string, density: number) {
    const key = new Rng(seed).fork(label).key;
    const [state1, z1] = splitMix64(key);
    const [, z2] = splitMix64(state1);
    this.s0 = Number(z1 & 0xffffffffn);
    this.s1 = Number(z1 >> 32n);
    this.s2 = Number(z2 & 0xffffffffn);
    this.s3 = Number(z2 >> 32n);
    this.below = density * 4294967296;
  }

  /** block[t] ← kept ? block[t]·gain : 0 for the next block.length entries of the stream, in place. */
  apply(block: Float32Array, gain: number): void {
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    const below = this.below;
    const n = block.length;
    for (let t = 0; t < n; t++) {
      const x = Math.imul(s1, 5);
      const draw = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
      const sh = s1 << 9;
      const n2 = s2 ^ s0;
      const n3 = s3 ^ s1;
      s1 = s1 ^ n2;
      s0 = s0 ^ n3;
      s2 = n2 ^ sh;
      s3 = (n3 << 11) | (n3 >>> 21);
      block[t] = draw < below ? block[t]! * gain : 0;
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
  }
}
