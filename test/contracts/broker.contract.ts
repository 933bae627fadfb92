/**
 * The broker conformance suite: end-to-end behaviour every broker plugin must show through the
 * kernel. Call `brokerConformance(target)` inside a vitest file.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import type { Config } from '../../core/config.js';
import { ErrorCodes } from '../../core/errors.js';
import { competingConsumers } from './broker-consumers.js';
import { namesAndDurability } from './broker-names.js';
import { workerProcesses } from './broker-processes.js';
import { timingSemantics } from './broker-timing.js';
import { gate, hangingTask, sleep, uniqueName, waitUntil } from './helpers.js';
import type { BrokerTarget, SuiteContext } from './suite.js';

export type { BrokerTarget, ProcessTarget } from './suite.js';

const BASE: Partial<Config> = { logLevel: 'silent', leaseMs: 600, retryDelayMs: 20, retryMaxDelayMs: 100, stopTimeoutMs: 2_000, heartbeatMs: 500 };

export function brokerConformance(target: BrokerTarget): void {
  describe(`broker conformance: ${target.name}`, () => {
    const apps: QueueTasks[] = [];
    const names = new Set<string>();

    function makeApp(name: string, config: Partial<Config> = {}): QueueTasks {
      names.add(name);
      const app = new QueueTasks({ name, plugins: target.plugins(name), config: { ...BASE, ...target.config, ...config }, globals: false, sharedTasks: false });
      apps.push(app);
      return app;
    }

    afterEach(async () => {
      await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
      await target.cleanup?.([...names]);
      names.clear();
    });

    const suite: SuiteContext = { target, base: BASE, makeApp };
    competingConsumers(suite);
    timingSemantics(suite);
    namesAndDurability(suite);
    workerProcesses(suite);

    it('publishes and consumes: every task ends in success with its result', async () => {
      const app = makeApp(uniqueName('pub'));
      const double = app.task('double', (n: number) => n * 2);
      await app.start();
      const records = await Promise.all(Array.from({ length: 25 }, (_, i) => double.addTask([i], { timeout: 10_000 })));
      expect(records.map((r) => r.returning)).toEqual(Array.from({ length: 25 }, (_, i) => i * 2));
      expect(records.every((r) => r.status === 'success' && r.attempts === 1)).toBe(true);
      const stored = await app.get(records[3]!.id);
      expect(stored?.returning).toBe(6);
      expect(stored?.args).toEqual([3]);
    });

    it('honours priority: lower first, FIFO within a priority', async () => {
      const name = uniqueName('prio');
      const producer = makeApp(name);
      producer.task('p', () => undefined);
      await producer.start({ worker: false });
      const order: string[] = [];
      const plan: Array<[string, number]> = [['a', 5], ['b', 1], ['c', 9], ['d', 0], ['e', 3], ['f', -2], ['g', 1], ['h', 0], ['i', 1]];
      const ids = [];
      for (const [label, priority] of plan) ids.push((await producer.addTask('p', [label], { priority })).id);
      const worker = makeApp(name, { concurrency: 1 });
      worker.task('p', (label: string) => void order.push(label));
      await worker.start();
      for (const id of ids) await worker.wait(id, 10_000);
      expect(order).toEqual(['f', 'd', 'h', 'b', 'g', 'i', 'e', 'a', 'c']);
    });

    it('delays: a delayed task does not start before its time, and others pass it', async () => {
      const app = makeApp(uniqueName('delay'));
      const order: string[] = [];
      const t = app.task('t', (label: string) => void order.push(label));
      await app.start();
      const late = await t.addTask(['late'], { delay: 400 });
      const now = await t.addTask(['now'], { timeout: 10_000 });
      const done = await app.wait(late.id, 10_000);
      expect(order).toEqual(['now', 'late']);
      expect(now.status).toBe('success');
      expect(done.startedAt! - late.createdAt).toBeGreaterThanOrEqual(400);
    });

    it('shows a running task as process, and acks only after the outcome is stored', async () => {
      const name = uniqueName('ack');
      const app = makeApp(name);
      const g = gate();
      let runs = 0;
      const t = app.task('t', async () => {
        runs++;
        await g.promise;
        return 'ok';
      });
      await app.start();
      const rec = await t.addTask([]);
      const running = await waitUntil(async () => (await app.get(rec.id))?.status === 'process' && true, 'status process');
      expect(running).toBe(true);
      g.open();
      expect((await app.wait(rec.id, 10_000)).returning).toBe('ok');
      await app.stop();
      // A new worker on the same queue, after a full lease period, must not see the task again.
      const again = makeApp(name);
      again.task('t', () => void runs++);
      await again.start();
      await sleep(BASE.leaseMs! * 2);
      expect(runs).toBe(1);
      expect((await again.get(rec.id))?.status).toBe('success');
    });

    it('redelivers a task whose worker stopped without settling it, counting the attempt', async () => {
      const name = uniqueName('lease');
      const first = makeApp(name, { stopTimeoutMs: 50 });
      const started = hangingTask(first);
      await first.start();
      const rec = await first.addTask('t', [7]);
      await started;
      await first.stop(); // grace period over: the task is abandoned, not settled
      const second = makeApp(name);
      const attempts: number[] = [];
      second.task({ name: 't', echo: true }, (ctx, n: number) => {
        attempts.push(ctx.attempt);
        return n + 1;
      });
      await second.start();
      const done = await second.wait(rec.id, 15_000);
      expect(done.status).toBe('success');
      expect(done.returning).toBe(8);
      expect(attempts).toEqual([2]);
      expect(done.attempts).toBe(2);
    });

    it('dead-letters a task that loses its worker again while it runs alone, without running it a third time', async () => {
      const name = uniqueName('dead');
      const cfg = { stopTimeoutMs: 50, extraDeliveries: 0 };
      // Lost once (with its worker): a suspect, not yet guilty.
      const first = makeApp(name, cfg);
      const started = hangingTask(first);
      await first.start();
      const rec = await first.addTask('t', []);
      await started;
      await first.stop();
      // Redelivered with its loss counted, it runs alone (not charged: the limit is 1) and is lost again.
      const second = makeApp(name, cfg);
      const again = hangingTask(second);
      await second.start();
      await again;
      expect((await second.get(rec.id))?.alone).toEqual({ attempt: 2, lost: 1 });
      await second.stop();
      const third = makeApp(name, cfg);
      let ran = 0;
      third.task('t', () => void ran++);
      await third.start();
      const done = await third.wait(rec.id, 15_000);
      expect(done.status).toBe('dead');
      expect(done.reason).toMatch(/lost while it ran alone/);
      expect(done.attempts).toBe(3);
      expect(ran).toBe(0);
      const letters = await waitUntil(async () => {
        const all = await third.broker.deadLetters(50);
        return all.find((l) => l.id === rec.id);
      }, 'dead letter listed');
      expect(letters.reason).toMatch(/alone/);
    });

    it('leaves a task its worker does not know to a live worker that does (release: no attempt spent)', async () => {
      const name = uniqueName('known');
      const a = makeApp(name, { concurrency: 2 });
      a.task('a', () => 'A');
      const b = makeApp(name, { concurrency: 2 });
      b.task('b', () => 'B');
      await a.start();
      await b.start();
      // A broker without `release` cannot give a task back for free: its workers fail unknown tasks.
      if (a.broker.release === undefined) return;
      const records = [];
      for (let i = 0; i < 10; i++) records.push(await a.addTask(i % 2 === 0 ? 'a' : 'b', []));
      for (const [i, r] of records.entries()) {
        const done = await a.wait(r.id, 15_000);
        expect(done.status).toBe('success');
        expect(done.returning).toBe(i % 2 === 0 ? 'A' : 'B');
        expect(done.attempts).toBe(1);
      }
      const nobody = await a.addTask('nobody', [], { timeout: 15_000 });
      expect(nobody.status).toBe('error');
      expect(nobody.error?.code).toBe(ErrorCodes.UNKNOWN_TASK);
    });

    it('runs a task lost with its worker alone, and does not charge the loss against its limit', async () => {
      const name = uniqueName('suspect');
      const cfg = { stopTimeoutMs: 50, extraDeliveries: 0, concurrency: 4 };
      const first = makeApp(name, cfg);
      const hung = gate();
      let good = 0;
      first.task('good', async () => {
        good++;
        hung.open();
        await new Promise(() => undefined);
      });
      await first.start();
      const rec = await first.addTask('good', []);
      await hung.promise;
      await first.stop(); // lost, through no fault of its own
      const second = makeApp(name, cfg);
      const spans: Array<[string, number, number]> = [];
      const span = async (label: string, ms: number): Promise<string> => {
        const from = Date.now();
        await sleep(ms);
        spans.push([label, from, Date.now()]);
        return label;
      };
      second.task('good', () => span('good', 150));
      const other = second.task('other', () => span('other', 150));
      await second.start();
      const others = await Promise.all([other.addTask([]), other.addTask([])]);
      const done = await second.wait(rec.id, 15_000);
      for (const o of others) expect((await second.wait(o.id, 15_000)).status).toBe('success');
      // Its limit is one delivery and this was its second: the loss was not charged.
      expect(done.status).toBe('success');
      expect(done.attempts).toBe(2);
      // Nothing else ran while it did.
      const [, from, to] = spans.find(([label]) => label === 'good')!;
      for (const [label, f, t] of spans) if (label !== 'good') expect(t <= from || f >= to).toBe(true);
    });

    it('dead-letters malformed messages with a reason and keeps running', async () => {
      const name = uniqueName('bad');
      const app = makeApp(name);
      const t = app.task('t', (n: number) => n);
      await app.start();
      await target.injectMalformed(name, app.config.defaultQueue, '{not json');
      await target.injectMalformed(name, app.config.defaultQueue, JSON.stringify({ id: 'x1', name: 't' }));
      const letters = await waitUntil(async () => {
        const all = await app.broker.deadLetters(50);
        return all.length >= 2 ? all : undefined;
      }, 'two dead letters');
      expect(letters.every((l) => typeof l.reason === 'string' && l.reason.length > 0)).toBe(true);
      expect(letters.some((l) => l.payload.includes('{not json'))).toBe(true);
      expect((await t.addTask([5], { timeout: 10_000 })).returning).toBe(5);
    });

    it('ends an unknown task name in error with a clear message; the worker keeps running', async () => {
      const app = makeApp(uniqueName('unknown'));
      const t = app.task('known', () => 'fine');
      await app.start();
      const bad = await app.addTask('no such task: with colons', [1], { timeout: 10_000 });
      expect(bad.status).toBe('error');
      expect(bad.error?.code).toBe(ErrorCodes.UNKNOWN_TASK);
      expect(bad.error?.message).toContain('no such task: with colons');
      expect((await t.addTask([], { timeout: 10_000 })).returning).toBe('fine');
    });


    it('carries names, queues and ids with separators and non-ASCII characters unchanged', async () => {
      const app = makeApp(uniqueName('chars'));
      const queue = 'q|ü:1 ✓';
      const t = app.task({ name: 'tâche|ü:名前 ✓', queue }, (s: string) => `${s}|ok`);
      let n = 0;
      // A hook may choose ids: one with the characters a broker might use as separators.
      app.hooks.broker.beforePublish.tap('test', (m) => ({ ...m, id: `id|${++n}:ü✓` }));
      await app.start();
      const [a, b] = await Promise.all([t.addTask(['a|ü'], { timeout: 10_000 }), t.addTask(['b'], { timeout: 10_000, delay: 50 })]);
      expect([a.id, b.id].sort()).toEqual(['id|1:ü✓', 'id|2:ü✓']);
      expect([a.returning, b.returning]).toEqual(['a|ü|ok', 'b|ok']);
      expect(a.queue).toBe(queue);
      expect((await app.get('id|2:ü✓'))?.status).toBe('success');
    });
    it('expires results after their TTL', async () => {
      const app = makeApp(uniqueName('ttl'));
      const t = app.task({ name: 't', resultTtlMs: 300 }, () => 1);
      const keep = app.task('keep', () => 2);
      await app.start();
      const short = await t.addTask([], { timeout: 10_000 });
      const long = await keep.addTask([], { timeout: 10_000 });
      expect((await app.get(short.id))?.status).toBe('success');
      await waitUntil(async () => (await app.get(short.id)) === undefined, 'record expiry', 5_000, 50);
      expect((await app.get(long.id))?.returning).toBe(2);
    });

    it('settles tasks whose result TTL is 0 and hands the result to a waiter', async () => {
      const app = makeApp(uniqueName('ttl0'));
      const t = app.task({ name: 't', resultTtlMs: 0 }, (n: number) => n + 1);
      const dead = app.task({ name: 'd', resultTtlMs: 0 }, () => {
        throw new Error('no');
      });
      await app.start();
      expect((await t.addTask([1], { timeout: 10_000 })).returning).toBe(2);
      expect((await dead.addTask([], { timeout: 10_000 })).status).toBe('error');
      expect((await t.addTask([2], { timeout: 10_000 })).returning).toBe(3);
    });

    it('never runs more tasks at once than the concurrency limit', async () => {
      const app = makeApp(uniqueName('conc'), { concurrency: 3 });
      let now = 0;
      let max = 0;
      const t = app.task('t', async () => {
        now++;
        max = Math.max(max, now);
        await sleep(20);
        now--;
      });
      await app.start();
      await Promise.all(Array.from({ length: 15 }, () => t.addTask([], { timeout: 15_000 })));
      expect(max).toBe(3);
    });

    it('claimLimits: a task beyond its queue\'s limits stays waiting in the queue, not delivered', async () => {
      const name = uniqueName('claimlim');
      const release = gate();
      const started: number[] = [];
      const register = (app: QueueTasks): void => {
        app.queue('narrow', { globalConcurrency: 1 });
        app.task({ name: 'one', queue: 'narrow' }, async (n: number) => {
          started.push(n);
          await release.promise;
          return n;
        });
      };
      const a = makeApp(name);
      await a.start({ worker: false });
      // Without claimLimits the worker's gate holds the limit (the limits suites cover it).
      if (a.broker.claimLimits !== true) return;
      const workers = [makeApp(name, { concurrency: 4 }), makeApp(name, { concurrency: 4 })];
      for (const w of workers) {
        register(w);
        await w.start();
      }
      const records = await a.addTasks([0, 1, 2].map((n) => ({ name: 'one', args: [n], options: { queue: 'narrow' } })));
      await waitUntil(() => started.length >= 1, 'one running');
      await sleep(200); // room for a wrong second delivery to show
      expect(started).toHaveLength(1);
      const counts = (await a.counts('narrow')).find((c) => c.queue === 'narrow');
      expect({ waiting: counts?.waiting, running: counts?.running }).toEqual({ waiting: 2, running: 1 });
      release.open();
      for (const r of records) expect((await a.wait(r.id, 10_000)).status).toBe('success');
    });

    it('retries with backoff and records every attempt', async () => {
      const app = makeApp(uniqueName('retry'));
      let calls = 0;
      const t = app.task({ name: 't', retry: 2 }, () => {
        calls++;
        if (calls < 3) throw new Error(`boom ${calls}`);
        return 'third time';
      });
      await app.start();
      const done = await t.addTask([], { timeout: 10_000 });
      expect(done.status).toBe('success');
      expect(done.attempts).toBe(3);
      expect(done.returning).toBe('third time');
    });

    it('stops gracefully: running tasks finish and are stored, nothing is redelivered', async () => {
      const name = uniqueName('drain');
      const app = makeApp(name);
      let runs = 0;
      const t = app.task('t', async (n: number) => {
        runs++;
        await sleep(100);
        return n;
      });
      await app.start();
      const recs = await Promise.all([1, 2, 3].map((n) => t.addTask([n])));
      await waitUntil(() => runs === 3, 'three tasks running');
      await app.stop();
      const check = makeApp(name);
      check.task('t', () => void runs++);
      await check.start();
      for (const r of recs) expect((await check.get(r.id))?.status).toBe('success');
      await sleep(BASE.leaseMs! * 2);
      expect(runs).toBe(3);
    });
  });
}
