/**
 * Times beyond Node's timer limit (2^31-1 ms, about 24.8 days) work: no early fire, no spin. Fake
 * clocks stand in for the weeks; every long timer here would fire after 1 ms without chaining.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCodes, QueueTasks, WaitTimeoutError, type Config, type TaskRecord } from '../../core/index.js';
import { MAX_TIMER_MS, setLongTimeout } from '../../core/timers.js';
import { gate } from '../contracts/helpers.js';

const DAY = 24 * 60 * 60 * 1000;
const LONG = 2 ** 31 + 1_000;
const FAKE: Parameters<typeof vi.useFakeTimers>[0] = { toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] };

const apps: QueueTasks[] = [];
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
});

function makeApp(config: Partial<Config> = {}): QueueTasks {
  // The heartbeat at its longest, so advancing weeks does not run millions of beats.
  const app = new QueueTasks({ name: `timers-${apps.length}`, globals: false, sharedTasks: false, config: { logLevel: 'silent', heartbeatMs: MAX_TIMER_MS, ...config } });
  apps.push(app);
  return app;
}

/** Whether `p` has settled (after letting pending callbacks run). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await vi.advanceTimersByTimeAsync(0);
  return done;
}

describe('long timers', () => {
  it('setLongTimeout fires once at its time past 2^31-1 ms, with one pending timer at a time; Infinity never fires', () => {
    vi.useFakeTimers(FAKE);
    const fn = vi.fn();
    setLongTimeout(fn, 3 * MAX_TIMER_MS + 5);
    vi.advanceTimersByTime(3 * MAX_TIMER_MS);
    expect(fn).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(5);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
    const never = vi.fn();
    const t = setLongTimeout(never, Infinity);
    vi.advanceTimersByTime(10 * MAX_TIMER_MS);
    expect(never).not.toHaveBeenCalled();
    t.cancel();
    const cancelled = vi.fn();
    setLongTimeout(cancelled, LONG).cancel();
    vi.advanceTimersByTime(2 * LONG);
    expect(cancelled).not.toHaveBeenCalled();
  });

  it('addTask(..., { timeout: 2**31 + 1000 }) and app.wait wait that long, then time out', async () => {
    const app = makeApp();
    const hold = gate();
    const t = app.task('slow', () => hold.promise);
    await app.start();
    vi.useFakeTimers(FAKE);
    const viaAdd = t.addTask([], { timeout: LONG });
    const first = await app.addTask('slow', []);
    const viaWait = app.wait(first.id, LONG);
    viaAdd.catch(() => undefined);
    viaWait.catch(() => undefined);
    await vi.advanceTimersByTimeAsync(LONG - 10);
    expect(await settled(viaAdd)).toBe(false);
    expect(await settled(viaWait)).toBe(false);
    await vi.advanceTimersByTimeAsync(20);
    await expect(viaAdd).rejects.toBeInstanceOf(WaitTimeoutError);
    await expect(viaWait).rejects.toBeInstanceOf(WaitTimeoutError);
    hold.open();
  });

  it('a maxTime of 30 days does not fail the task early, and fails it at 30 days', async () => {
    const app = makeApp();
    const hold = gate();
    const t = app.task({ name: 'month', maxTime: 30 * DAY }, () => hold.promise);
    await app.start();
    vi.useFakeTimers(FAKE);
    const record = t.addTask([], { timeout: 31 * DAY });
    await vi.advanceTimersByTimeAsync(30 * DAY - 1_000);
    expect(await settled(record)).toBe(false);
    await vi.advanceTimersByTimeAsync(2_000);
    const done = await record;
    expect(done.status).toBe('error');
    expect(done.error?.code).toBe(ErrorCodes.TASK_TIMEOUT);
    hold.open();
  });

  for (const stopTimeoutMs of [3e9, Infinity]) {
    it(`stopTimeoutMs ${stopTimeoutMs} waits for a running task instead of abandoning it after a few ms`, async () => {
      const app = makeApp({ stopTimeoutMs });
      const hold = gate();
      const started = gate();
      const t = app.task('long', async () => {
        started.open();
        await hold.promise;
        return 'done';
      });
      await app.start();
      const added = await t.addTask([]);
      await started.promise;
      vi.useFakeTimers(FAKE);
      const stopping = app.stop();
      await vi.advanceTimersByTimeAsync(2.9e9);
      expect(await settled(stopping)).toBe(false);
      hold.open();
      await vi.advanceTimersByTimeAsync(0);
      vi.useRealTimers();
      await stopping;
      // The task's outcome was stored before the app stopped: it was not abandoned.
      const stored: TaskRecord | undefined = await app.storage.get(added.id);
      expect(stored?.status).toBe('success');
    });
  }

  it('heartbeatMs and leaseMs past 2^31-1 ms are refused with the bound', () => {
    for (const key of ['heartbeatMs', 'leaseMs'] as const) {
      try {
        makeApp({ [key]: 3e9 });
        expect.unreachable();
      } catch (err) {
        expect((err as { code?: string }).code).toBe(ErrorCodes.INVALID_CONFIG);
        expect((err as Error).message).toBe(`config.${key} must be at most ${MAX_TIMER_MS} ms (about 24.8 days), got 3000000000`);
      }
    }
  });

  it('the memory broker holds a long delay with one timer, not a 1 ms loop, and delivers it on time', async () => {
    const app = makeApp();
    let runs = 0;
    const t = app.task('later', () => ++runs);
    await app.start();
    vi.useFakeTimers(FAKE);
    const arms = vi.spyOn(globalThis, 'setTimeout');
    const added = await t.addTask([], { delay: LONG });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(arms.mock.calls.length).toBeLessThan(5);
    await vi.advanceTimersByTimeAsync(LONG - 2_000);
    expect(runs).toBe(0);
    await vi.advanceTimersByTimeAsync(2_000);
    vi.useRealTimers();
    const done = await app.wait(added.id, 5_000);
    expect(done.status).toBe('success');
    expect(runs).toBe(1);
  });
});
