/**
 * The control-plane conformance suite (docs/operations.md): counts, list, cancel, retry,
 * promote, remove, clean, purge, pause, events, progress and retention through the kernel.
 * Call `controlConformance(target)` inside a vitest file; a plugin whose control lacks a
 * capability must fail that call with QTASKS_ERR_UNSUPPORTED (`target.unsupported`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import type { Config } from '../../core/config.js';
import type { ControlCapability, Retention, TaskEvent } from '../../core/contracts.js';
import { ErrorCodes } from '../../core/errors.js';
import { TaskStatus, messageToRecord, recordOf, type TaskMessage } from '../../core/record.js';
import type { Plugin } from '../../core/plugin.js';
import { gate, sleep, uniqueName, waitUntil } from './helpers.js';

export interface ControlTarget {
  readonly name: string;
  /** Plugins for one app; apps with the same name share queues and records. */
  plugins(appName: string, options?: { retention?: Retention }): Plugin[];
  readonly config?: Partial<Config>;
  /** Capabilities the target does not offer: the suite checks they fail clearly instead. */
  readonly unsupported?: readonly ControlCapability[];
  cleanup?(appNames: readonly string[]): Promise<void>;
  /** The app's storage offers `Storage.index` (status indexes for a broker without records): its case runs. */
  readonly storageIndex?: boolean;
}

const BASE: Partial<Config> = { logLevel: 'silent', leaseMs: 2_000, retryDelayMs: 20, retryMaxDelayMs: 100, stopTimeoutMs: 2_000, heartbeatMs: 500 };

