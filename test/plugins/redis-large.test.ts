/**
 * Large messages on Redis: the broker stages their job strings with a plain SET beside the enqueue
 * script (broker.ts STAGE_FROM), so the script never reads them. The task must come out the same:
 * args, order, delays, ids taken once, control by id, and no staged key left behind.
 */
import { describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { redis } from '../../plugins/redis/index.js';
import { Keys } from '../../plugins/redis/keys.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';
import { PREFIX, REDIS_URL, suiteApps } from './redis-helpers.js';

const { admin, apps, names } = suiteApps();

function app(name: string, concurrency = 1, retention?: { success?: number }): QueueTasks {
  const plugin = redis({ url: REDIS_URL, blockTimeoutMs: 1_000, ...(retention !== undefined ? { retention } : {}) });
  const a = new QueueTasks({ name, plugins: [plugin], config: { logLevel: 'silent', concurrency, retryDelayMs: 10 }, globals: false, sharedTasks: false });
  apps.push(a);
  return a;
}

/** A string of `size` characters that tells its `label` apart (and is not all one byte). */
function big(label: string, size: number): string {
  return `${label}:` + 'abcdefghij'.repeat(Math.ceil(size / 10)).slice(0, size);
}

async function stagedKeys(name: string): Promise<string[]> {
  return admin().keys(`${new Keys(PREFIX, name).base.replace(/[*?[\]\\{}]/g, '\\$&')}in:*`);
}

describe('redis: large messages staged beside the enqueue script', () => {
  it('runs large and small tasks of one burst in enqueue order, with their args intact', async () => {
    const name = uniqueName('large');
    names.push(name);
    const producer = app(name);
    producer.task('t', () => undefined);
    await producer.start({ worker: false });
    // One tick: small and large tasks interleaved (one script call, some staged, some not).
    const labels = Array.from({ length: 40 }, (_, i) => `m${i}`);
    const sizes = labels.map((_, i) => (i % 3 === 0 ? 50 : i % 3 === 1 ? 5_000 : 120_000));
    await Promise.all(labels.map((l, i) => producer.addTask('t', [big(l, sizes[i]!)])));
    expect(await stagedKeys(name)).toEqual([]);

    const seen: string[] = [];
    const worker = app(name, 1);
    worker.task('t', (s: string) => {
      const label = s.slice(0, s.indexOf(':'));
      expect(s).toBe(big(label, sizes[labels.indexOf(label)]!));
      seen.push(label);
    });
    await worker.start();
    await waitUntil(() => seen.length === labels.length, 'every task ran');
    expect(seen).toEqual(labels); // FIFO across staged and plain job strings
  });

  it('keeps a large delayed task until it is due, and one added with a taken id is not enqueued twice', async () => {
    const name = uniqueName('large-delay');
    names.push(name);
    const a = app(name, 4);
    const runs: string[] = [];
    a.task('t', () => undefined);
    await a.start({ worker: false });
    const payload = big('late', 30_000);
    const delayed = await a.addTask('t', [payload], { delay: 300 });
    expect((await a.get(delayed.id))?.runAt).toBe(delayed.runAt);
    const first = await a.addTask('t', [big('once', 10_000)], { id: 'fixed-large' });
    const again = await a.addTask('t', [big('twice', 10_000)], { id: 'fixed-large' });
    expect(first.deduplicated).toBeUndefined();
    expect(again.deduplicated).toBe(true);
    expect(await stagedKeys(name)).toEqual([]);
    const worker = app(name, 4);
    worker.task('t', (s: string) => void runs.push(s));
    await worker.start();
    const done = await a.wait(delayed.id, 10_000);
    expect(done.status).toBe('success');
    expect(done.startedAt! - delayed.createdAt).toBeGreaterThanOrEqual(300);
    await waitUntil(() => runs.length === 2, 'both ran');
    expect(runs.sort()).toEqual([payload, big('once', 10_000)].sort());
  });

  it('enqueues a large task when the server has lost its scripts (the staged key waits for the EVAL that follows)', async () => {
    const name = uniqueName('large-noscript');
    names.push(name);
    const a = app(name);
    a.task('t', () => undefined);
    await a.start({ worker: false });
    await a.addTask('t', ['small']); // the enqueue script is cached now
    await admin().script('FLUSH'); // what a restart or failover does; others fall back to EVAL the same way
    const payload = big('noscript', 20_000);
    const added = await a.addTask('t', [payload]);
    expect(await stagedKeys(name)).toEqual([]);
    expect((await a.get(added.id))?.args).toEqual([payload]);
  });

  it('finds a queued large task by id: inspection, promotion and cancel work on it', async () => {
    const name = uniqueName('large-ctl');
    names.push(name);
    const a = app(name);
    a.task('t', () => undefined);
    await a.start({ worker: false });
    const payload = big('ctl', 50_000);
    const queued = await a.addTask('t', [payload]);
    const later = await a.addTask('t', [payload], { delay: 60_000 });
    const rec = await a.get(queued.id);
    expect(rec?.status).toBe('new');
    expect(rec?.args).toEqual([payload]);
    expect(await a.cancel(queued.id)).toBe('queued');
    expect((await a.get(queued.id))?.status).toBe('cancel');
    expect(await a.promote(later.id)).toBe(true);
    const runs: string[] = [];
    const worker = app(name);
    worker.task('t', (s: string) => void runs.push(s));
    await worker.start();
    expect((await a.wait(later.id, 10_000)).status).toBe('success');
    expect(runs).toEqual([payload]);
  });

  it('stores the outcome of a large task without repeating its args, and every reader puts them back', async () => {
    const name = uniqueName('large-final');
    names.push(name);
    const keys = new Keys(PREFIX, name);
    const a = app(name, 4);
    a.task('echo', (s: string) => s.length);
    a.task({ name: 'fail', retry: 0 }, (s: string) => {
      throw new Error(`refused ${s.length}`);
    });
    await a.start();
    const payload = big('final', 40_000);
    // addTask with a timeout: the waiter hears of the record without args and reads them
    const done = await a.addTask('echo', [payload], { timeout: 10_000 });
    expect(done.status).toBe('success');
    expect(done.returning).toBe(payload.length);
    expect(done.args).toEqual([payload]);
    // stored once: the record holds no copy of the args, the kept message does, with the record's TTL
    const raw = await admin().get(keys.record(done.id));
    expect(raw).not.toBeNull();
    expect(raw!.includes('final:abc')).toBe(false);
    expect(await admin().exists(keys.job(done.id))).toBe(0);
    expect(await admin().pttl(keys.message(done.id))).toBeGreaterThan(0);
    // get, wait, list
    expect((await a.get(done.id))?.args).toEqual([payload]);
    expect((await a.wait(done.id, 1_000)).args).toEqual([payload]);
    const page = await a.list({ status: 'success' });
    expect(page.records.find((r) => r.id === done.id)?.args).toEqual([payload]);
    // a failed large task is retried with its own args
    const failed = await a.addTask('fail', [payload], { timeout: 10_000 });
    expect(failed.status).toBe('error');
    expect(failed.args).toEqual([payload]);
    expect(await a.retry(failed.id)).toBe(1);
    const again = await a.wait(failed.id, 10_000);
    expect(again.status).toBe('error');
    expect(again.attempts).toBe(1);
    expect(again.args).toEqual([payload]);
    // remove and clean take the kept message with the record
    expect(await a.remove(done.id)).toBe(true);
    expect(await admin().exists(keys.message(done.id))).toBe(0);
    expect(await a.clean({ status: 'error', olderThanMs: 0 })).toBe(1);
    expect(await admin().exists(keys.record(failed.id), keys.message(failed.id))).toBe(0);
  });

  it('drops the kept message with its record when retention by count deletes it', async () => {
    const name = uniqueName('large-keep');
    names.push(name);
    const keys = new Keys(PREFIX, name);
    const a = app(name, 1, { success: 2 });
    a.task('t', () => 1);
    await a.start();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await a.addTask('t', [big(`k${i}`, 5_000)], { timeout: 10_000 })).id);
    const kept = await Promise.all(ids.map(async (id) => (await admin().exists(keys.record(id), keys.message(id))) === 2));
    expect(kept).toEqual([false, false, false, true, true]);
    expect(await Promise.all(ids.map((id) => admin().exists(keys.message(id))))).toEqual([0, 0, 0, 1, 1]);
  });
});
