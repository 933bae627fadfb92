/**
 * Timing semantics, without asserting speed: leases renewed while a task runs, a retry not before
 * its delay, a delay past Node's 2^31 ms timer limit neither firing early nor spinning, and an
 * idle worker that does not poll.
 */
import { createHook } from 'node:async_hooks';
import { expect, it } from 'vitest';
import { QTasksError, RetryLaterError } from '../../core/errors.js';
import { guide, sleep, uniqueName } from './helpers.js';
import type { SuiteContext } from './suite.js';

/** Timers and immediates created, and CPU time used (ms), by this process while `during` runs. */
async function activity(during: () => Promise<void>): Promise<{ timers: number; cpuMs: number }> {
  let timers = 0;
  const hook = createHook({
    init(_id, type) {
      if (type === 'Timeout' || type === 'Immediate') timers++;
    },
  });
  const cpu = process.cpuUsage();
  hook.enable();
  try {
    await during();
  } finally {
    hook.disable();
  }
  const used = process.cpuUsage(cpu);
  return { timers, cpuMs: (used.user + used.system) / 1000 };
}

/** Far more than an idle worker needs (heartbeats, a blocking read per second), far less than a poll every few ms. */
const IDLE_TIMERS_PER_SECOND = 60;
const IDLE_CPU_SHARE = 0.25;

export function timingSemantics({ makeApp }: SuiteContext): void {
  it('renews leases: a task that runs several lease periods runs once', async () => {
    const leaseMs = 400;
    const name = uniqueName('renew');
    let runs = 0;
    // Two workers: the second would take over a lease that was not renewed.
    for (let w = 0; w < 2; w++) {
      const worker = makeApp(name, { leaseMs });
      worker.task('t', async () => {
        runs++;
        await sleep(leaseMs * 4);
        return 'once';
      });
      await worker.start();
    }
    const producer = makeApp(name, { leaseMs });
    await producer.start({ worker: false });
    const rec = await producer.addTask('t', []);
    const done = await producer.wait(rec.id, 15_000);
    expect([done.status, done.returning, done.attempts]).toEqual(['success', 'once', 1]);
    await sleep(leaseMs * 2);
    expect(runs, `a task longer than leaseMs ran more than once: renew leases while the task runs (${guide('Leases: the one design that survives a crash')})`).toBe(1);
  });

  it('does not run a retry before its delay', async () => {
    const app = makeApp(uniqueName('retrydelay'));
    const starts: number[] = [];
    const ends: number[] = [];
    const t = app.task({ name: 't', retry: 2, retryDelayMs: 600, retryMaxDelayMs: 600 }, () => {
      starts.push(Date.now());
      try {
        if (starts.length === 1) throw new RetryLaterError(500);
        if (starts.length === 2) throw new Error('backoff, at least half of 600 ms with jitter');
        return 'third';
      } finally {
        ends.push(Date.now());
      }
    });
    await app.start();
    const done = await t.addTask([], { timeout: 15_000 });
    expect([done.status, done.returning, done.attempts]).toEqual(['success', 'third', 3]);
    // Lower bounds only (a few ms of slack for clock rounding).
    expect(starts[1]! - ends[0]!, `a retry ran before its delay (${guide('`ack(delivery, record, { ttlMs })`, `retry(delivery, record, delayMs)`, `deadLetter(delivery, record, { ttlMs })`')})`).toBeGreaterThanOrEqual(490);
    expect(starts[2]! - ends[1]!).toBeGreaterThanOrEqual(290);
  });

  it('keeps a delay beyond 2^31 ms: it neither fires early nor spins', async () => {
    const app = makeApp(uniqueName('longdelay'));
    let runs = 0;
    const t = app.task('t', () => void runs++);
    await app.start();
    // Working, or refused at once with a QTasksError (a broker whose backend cannot hold such a delay).
    const far = await t.addTask([], { delay: 2 ** 31 + 60_000 }).catch((err: unknown) => {
      expect(err).toBeInstanceOf(QTasksError);
      return undefined;
    });
    const soon = await t.addTask([], { delay: 100 });
    expect((await app.wait(soon.id, 10_000)).status).toBe('success');
    const seen = await activity(() => sleep(2_000));
    expect(runs, `a delay beyond 2^31 ms fired early: one Node timer that long fires after 1 ms (${guide('`consume({ queues, concurrency, onDelivery })`')})`).toBe(1);
    if (far !== undefined) expect((await app.get(far.id))?.status).toBe('new');
    expect(seen.timers, `too many timers while idle: no busy polling (${guide('`consume({ queues, concurrency, onDelivery })`')})`).toBeLessThan(IDLE_TIMERS_PER_SECOND * 2);
    expect(seen.cpuMs, `too much CPU while idle: no busy polling (${guide('`consume({ queues, concurrency, onDelivery })`')})`).toBeLessThan(2_000 * IDLE_CPU_SHARE);
  });

  it('does not busy-poll while idle (timers created and CPU time over two idle seconds)', async () => {
    const app = makeApp(uniqueName('idle'));
    const t = app.task('t', () => 1);
    await app.start();
    expect((await t.addTask([], { timeout: 10_000 })).returning).toBe(1);
    await sleep(300);
    const seen = await activity(() => sleep(2_000));
    expect(seen.timers, `too many timers while idle: no busy polling (${guide('`consume({ queues, concurrency, onDelivery })`')})`).toBeLessThan(IDLE_TIMERS_PER_SECOND * 2);
    expect(seen.cpuMs, `too much CPU while idle: no busy polling (${guide('`consume({ queues, concurrency, onDelivery })`')})`).toBeLessThan(2_000 * IDLE_CPU_SHARE);
    // Still awake: new work is picked up without a poll.
    expect((await t.addTask([], { timeout: 10_000 })).returning).toBe(1);
  });
}
