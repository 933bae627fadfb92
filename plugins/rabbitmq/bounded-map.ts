/**
 * A Map that keeps at least its newest `max` writes and forgets older ones, oldest write first.
 *
 * Evicting one entry per write with `keys().next()` looked O(1) but is not: a Map keeps deleted
 * entries as holes until it rehashes, and every new iterator walks the holes at the front again.
 * With a full map that walk dominated the reply storage's CPU (1.6 µs per save at 10k records).
 * So eviction runs in batches, one iterator per batch, once the map is an eighth over `max`.
 */
export class BoundedMap<K, V> {
  readonly #map = new Map<K, V>();
  readonly #max: number;
  readonly #slack: number;

  constructor(max: number) {
    this.#max = max;
    this.#slack = Math.max(1, Math.floor(max / 8));
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    return this.#map.get(key);
  }

  /** Writes `value` as the newest entry (a rewrite moves the key to the back). */
  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size >= this.#max + this.#slack) this.#evict();
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  #evict(): void {
    let extra = this.#map.size - this.#max;
    for (const key of this.#map.keys()) {
      if (extra-- <= 0) break;
      this.#map.delete(key);
    }
  }
}
