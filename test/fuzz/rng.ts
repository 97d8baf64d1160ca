/**
 * A small deterministic PRNG for the fuzzer: sfc32 (Chris Doty-Humphrey's "Small Fast Counting"
 * generator, as in PractRand), seeded from a 32-bit number or from a string hashed with cyrb128.
 * Same seed, same sequence, on every platform: only 32-bit integer arithmetic is used.
 * Not for cryptography.
 */

export interface Rng {
  /** The next 32-bit unsigned integer. */
  next(): number;
  /** A float in [0, 1) with 32 bits of randomness. */
  float(): number;
  /** An integer in [0, n); n must be a positive integer below 2^32. */
  int(n: number): number;
  /** An integer in [lo, hi] (both inclusive). */
  range(lo: number, hi: number): number;
  /** A uniformly chosen element; throws on an empty array. */
  pick<T>(items: readonly T[]): T;
  /** True with probability p. */
  chance(p: number): boolean;
  /** n random bytes. */
  bytes(n: number): Uint8Array<ArrayBuffer>;
  /** An element chosen with probability proportional to its (non-negative) weight; throws when all weights are 0. */
  weighted<T>(items: readonly (readonly [T, number])[]): T;
  /** A copy of `items` in random order (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[];
}

/** Thrown by pick, weighted (and so by ops) when there is nothing to choose from. */
export class EmptyChoiceError extends RangeError {
  override name = "EmptyChoiceError";
}

/** cyrb128: four 32-bit words from a string (public-domain hash by bryc). */
function cyrb128(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

class Sfc32 implements Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(words: readonly [number, number, number, number]) {
    [this.#a, this.#b, this.#c, this.#d] = words;
    for (let i = 0; i < 15; i++) this.next();
  }

  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  float(): number {
    return this.next() / 4294967296;
  }

  int(n: number): number {
    if (!(n >= 1) || n > 4294967296 || !Number.isInteger(n)) throw new RangeError(`int(${n}): n must be an integer in [1, 2^32]`);
    // Rejection sampling: unbiased for every n.
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.next();
      if (x < limit) return x % n;
    }
  }

  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new EmptyChoiceError("pick from an empty array");
    return items[this.int(items.length)] as T;
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  bytes(n: number): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      let x = this.next();
      for (let j = i; j < Math.min(n, i + 4); j++) {
        out[j] = x & 0xff;
        x >>>= 8;
      }
    }
    return out;
  }

  weighted<T>(items: readonly (readonly [T, number])[]): T {
    let total = 0;
    for (const [, w] of items) total += Math.max(0, w);
    if (!(total > 0)) throw new EmptyChoiceError("weighted pick with no positive weight");
    let x = this.float() * total;
    for (const [item, w] of items) {
      if (w <= 0) continue;
      x -= w;
      if (x < 0) return item;
    }
    // Floating-point rounding: the last item with a positive weight.
    for (let i = items.length - 1; i >= 0; i--) {
      const entry = items[i];
      if (entry && entry[1] > 0) return entry[0];
    }
    throw new RangeError("unreachable");
  }

  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = out[i] as T;
      out[i] = out[j] as T;
      out[j] = tmp;
    }
    return out;
  }
}

/** A generator seeded from a 32-bit integer (other numbers are truncated with `>>> 0`) or a string. */
export function createRng(seed: number | string): Rng {
  if (typeof seed === "string") return new Sfc32(cyrb128(seed));
  // Fixed constants (the fractional parts of the golden ratio, pi and e) fill the other words.
  return new Sfc32([0x9e3779b9, 0x243f6a88, 0xb7e15162, seed >>> 0]);
}
