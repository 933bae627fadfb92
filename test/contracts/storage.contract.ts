/**
 * The storage conformance suite: the Storage contract called directly. Call
 * `storageConformance(target)` inside a vitest file.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../core/config.js';
import type { ComponentContext, Storage } from '../../core/contracts.js';
import { Logger } from '../../core/logger.js';
import { TaskStatus, type TaskRecord } from '../../core/record.js';
import { guide, sleep, uniqueName, waitUntil } from './helpers.js';
import { storageJoinTests } from './storage-join.contract.js';
import { storagePublishTests } from './storage-publish.contract.js';

export interface StorageTarget {
  readonly name: string;
  /** A storage for app `appName`; storages made for the same name share records. */
  create(appName: string): Storage;
  cleanup?(appNames: readonly string[]): Promise<void>;
}

function record(id: string, patch: Partial<TaskRecord> = {}): TaskRecord {
  const now = Date.now();
  return { id, name: 'task: with spaces', queue: 'default', args: [1, 'two', { three: [3] }], priority: 0, status: TaskStatus.NEW, attempts: 0, createdAt: now, updatedAt: now, ...patch };
}

export function storageConformance(target: StorageTarget): void {
  describe(`storage conformance: ${target.name}`, () => {
    const open: Storage[] = [];
    const names: string[] = [];

    async function make(appName = uniqueName('st')): Promise<Storage> {
      names.push(appName);
      const storage = target.create(appName);
      const ctx: ComponentContext = { appName, config: { ...DEFAULT_CONFIG, logLevel: 'silent' }, logger: new Logger({ name: appName, level: 'silent' }) };
      await storage.start(ctx);
      open.push(storage);
      return storage;
    }

    afterEach(async () => {
      await Promise.allSettled(open.splice(0).map((s) => s.stop()));
      await target.cleanup?.(names.splice(0));
    });

    it('saves and reads back every field', async () => {
      const s = await make();
      const r = record('a1', {
        status: TaskStatus.SUCCESS,
        attempts: 2,
        startedAt: 5,
        finishedAt: 6,
        returning: { deep: [1, null, 'x'] },
        error: { name: 'Error', message: 'm', stack: 'st', code: 'C' },
        meta: { trace: 't' },
      });
      expect(await s.save(r, { ttlMs: 60_000 })).toBe(true);
      expect(await s.get('a1')).toEqual(r);
      expect(await s.get('missing')).toBeUndefined();
    });

    it('fences writes on attempts: a stale attempt cannot overwrite a newer one', async () => {
      const s = await make();
      expect(await s.save(record('f1', { status: TaskStatus.PROCESS, attempts: 2 }), { ttlMs: 60_000 })).toBe(true);
      expect(await s.save(record('f1', { status: TaskStatus.SUCCESS, attempts: 1, returning: 'stale' }), { ttlMs: 60_000 })).toBe(false);
      expect((await s.get('f1'))?.status).toBe(TaskStatus.PROCESS);
      expect(await s.save(record('f1', { status: TaskStatus.SUCCESS, attempts: 2, returning: 'fresh' }), { ttlMs: 60_000 })).toBe(true);
      expect((await s.get('f1'))?.returning).toBe('fresh');
    });

    it('wakes a waiter when the record becomes final, and answers at once when it already is', async () => {
      const name = uniqueName('st');
      const writer = await make(name);
      const reader = await make(name);
      await writer.save(record('w1'), { ttlMs: 60_000 });
      const waiting = reader.waitFinal('w1', 10_000);
      await sleep(50);
      await writer.save(record('w1', { status: TaskStatus.PROCESS, attempts: 1 }), { ttlMs: 60_000 });
      await writer.save(record('w1', { status: TaskStatus.ERROR, attempts: 1, error: { name: 'E', message: 'bad' } }), { ttlMs: 60_000 });
      const got = await waiting;
      expect(got?.status).toBe(TaskStatus.ERROR);
      expect(got?.error?.message).toBe('bad');
      expect((await reader.waitFinal('w1', 10_000))?.status).toBe(TaskStatus.ERROR);
    });

    it('resolves a waiter with undefined at its timeout', async () => {
      const s = await make();
      await s.save(record('t1'), { ttlMs: 60_000 });
      expect(await s.waitFinal('t1', 100)).toBeUndefined();
    });

    it('expires final records after their TTL and keeps unfinished ones', async () => {
      const s = await make();
      await s.save(record('x1', { status: TaskStatus.SUCCESS, attempts: 1 }), { ttlMs: 200 });
      await s.save(record('x2', { status: TaskStatus.PROCESS, attempts: 1 }), { ttlMs: 200 });
      expect(await s.get('x1')).toBeDefined();
      await waitUntil(async () => (await s.get('x1')) === undefined, 'x1 to expire', 5_000, 50);
      expect((await s.get('x2'))?.status).toBe(TaskStatus.PROCESS);
    });

    it('wakes a waiter with a final record whose TTL is 0, though get() may no longer find it', async () => {
      const name = uniqueName('st');
      const writer = await make(name);
      const reader = await make(name);
      await reader.prepareWait?.();
      const waiting = reader.waitFinal('z1', 10_000);
      await sleep(50);
      await writer.save(record('z1', { status: TaskStatus.SUCCESS, attempts: 1, returning: 'gone soon' }), { ttlMs: 0 });
      expect((await waiting)?.returning).toBe('gone soon');
    });

    it('wakes every waiter: many on one record, and one on each of many records', async () => {
      const name = uniqueName('st');
      const writer = await make(name);
      const reader = await make(name);
      await reader.prepareWait?.();
      const same = Array.from({ length: 10 }, () => reader.waitFinal('many', 10_000));
      const each = Array.from({ length: 30 }, (_, i) => reader.waitFinal(`each-${i}`, 10_000));
      await sleep(50);
      await writer.save(record('many', { status: TaskStatus.SUCCESS, attempts: 1, returning: 'all' }), { ttlMs: 60_000 });
      await Promise.all(Array.from({ length: 30 }, (_, i) => writer.save(record(`each-${i}`, { status: TaskStatus.ERROR, attempts: 1, returning: i }), { ttlMs: 60_000 })));
      expect((await Promise.all(same)).map((r) => r?.returning)).toEqual(Array.from({ length: 10 }, () => 'all'));
      expect((await Promise.all(each)).map((r) => r?.returning)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    });

    it('fences concurrent writes: whatever order they land in, the highest attempt stays', async () => {
      const name = uniqueName('st');
      const a = await make(name);
      const s = await make(name);
      // Two instances (two connections, for a networked storage): writes race each other.
      const writes = [3, 1, 5, 2, 4].map((attempts, i) => (i % 2 === 0 ? a : s).save(record('c1', { status: TaskStatus.PROCESS, attempts, returning: attempts }), { ttlMs: 60_000 }));
      await Promise.all(writes);
      expect((await s.get('c1'))?.attempts).toBe(5);
      expect(await s.save(record('c1', { status: TaskStatus.SUCCESS, attempts: 4 }), { ttlMs: 60_000 })).toBe(false);
      expect((await s.get('c1'))?.returning).toBe(5);
    });

    it('stores ids with every character the kernel accepts, and large records, unchanged', async () => {
      const s = await make();
      const ids = ['nul\u0000byte', 'ctl\u0001\u007f', 'sep|:;,./\\{}[]*?#', 'wide 名前 ✓ \u{1F600}', 'x'.repeat(512)];
      for (const id of ids) {
        const r = record(id, { status: TaskStatus.SUCCESS, attempts: 1, returning: id });
        expect(await s.save(r, { ttlMs: 60_000 })).toBe(true);
        expect(await s.get(id)).toEqual(r);
      }
      const big = record('big', { args: ['ü✓'.repeat(1 << 19)], status: TaskStatus.SUCCESS, attempts: 1 });
      await s.save(big, { ttlMs: 60_000 });
      expect(await s.get('big')).toEqual(big);
    });

    // saveMany is optional: a storage without it gets one save per record from the kernel.
    const batched = target.create(uniqueName('probe')).saveMany !== undefined;
    if (batched) {
      it('saveMany fences each record of a batch on its own and answers per record, in order', async () => {
        const s = await make();
        await s.save(record('b-newer', { status: TaskStatus.PROCESS, attempts: 3 }), { ttlMs: 60_000 });
        const writes = [
          { record: record('b-new', { attempts: 0 }), options: { ttlMs: 60_000 } },
          { record: record('b-newer', { status: TaskStatus.SUCCESS, attempts: 2, returning: 'stale' }), options: { ttlMs: 60_000 } },
          { record: record('b-seq', { status: TaskStatus.PROCESS, attempts: 1 }), options: { ttlMs: 60_000 } },
          // A later write of the same id in the same batch sees the earlier one.
          { record: record('b-seq', { status: TaskStatus.SUCCESS, attempts: 2, returning: 'second' }), options: { ttlMs: 60_000 } },
          { record: record('b-seq', { status: TaskStatus.ERROR, attempts: 1, returning: 'third, stale' }), options: { ttlMs: 60_000 } },
        ];
        expect(await s.saveMany!(writes), `saveMany must answer one fencing result per write, in order (${guide('Storage: `saveMany` (optional)')})`).toEqual([true, false, true, true, false]);
        expect((await s.get('b-new'))?.status).toBe(TaskStatus.NEW);
        expect((await s.get('b-newer'))?.status, 'a stale write in a batch must not overwrite the newer record').toBe(TaskStatus.PROCESS);
        expect((await s.get('b-seq'))?.returning).toBe('second');
      });

      it('saveMany mixes final and non-final records: finals wake waiters and expire, the others stay', async () => {
        const name = uniqueName('st');
        const writer = await make(name);
        const reader = await make(name);
        await reader.prepareWait?.();
        const waiting = reader.waitFinal('m-final', 10_000);
        await sleep(50);
        const results = await writer.saveMany!([
          { record: record('m-run', { status: TaskStatus.PROCESS, attempts: 1 }), options: { ttlMs: 200 } },
          { record: record('m-final', { status: TaskStatus.SUCCESS, attempts: 1, returning: 'done' }), options: { ttlMs: 200 } },
          { record: record('m-new'), options: { ttlMs: 200 } },
        ]);
        expect(results).toEqual([true, true, true]);
        expect((await waiting)?.returning, 'a final record written by saveMany must wake its waiter').toBe('done');
        await waitUntil(async () => (await writer.get('m-final')) === undefined, 'the final record of a batch to expire after its TTL', 5_000, 50);
        expect((await writer.get('m-run'))?.status, 'a non-final record of a batch must be kept (no TTL)').toBe(TaskStatus.PROCESS);
        expect((await writer.get('m-new'))?.status).toBe(TaskStatus.NEW);
      });
    }

    // join and getMany are optional: workflows fall back to reading the siblings' records.
    storageJoinTests(target.create(uniqueName('probe')), make);

    // reservePublish and confirmPublish are optional: without them the kernel uses reserve.
    storagePublishTests(target.create(uniqueName('probe')), make);

    it('keeps apps apart: the same id in two apps is two records', async () => {
      const a = await make();
      const b = await make();
      await a.save(record('same', { returning: 'a' }), { ttlMs: 60_000 });
      await b.save(record('same', { returning: 'b' }), { ttlMs: 60_000 });
      expect((await a.get('same'))?.returning).toBe('a');
      expect((await b.get('same'))?.returning).toBe('b');
    });
  });
}
