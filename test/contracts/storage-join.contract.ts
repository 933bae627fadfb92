/**
 * The optional group-join capability of a storage (`Storage.join`, `Storage.getMany`), part of the
 * storage conformance suite: registered by `storageConformance` for a target that offers them.
 */
import { expect, it } from 'vitest';
import type { Storage } from '../../core/contracts.js';
import { TaskStatus, type TaskRecord } from '../../core/record.js';
import { guide, uniqueName } from './helpers.js';

type Make = (appName?: string) => Promise<Storage>;

function final(id: string, attempts: number, returning: unknown): TaskRecord {
  const now = Date.now();
  return { id, name: 'member', queue: 'default', args: [], priority: 0, status: TaskStatus.SUCCESS, attempts, createdAt: now, updatedAt: now, finishedAt: now, returning };
}

export function storageJoinTests(probe: Storage, make: Make): void {
  const where = guide('Storage: `join` and `getMany` (optional)');
  if (probe.join !== undefined) {
    it('join stores the member record and counts each member once, however often it joins', async () => {
      const s = await make();
      const group = uniqueName('g');
      const opts = { group, size: 3, ttlMs: 60_000 };
      expect(await s.join!({ ...opts, member: 0, record: final(`${group}.m0`, 1, 'a') })).toBe(1);
      expect((await s.get(`${group}.m0`))?.returning, `a join below the group's size stores the record (${where})`).toBe('a');
      // A redelivered member joins again: same count, its newer record stored.
      expect(await s.join!({ ...opts, member: 0, record: final(`${group}.m0`, 2, 'a again') }), `a member joining twice must be counted once (${where})`).toBe(1);
      expect((await s.get(`${group}.m0`))?.returning).toBe('a again');
      expect(await s.join!({ ...opts, member: 1, record: final(`${group}.m1`, 1, 'b') })).toBe(2);
      expect(await s.join!({ ...opts, member: 1, record: final(`${group}.m1`, 1, 'b') })).toBe(2);
      // Another group counts on its own.
      expect(await s.join!({ ...opts, group: uniqueName('g'), member: 1, record: final(`${group}.x`, 1, 'x') })).toBe(1);
    });

    it('the join that completes the group counts but leaves the record to its caller; repeats see the full count', async () => {
      const s = await make();
      const group = uniqueName('g');
      const opts = { group, size: 2, ttlMs: 60_000 };
      expect(await s.join!({ ...opts, member: 1, record: final(`${group}.m1`, 1, 'b') })).toBe(1);
      expect(await s.join!({ ...opts, member: 0, record: final(`${group}.m0`, 1, 'a') })).toBe(2);
      expect(await s.get(`${group}.m0`), `the completing join must not store the record: its caller moves the workflow on first (${where})`).toBeUndefined();
      // Its redelivery (after a crash before the caller stored it) completes the group again.
      expect(await s.join!({ ...opts, member: 0, record: final(`${group}.m0`, 2, 'a') })).toBe(2);
      expect(await s.join!({ ...opts, member: 1, record: final(`${group}.m1`, 2, 'b') })).toBe(2);
    });

    it('join is fenced as save: a stale attempt is neither stored nor counted', async () => {
      const s = await make();
      const group = uniqueName('g');
      await s.save(final(`${group}.m0`, 3, 'newer'), { ttlMs: 60_000 });
      expect(await s.join!({ group, size: 3, member: 0, record: final(`${group}.m0`, 2, 'stale'), ttlMs: 60_000 }), `a fenced join answers 0 (${where})`).toBe(0);
      expect((await s.get(`${group}.m0`))?.returning).toBe('newer');
      expect(await s.join!({ group, size: 3, member: 1, record: final(`${group}.m1`, 1, 'b'), ttlMs: 60_000 })).toBe(1);
    });

    it('concurrent joins of every member, from several callers, give the full count to exactly one of them', async () => {
      const name = uniqueName('st');
      const callers = await Promise.all([make(name), make(name), make(name)]);
      for (let round = 0; round < 5; round++) {
        const group = uniqueName('g');
        const size = 200;
        const counts = await Promise.all(
          Array.from({ length: size }, (_, j) => callers[j % callers.length]!.join!({ group, size, member: j, record: final(`${group}.m${j}`, 1, j), ttlMs: 60_000 })),
        );
        expect(counts.filter((c) => c === size), `exactly one of ${size} concurrent joins must see the count reach ${size} (${where})`).toHaveLength(1);
        expect([...counts].sort((a, b) => a - b)).toEqual(Array.from({ length: size }, (_, j) => j + 1));
        const stored = await callers[0]!.getMany?.(Array.from({ length: size }, (_, j) => `${group}.m${j}`));
        if (stored !== undefined) expect(stored.filter((r) => r === undefined)).toHaveLength(1);
      }
    });

    it('the group set expires with the records: a join after the TTL counts afresh', async () => {
      const s = await make();
      const group = uniqueName('g');
      expect(await s.join!({ group, size: 3, member: 0, record: final(`${group}.m0`, 1, 'a'), ttlMs: 100 })).toBe(1);
      await new Promise((r) => setTimeout(r, 300));
      expect(await s.get(`${group}.m0`)).toBeUndefined();
      expect(await s.join!({ group, size: 3, member: 1, record: final(`${group}.m1`, 1, 'b'), ttlMs: 100 }), `the set of ended members is kept ttlMs, as the records (${where})`).toBe(1);
    });
  }
  if (probe.getMany !== undefined) {
    it('getMany answers as get does, in the order asked, undefined for unknown ids', async () => {
      const s = await make();
      const ids = Array.from({ length: 1_203 }, (_, j) => `gm-${j}`);
      await Promise.all(ids.map((id, j) => (j % 3 === 2 ? undefined : s.save(final(id, 1, j), { ttlMs: 60_000 }))));
      const read = await s.getMany!(['missing', ...ids]);
      expect(read[0]).toBeUndefined();
      expect(read.slice(1).map((r) => r?.returning)).toEqual(ids.map((_, j) => (j % 3 === 2 ? undefined : j)));
      expect(read[1], `getMany must answer the record get answers (${where})`).toEqual(await s.get('gm-0'));
    });
  }
}