export function controlConformance(target: ControlTarget): void {
  const missing = new Set(target.unsupported ?? []);
  // A missing capability registers no test (no test is ever skipped): the "fails every missing
  // capability" test below checks those calls fail clearly instead.
  const when = (cap: ControlCapability) => (name: string, fn: () => Promise<void>): void => {
    if (!missing.has(cap)) it(name, fn);
  };

  describe(`control conformance: ${target.name}`, () => {
    const apps: QueueTasks[] = [];
    const names = new Set<string>();

    function makeApp(name: string, config: Partial<Config> = {}, retention?: Retention): QueueTasks {
      names.add(name);
      const plugins = target.plugins(name, retention !== undefined ? { retention } : undefined);
      const app = new QueueTasks({ name, plugins, config: { ...BASE, ...target.config, ...config }, globals: false, sharedTasks: false });
      apps.push(app);
      return app;
    }

    afterEach(async () => {
      await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
      await target.cleanup?.([...names]);
      names.clear();
    });

    if (missing.size > 0) {
      it('fails every missing capability at once with QTASKS_ERR_UNSUPPORTED naming it and what offers it', async () => {
        const app = makeApp(uniqueName('unsup'));
        app.task('t', () => 1);
        await app.start({ worker: false });
        const calls: Record<ControlCapability, () => Promise<unknown>> = {
          counts: () => app.counts(),
          list: () => app.list({ status: 'error' }),
          cancel: () => app.cancel('x'),
          retry: () => app.retry('x'),
          promote: () => app.promote('x'),
          remove: () => app.remove('x'),
          clean: () => app.clean({ status: 'success', olderThanMs: 0 }),
          purge: () => app.purge('default'),
          pause: () => app.pause('default'),
          events: async () => app.events.on('*', () => undefined),
          replay: async () => app.events.on('*', () => undefined, { from: '1-0' }),
          progress: () => app.addTask('t', [], { timeout: 100, onProgress: () => undefined }),
        };
        for (const cap of missing) {
          const err = await calls[cap]().then(() => undefined, (e: unknown) => e as { code?: string; message?: string });
          expect(err?.code, cap).toBe(ErrorCodes.UNSUPPORTED);
          expect(err?.message).toContain(cap);
          expect(err?.message).toMatch(/offered by/);
        }
      });
    }

    when('counts')('counts waiting, delayed, finished and paused per queue', async () => {
      const name = uniqueName('counts');
      const producer = makeApp(name);
      producer.task({ name: 'c', queue: 'cq' }, () => 1);
      await producer.start({ worker: false });
      for (let i = 0; i < 3; i++) await producer.addTask('c', [], { queue: 'cq' });
      await producer.addTask('c', [], { queue: 'cq', delay: 60_000 });
      const [q] = await producer.counts('cq');
      expect(q).toMatchObject({ queue: 'cq', waiting: 3, delayed: 1, running: 0, success: 0, paused: false });
      const worker = makeApp(name);
      worker.task({ name: 'c', queue: 'cq' }, () => 1);
      await worker.start();
      await waitUntil(async () => (await worker.counts('cq'))[0]?.success === 3, 'three successes counted');
      const [after] = await worker.counts('cq');
      expect(after).toMatchObject({ waiting: 0, delayed: 1, running: 0, error: 0 });
      expect((await worker.counts()).some((c) => c.queue === 'cq')).toBe(true);
    });

    when('list')('lists by status newest first, pages with a cursor, and filters by queue and name', async () => {
      const app = makeApp(uniqueName('list'));
      const a = app.task({ name: 'a', queue: 'la' }, (n: number) => n);
      const b = app.task({ name: 'b', queue: 'lb' }, (n: number) => n);
      await app.start();
      const done = [];
      for (let i = 0; i < 7; i++) {
        done.push(await a.addTask([i], { timeout: 10_000 }));
        await sleep(2); // distinct finish times: newest first is then a strict order
      }
      await b.addTask([99], { timeout: 10_000 });
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await app.list({ status: 'success', name: 'a', limit: 3, ...(cursor !== undefined ? { cursor } : {}) });
        expect(page.records.length).toBeLessThanOrEqual(3);
        seen.push(...page.records.map((r) => r.id));
        cursor = page.cursor;
      } while (cursor !== undefined);
      expect(seen).toEqual(done.map((r) => r.id).reverse());
      expect((await app.list({ status: 'success', queue: 'lb' })).records.map((r) => r.returning)).toEqual([99]);
      expect((await app.list({ status: 'error' })).records).toEqual([]);
      const first = await app.list({ status: 'success', name: 'a', limit: 2 });
      await expect(app.list({ status: 'success', name: 'b', limit: 2, cursor: first.cursor! })).rejects.toMatchObject({ code: ErrorCodes.INVALID_CURSOR });
      await expect(app.list({ status: 'success', cursor: 'nonsense' })).rejects.toMatchObject({ code: ErrorCodes.INVALID_CURSOR });
      await expect(app.list({ status: 'success', limit: -1 })).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION });
      await expect(app.list({ status: 'nope' as 'success' })).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION });
    });

    when('list')('lists waiting (ready and delayed) and running tasks, each once across pages, by queue and name', async () => {
      const name = uniqueName('listw');
      const producer = makeApp(name);
      producer.task({ name: 'w', queue: 'wa' }, () => 1);
      producer.task({ name: 'v', queue: 'wb' }, () => 1);
      await producer.start({ worker: false });
      const waiting: string[] = [];
      for (let i = 0; i < 5; i++) waiting.push((await producer.addTask('w', [], { queue: 'wa' })).id);
      for (let i = 0; i < 2; i++) waiting.push((await producer.addTask('v', [], { queue: 'wb' })).id);
      waiting.push((await producer.addTask('w', [], { queue: 'wa', delay: 60_000 })).id);
      const pages = async (query: { status: 'new' | 'process'; queue?: string; name?: string }): Promise<string[]> => {
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await producer.list({ ...query, limit: 3, ...(cursor !== undefined ? { cursor } : {}) });
          expect(page.records.length).toBeLessThanOrEqual(3);
          for (const r of page.records) expect(r.status).toBe(query.status);
          seen.push(...page.records.map((r) => r.id));
          cursor = page.cursor;
        } while (cursor !== undefined);
        return seen;
      };
      const all = await pages({ status: 'new' });
      expect(all).toHaveLength(waiting.length);
      expect(new Set(all)).toEqual(new Set(waiting));
      expect(new Set(await pages({ status: 'new', queue: 'wb' }))).toEqual(new Set(waiting.slice(5, 7)));
      expect(await pages({ status: 'new', name: 'v', queue: 'wa' })).toEqual([]);
      expect(await pages({ status: 'process' })).toEqual([]);

      // running: three tasks held by a worker, listed two per page
      const release = gate();
      const worker = makeApp(name, { concurrency: 3 });
      worker.task({ name: 'w', queue: 'wa' }, async () => {
        await release.promise;
        return 1;
      });
      worker.task({ name: 'v', queue: 'wb' }, () => 1);
      await worker.start();
      await waitUntil(async () => (await producer.counts('wa'))[0]?.running === 3, 'three running');
      const running = await pages({ status: 'process', queue: 'wa' });
      expect(running).toHaveLength(3);
      expect(new Set(running).size).toBe(3);
      for (const id of running) expect(waiting.slice(0, 5)).toContain(id);
      expect(await pages({ status: 'process', name: 'v' })).toEqual([]);
      release.open();
      await waitUntil(async () => (await producer.counts('wa'))[0]?.success === 5, 'the five ready ones done');
      expect(await pages({ status: 'new', queue: 'wa' })).toEqual([waiting[7]]);
      expect((await producer.counts('wa'))[0]).toMatchObject({ waiting: 0, delayed: 1, running: 0 });
    });

    when('cancel')('cancels a queued and a delayed task: removed, record cancel, never runs', async () => {
      const name = uniqueName('cq');
      const producer = makeApp(name);
      producer.task('t', () => 1);
      await producer.start({ worker: false });
      const queued = await producer.addTask('t', []);
      const delayed = await producer.addTask('t', [], { delay: 60_000 });
      expect(await producer.cancel(queued.id, 'not needed')).toBe('queued');
      expect(await producer.cancel(delayed.id)).toBe('queued');
      let ran = 0;
      const worker = makeApp(name);
      worker.task('t', () => void ran++);
      await worker.start();
      const ok = await worker.addTask('t', [], { timeout: 10_000 });
      expect(ok.status).toBe('success');
      expect(ran).toBe(1);
      expect(await worker.get(queued.id)).toMatchObject({ status: 'cancel', reason: 'not needed' });
      expect((await worker.get(delayed.id))?.status).toBe('cancel');
      expect(await worker.cancel(queued.id)).toBe('final');
      expect(await worker.cancel('no-such-task')).toBe('unknown');
    });

    when('cancel')('cancels a running task: its signal aborts, it ends cancel with the reason, never retried', async () => {
      const app = makeApp(uniqueName('cr'));
      const started = gate();
      let runs = 0;
      let aborted: unknown;
      const t = app.task({ name: 'slow', echo: true, retry: 3 }, async (ctx) => {
        runs++;
        started.open();
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
        aborted = ctx.signal.reason;
        throw new Error('aborted');
      });
      await app.start();
      const rec = await t.addTask([]);
      await started.promise;
      const t0 = Date.now();
      expect(await app.cancel(rec.id, 'operator said so')).toBe('running');
      const done = await app.wait(rec.id, 10_000);
      expect(Date.now() - t0).toBeLessThan(2_000);
      expect(done).toMatchObject({ status: 'cancel', reason: 'operator said so' });
      await waitUntil(() => aborted !== undefined, 'signal aborted');
      expect((aborted as { code?: string }).code).toBe(ErrorCodes.TASK_CANCELLED);
      await sleep(200);
      expect(runs).toBe(1);
      expect((await app.get(rec.id))?.status).toBe('cancel');
    });

    when('cancel')('a cancel racing completion ends in exactly one final state', async () => {
      const app = makeApp(uniqueName('race'), { concurrency: 20 });
      const t = app.task('quick', async (ms: number) => {
        await sleep(ms);
        return 'done';
      });
      await app.start();
      // Each task runs ~30 ms; cancels land before, during and after, so both orders happen.
      const recs = await Promise.all(Array.from({ length: 40 }, () => t.addTask([30])));
      const found = await Promise.all(
        recs.map(async (r, i) => {
          await sleep((i * 3) % 90);
          return app.cancel(r.id, 'race');
        }),
      );
      const finals = await Promise.all(recs.map((r) => app.wait(r.id, 10_000)));
      await sleep(300);
      for (let i = 0; i < recs.length; i++) {
        const again = await app.get(recs[i]!.id);
        expect(['success', 'cancel']).toContain(finals[i]!.status);
        expect(again?.status).toBe(finals[i]!.status); // no second final write
        if (found[i] === 'final') expect(finals[i]!.status).toBe('success');
        if (finals[i]!.status === 'success') expect(finals[i]!.returning).toBe('done');
      }
      expect(found).toContain('running'); // the race did happen
    });

    when('retry')('retries a task in error with a fresh attempt count; refuses others clearly', async () => {
      const app = makeApp(uniqueName('retry'));
      let fail = true;
      const t = app.task('flaky', () => {
        if (fail) throw new Error('boom');
        return 'ok';
      });
      await app.start();
      const failed = await t.addTask([], { timeout: 10_000 });
      expect(failed.status).toBe('error');
      fail = false;
      expect(await app.retry(failed.id)).toBe(1);
      const done = await app.wait(failed.id, 10_000);
      expect(done).toMatchObject({ status: 'success', returning: 'ok', attempts: 1 });
      await expect(app.retry(failed.id)).rejects.toMatchObject({ code: ErrorCodes.INVALID_STATE });
      await expect(app.retry('no-such-task')).rejects.toMatchObject({ code: ErrorCodes.INVALID_STATE });
      fail = true;
      const many = await Promise.all([1, 2, 3].map(() => t.addTask([], { timeout: 10_000 })));
      fail = false;
      expect(await app.retry({ status: 'error', name: 'flaky' })).toBe(3);
      for (const r of many) expect((await app.wait(r.id, 10_000)).status).toBe('success');
      expect(await app.retry({ status: 'error' })).toBe(0);
    });

    when('promote')('promotes a delayed task: it runs now', async () => {
      const app = makeApp(uniqueName('promote'));
      const t = app.task('later', () => 'ran');
      await app.start();
      const rec = await t.addTask([], { delay: 60_000 });
      expect(await app.promote(rec.id)).toBe(true);
      expect((await app.wait(rec.id, 10_000)).returning).toBe('ran');
      expect(await app.promote(rec.id)).toBe(false);
      expect(await app.promote('no-such-task')).toBe(false);
    });

    when('remove')('removes a queued task and a finished record; a running task is refused', async () => {
      const name = uniqueName('remove');
      const producer = makeApp(name);
      producer.task('t', () => 1);
      await producer.start({ worker: false });
      const queued = await producer.addTask('t', []);
      expect(await producer.remove(queued.id)).toBe(true);
      expect(await producer.get(queued.id)).toBeUndefined();
      expect(await producer.remove(queued.id)).toBe(false);
      const worker = makeApp(name);
      const g = gate();
      const started = gate();
      worker.task('t', async () => {
        started.open();
        await g.promise;
      });
      await worker.start();
      const running = await worker.addTask('t', []);
      await started.promise;
      expect(await worker.remove(running.id)).toBe(false);
      g.open();
      await worker.wait(running.id, 10_000);
      expect(await worker.remove(running.id)).toBe(true);
      expect(await worker.get(running.id)).toBeUndefined();
    });

    when('clean')('cleans finished records older than a bound, up to a limit', async () => {
      const app = makeApp(uniqueName('clean'));
      const t = app.task('t', (n: number) => n);
      await app.start();
      const old = await Promise.all([1, 2, 3].map((n) => t.addTask([n], { timeout: 10_000 })));
      await sleep(300);
      const fresh = await t.addTask([4], { timeout: 10_000 });
      expect(await app.clean({ status: 'success', olderThanMs: 200, limit: 2 })).toBe(2);
      expect(await app.clean({ status: 'success', olderThanMs: 200 })).toBe(1);
      for (const r of old) expect(await app.get(r.id)).toBeUndefined();
      expect((await app.get(fresh.id))?.status).toBe('success');
      await expect(app.clean({ status: 'process' as 'success', olderThanMs: 0 })).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION });
    });

    when('purge')('purges what waits and is delayed in a queue, and nothing else', async () => {
      const name = uniqueName('purge');
      const producer = makeApp(name);
      producer.task({ name: 'p', queue: 'pq' }, () => 1);
      producer.task({ name: 'o', queue: 'other' }, () => 1);
      await producer.start({ worker: false });
      const gone = [await producer.addTask('p', []), await producer.addTask('p', []), await producer.addTask('p', [], { delay: 60_000 })];
      const kept = await producer.addTask('o', []);
      expect(await producer.purge('pq')).toBe(3);
      expect(await producer.purge('pq')).toBe(0);
      let ran = 0;
      const worker = makeApp(name);
      worker.task({ name: 'p', queue: 'pq' }, () => void ran++);
      worker.task({ name: 'o', queue: 'other' }, () => 'kept');
      await worker.start();
      expect((await worker.wait(kept.id, 10_000)).returning).toBe('kept');
      await sleep(200);
      expect(ran).toBe(0);
      for (const r of gone) expect(await worker.get(r.id)).toBeUndefined();
    });

    when('pause')('pause stops workers taking from a queue, kept for workers started later; resume restarts', async () => {
      const name = uniqueName('pause');
      const producer = makeApp(name);
      producer.task({ name: 'p', queue: 'pz' }, () => 1);
      await producer.start({ worker: false });
      await producer.pause('pz');
      const rec = await producer.addTask('p', []);
      let ran = 0;
      const worker = makeApp(name);
      worker.task({ name: 'p', queue: 'pz' }, () => void ran++);
      await worker.start(); // started while paused: stays paused
      await sleep(400);
      expect(ran).toBe(0);
      if (!missing.has('counts')) expect((await producer.counts('pz'))[0]).toMatchObject({ waiting: 1, paused: true });
      await producer.resume('pz');
      expect((await worker.wait(rec.id, 5_000)).status).toBe('success');
      await producer.pause();
      const second = await producer.addTask('p', []);
      await sleep(400);
      expect((await producer.get(second.id))?.status).toBe('new');
      await producer.resume();
      expect((await worker.wait(second.id, 5_000)).status).toBe('success');
      await expect(producer.pause('no-such-queue')).rejects.toMatchObject({ code: ErrorCodes.UNKNOWN_QUEUE });
    });

    when('events')('emits added, active, progress, completed, failed, retrying, delayed, cancelled; a throwing listener changes nothing', async () => {
      const name = uniqueName('events');
      const watcher = makeApp(name);
      await watcher.start({ worker: false });
      const seen: TaskEvent[] = [];
      watcher.events.on('*', (e) => void seen.push(e));
      watcher.events.on('completed', () => {
        throw new Error('listener bug');
      });
      await watcher.events.ready();
      const app = makeApp(name);
      const ok = app.task({ name: 'ok', echo: true }, (ctx) => {
        ctx.progress({ pct: 50 });
        return 1;
      });
      let n = 0;
      const bad = app.task({ name: 'bad', retry: 1 }, () => {
        throw new Error(`boom ${++n}`);
      });
      app.task('never', () => 1);
      await app.start();
      const a = await ok.addTask([], { timeout: 10_000 });
      const b = await bad.addTask([], { timeout: 10_000 });
      const c = await app.addTask('never', [], { delay: 60_000 });
      await app.cancel(c.id);
      expect(a.status).toBe('success');
      expect((await ok.addTask([], { timeout: 10_000 })).status).toBe('success'); // the worker is undisturbed
      const types = (id: string): string[] => seen.filter((e) => e.id === id).map((e) => e.type);
      await waitUntil(() => types(c.id).includes('cancelled') && types(b.id).includes('failed'), 'events arrive');
      expect(types(a.id)).toEqual(['added', 'active', 'progress', 'completed']);
      expect(types(b.id)).toEqual(['added', 'active', 'retrying', 'active', 'failed']);
      expect(types(c.id)).toEqual(['delayed', 'cancelled']);
      const progress = seen.find((e) => e.id === a.id && e.type === 'progress');
      expect(progress).toMatchObject({ name: 'ok', queue: 'default', attempt: 1, progress: { pct: 50 } });
      expect(seen.find((e) => e.id === b.id && e.type === 'failed')).toMatchObject({ attempt: 2, message: 'boom 2' });
    });

    when('replay')('a listener given the position of the last event it saw receives what came after it, then live events', async () => {
      const name = uniqueName('replay');
      const app = makeApp(name);
      const t = app.task('r', (n: number) => n);
      await app.start({ worker: false });
      const first: TaskEvent[] = [];
      const off = app.events.on('added', (e) => void first.push(e));
      await app.events.ready();
      const a = await t.addTask([1]);
      await waitUntil(() => first.some((e) => e.id === a.id), 'the first added event');
      off();
      const position = first.find((e) => e.id === a.id)!.position;
      expect(typeof position).toBe('string');
      const missed = [await t.addTask([2]), await t.addTask([3])];
      const resumed: TaskEvent[] = [];
      app.events.on('added', (e) => void resumed.push(e), { from: position! });
      await app.events.ready();
      const live = await t.addTask([4]);
      await waitUntil(() => resumed.some((e) => e.id === live.id), 'the live event after the replay');
      expect(resumed.map((e) => e.id)).toEqual([...missed, live].map((r) => r.id));
      await expect(async () => app.events.on('*', () => undefined, { from: '' })).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION });
    });

    when('progress')('stores progress on the record, fenced, and streams it to the producer, generators included', async () => {
      const app = makeApp(uniqueName('progress'));
      const release = gate();
      const step = app.task({ name: 'step', echo: true }, async (ctx) => {
        ctx.progress(1);
        ctx.progress({ pct: 60 });
        await release.promise;
        return 'end';
      });
      const gen = app.task('gen', async function* (n: number) {
        for (let i = 0; i < n; i++) yield i * 10;
      });
      await app.start();
      const rec = await step.addTask([]);
      const running = await waitUntil(async () => {
        const r = await app.get(rec.id);
        return r?.status === 'process' && (r.progress as { pct?: number } | undefined)?.pct === 60 ? r : undefined;
      }, 'progress stored while running');
      expect(running.progress).toEqual({ pct: 60 });
      // fenced on the attempt: a delivery that is not the running one cannot write
      const message = { id: rec.id, name: rec.name, queue: rec.queue, args: [], priority: 0, createdAt: rec.createdAt, maxDeliveries: 3 };
      expect(await app.broker.control!.progress(message, 2, 'stale')).toBe(false);
      expect((await app.get(rec.id))?.progress).toEqual({ pct: 60 });
      release.open();
      expect((await app.wait(rec.id, 10_000)).progress).toEqual({ pct: 60 });
      expect(await app.broker.control!.progress(message, 1, 'late')).toBe(false);
      expect((await app.get(rec.id))?.progress).toEqual({ pct: 60 });
      const values: unknown[] = [];
      const done = await gen.addTask([4], { timeout: 10_000, onProgress: (v) => values.push(v) });
      expect(done.returning).toEqual([0, 10, 20, 30]);
      expect(values).toEqual([0, 10, 20, 30]);
      await expect(gen.addTask([1], { onProgress: () => undefined })).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION });
    });

    if (target.storageIndex === true) {
      it('a storage with status indexes files every saved record under its status and queue (Storage.index)', async () => {
        const app = makeApp(uniqueName('sidx'), {}, { success: 2 });
        await app.start({ worker: false });
        const storage = app.storage;
        const index = storage.index;
        expect(index, 'storage.index').toBeDefined();
        if (index === undefined) return;
        const now = Date.now();
        const message = (id: string): TaskMessage => ({ id, name: 'ix', queue: 'iq', args: [id], priority: 0, createdAt: now, maxDeliveries: 1 });
        const ttl = { ttlMs: 60_000 };
        await storage.save(messageToRecord(message('w'), now), ttl);
        await storage.save(messageToRecord(message('d'), now, now + 60_000), ttl);
        await storage.save(recordOf(message('r'), TaskStatus.PROCESS, 1, now), ttl);
        await storage.save(recordOf(message('e'), TaskStatus.PROCESS, 1, now), ttl);
        await storage.save(recordOf(message('e'), TaskStatus.ERROR, 1, now, { finishedAt: now }), ttl);
        for (const id of ['s1', 's2', 's3']) {
          await storage.save(recordOf(message(id), TaskStatus.SUCCESS, 1, Date.now(), { finishedAt: now }), ttl);
          await sleep(2);
        }
        const [c] = await index.counts(['iq']);
        // retention keeps the 2 newest successes; 'd' is new and delayed
        expect(c).toMatchObject({ queue: 'iq', new: 2, delayed: 1, process: 1, error: 1, success: 2, retry: 0, dead: 0, cancel: 0 });
        expect((await index.list({ status: 'success', limit: 10 })).records.map((r) => r.id)).toEqual(['s3', 's2']);
        expect(await storage.get('s1')).toBeUndefined();
        // requeue: only from error or dead, unfenced (attempts back to 0)
        expect(await index.requeue(messageToRecord(message('w'), Date.now()))).toBe(false);
        expect(await index.requeue(messageToRecord(message('e'), Date.now()))).toBe(true);
        expect(await storage.get('e')).toMatchObject({ status: 'new', attempts: 0 });
        expect((await index.counts(['iq']))[0]).toMatchObject({ new: 3, error: 0 });
        // remove: not while running; else the record and its index entries
        expect(await index.remove('r')).toBeUndefined();
        expect((await index.remove('d'))?.id).toBe('d');
        expect(await index.remove('d')).toBeUndefined();
        expect((await index.counts(['iq']))[0]).toMatchObject({ new: 2, delayed: 0, process: 1 });
        expect(await index.clean('success', 0, 1)).toBe(1);
        expect(await index.clean('success', 0, 10)).toBe(1);
        expect((await index.list({ status: 'success', limit: 10 })).records).toEqual([]);
      });
    }

    when('list')('keeps finished records by count per status (retention)', async () => {
      const app = makeApp(uniqueName('keep'), {}, { success: 3, error: 1 });
      const t = app.task('t', (n: number) => {
        if (n < 0) throw new Error('neg');
        return n;
      });
      await app.start();
      for (let i = 0; i < 6; i++) {
        await t.addTask([i], { timeout: 10_000 });
        await sleep(2);
      }
      for (let i = 0; i < 2; i++) await t.addTask([-1], { timeout: 10_000 });
      const kept = (await app.list({ status: 'success' })).records.map((r) => r.returning);
      expect(kept).toEqual([5, 4, 3]);
      expect((await app.list({ status: 'error' })).records).toHaveLength(1);
      if (!missing.has('counts')) expect((await app.counts('default'))[0]).toMatchObject({ success: 3, error: 1 });
    });
  });
}
