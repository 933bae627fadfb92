import { describe, expect, it } from 'vitest';
import { BoundedMap } from '../../plugins/rabbitmq/bounded-map.js';

describe('BoundedMap (reply storage records and reply routes)', () => {
  it('keeps the newest writes, forgets the oldest, and never grows past max plus an eighth', () => {
    const map = new BoundedMap<number, number>(80);
    let largest = 0;
    for (let i = 0; i < 1_000; i++) {
      map.set(i, i * 2);
      largest = Math.max(largest, map.size);
    }
    expect(largest).toBeLessThanOrEqual(80 + 10);
    for (let i = 920; i < 1_000; i++) expect(map.get(i)).toBe(i * 2);
    expect(map.get(0)).toBeUndefined();
  });

  it('a rewrite makes a key the newest again', () => {
    const map = new BoundedMap<string, number>(4);
    for (const k of ['a', 'b', 'c', 'd']) map.set(k, 1);
    map.set('a', 2);
    for (const k of ['e', 'f', 'g']) map.set(k, 1); // 'a' is still among the 4 newest
    expect(map.get('a')).toBe(2);
    expect(map.get('b')).toBeUndefined();
    expect(map.delete('a')).toBe(true);
    expect(map.get('a')).toBeUndefined();
  });
});
