/**
 * Schedules on memory (issue 15): fire times, catchUp after downtime, limit, endAt, unschedule,
 * updates, and bad input. The cross-process cases are in redis-processes.test.ts.
 */
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { ErrorCodes } from '../../core/errors.js';
import type { GlobalConfig } from '../../core/contracts.js';
import { memory, MemoryBackend, MemoryGlobalConfig } from '../../plugins/memory/index.js';
import { FireTimes, defineSchedule } from '../../core/schedule/spec.js';
import { sleep, uniqueName, waitUntil } from '../contracts/helpers.js';

const apps: QueueTasks[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop()));
});

function makeApp(backend = new MemoryBackend()): { app: QueueTasks; fired: string[] } {
  const app = new QueueTasks({ name: uniqueName('sched'), plugins: [memory({ backend })], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
  app.task('tick', (n: number) => n);
  const fired: string[] = [];
  app.events.on('added', (e) => void fired.push(e.id));
  apps.push(app);
  return { app, fired };
}

const fireTimes = (ids: string[], schedule: string): number[] => ids.filter((id) => id.startsWith(`sched:${schedule}:`)).map((id) => Number(id.split(':')[2]));

describe('schedules on memory', () => {
  it('fires an every schedule once per fire time, on multiples of the interval, with ids sched:<id>:<ms>', async () => {
    const { app, fired } = makeApp();
    await app.schedule('beat', { every: 100 }, 'tick', [1]);
    await app.start();
    await waitUntil(() => fireTimes(fired, 'beat').length >= 4, 'four fires', 5_000);
    const times = fireTimes(fired, 'beat');
    expect(new Set(times).size).toBe(times.length);
    for (const t of times) expect(t % 100).toBe(0);
    const [info] = await app.schedules();
    expect(info).toMatchObject({ id: 'beat', task: 'tick', args: [1], spec: { every: 100 } });
    expect(info!.next).toBeGreaterThan(info!.last!);
  });

  it('an updated spec (same id) takes effect at once; unschedule stops it', async () => {
    const { app, fired } = makeApp();
    await app.start();
    await app.schedule('s', { every: 100 }, 'tick', [1]);
    await waitUntil(() => fireTimes(fired, 's').length >= 2, 'fires at 100');
    await app.schedule('s', { every: 250 }, 'tick', [2]);
    const mark = fired.length;
    await waitUntil(() => fireTimes(fired.slice(mark), 's').length >= 2, 'fires at 250', 5_000);
    for (const t of fireTimes(fired.slice(mark), 's')) expect(t % 250).toBe(0);
    expect(await app.unschedule('s')).toBe(true);
    expect(await app.unschedule('s')).toBe(false);
    const after = fired.length;
    await sleep(600);
    expect(fired.length).toBe(after);
    expect(await app.schedules()).toEqual([]);
  });

  it('limit caps the number of fires; endAt ends the schedule', async () => {
    const { app, fired } = makeApp();
    await app.start();
    await app.schedule('lim', { every: 50 }, 'tick', [1], { limit: 3 });
    await app.schedule('end', { every: 50 }, 'tick', [1], { endAt: Date.now() + 300 });
    await sleep(1_000);
    expect(fireTimes(fired, 'lim')).toHaveLength(3);
    const ends = fireTimes(fired, 'end');
    expect(ends.length).toBeGreaterThan(0);
    expect(ends.length).toBeLessThanOrEqual(7);
    const infos = await app.schedules();
    expect(infos.find((i) => i.id === 'lim')!.next).toBeUndefined();
    expect(infos.find((i) => i.id === 'end')!.next).toBeUndefined();
  });

  for (const [catchUp, expected] of [
    ['none', 0],
    ['latest', 1],
    ['all', 6],
  ] as const) {
    it(`catchUp '${catchUp}' after downtime enqueues ${expected} missed fire(s) from the last one stored`, async () => {
      const backend = new MemoryBackend();
      const { app: before } = makeApp(backend);
      // Downtime: the schedule was defined long ago and last fired 65 s ago; fires every 10 s.
      const now = Date.now();
      await before.schedule('c', { every: 10_000 }, 'tick', [1], { startAt: now - 65_000, catchUp });
      await before.start({ worker: false });
      const raw = JSON.parse((await before.globalConfig.get('schedule:c'))!) as Record<string, unknown>;
      await before.globalConfig.set('schedule:c', JSON.stringify({ ...raw, definedAt: now - 100_000 }));
      await before.globalConfig.set('schedule-state:c', JSON.stringify({ last: now - 65_000, count: 1 }));
      await before.stop();
      const { app, fired } = makeApp(backend);
      await app.start();
      await sleep(400);
      const times = fireTimes(fired, 'c');
      expect(times).toHaveLength(expected);
      if (expected > 0) expect(times.at(-1)).toBe(now - 5_000);
      const [info] = await app.schedules();
      expect(info!.next).toBe(now + 5_000);
    });
  }

  it("catchUp 'all' is bounded to 100 fires", async () => {
    const def = await defineSchedule('b', { every: 10 }, 'tick', [], { catchUp: 'all' }, 0);
    const times = await FireTimes.of(def);
    const due = times.due(0, 0, 1_000_000);
    expect(due.length).toBe(100 + 201);
    expect(new Set(due).size).toBe(due.length);
  });

  it('never a next cron fire at or before the previous one, inside the repeated hour of a fall-back', async () => {
    const def = await defineSchedule('d', { cron: '30 1 * * *', tz: 'America/New_York' }, 'tick', [], {}, 0);
    const times = await FireTimes.of(def);
    // 2025-11-02: 01:30 EDT is 05:30Z; at 06:00Z (01:00 EST, the second 01:xx) croner's nextRun
    // answers 05:30Z again, before the reference. The next fire is the following day's 01:30 EST.
    const after = Date.parse('2025-11-02T06:00:00Z');
    expect(times.next(after)).toBe(Date.parse('2025-11-03T06:30:00Z'));
    let t = Date.parse('2025-11-01T00:00:00Z');
    for (let i = 0; i < 5; i++) {
      const next = times.next(t)!;
      expect(next).toBeGreaterThan(t);
      t = next;
    }
  });

  it('rejects bad input clearly', async () => {
    const { app } = makeApp();
    await expect(app.schedule('x', { cron: 'not a cron' }, 'tick', [1])).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION });
    await expect(app.schedule('x', { cron: '* * * * *', tz: 'Nowhere/Else' }, 'tick', [1])).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION });
    await expect(app.schedule('x', { every: -5 }, 'tick', [1])).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION });
    await expect(app.schedule('x', { every: 1.5 }, 'tick', [1])).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION });
    await expect(app.schedule('x', { every: 100 }, 'nope', [])).rejects.toMatchObject({ code: ErrorCodes.UNKNOWN_TASK });
    await expect(app.schedule('', { every: 100 }, 'tick', [1])).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION });
    await expect(app.schedule('x', { every: 100 }, 'tick', [1], { limit: 0 })).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION });
    await expect(app.schedule('x', { every: 100 }, 'tick', [1], { catchUp: 'some' as 'all' })).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION });
    expect(await app.schedules()).toEqual([]);
  });

  it('fails clearly with a global config that keeps no sets (the schedule ids are one)', async () => {
    const backend = new MemoryBackend();
    const full = new MemoryGlobalConfig(backend);
    // a third-party global config with set/get only
    const bare: GlobalConfig = { name: 'bare', start: (c) => full.start(c), set: (k, v) => full.set(k, v), get: (k) => full.get(k), heartbeat: (w, t) => full.heartbeat(w, t), leave: (id) => full.leave(id), workers: () => full.workers(), alive: () => full.alive(), stop: () => full.stop() };
    const app = new QueueTasks({ name: uniqueName('sched'), plugins: [memory({ backend }), { name: 'bare', apply: (a) => void a.hooks.storage.provideGlobalConfig.tap({ name: 'bare', stage: -10 }, () => bare) }], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
    app.task('tick', (n: number) => n);
    apps.push(app);
    await app.start({ worker: false });
    const err = await app.schedule('x', { every: 100 }, 'tick', [1]).then(() => undefined, (e: unknown) => e as { code?: string; message?: string });
    expect(err?.code).toBe(ErrorCodes.UNSUPPORTED);
    expect(err?.message).toContain('"bare"');
    expect(err?.message).toContain('GlobalConfig.sets');
  });

  it('types: args follow the handle', () => {
    const app = new QueueTasks({ name: uniqueName('sched'), globals: false, sharedTasks: false });
    const h = app.task('typed', (a: string, b: number) => a.length + b);
    expectTypeOf(app.schedule('t', { every: 1_000 }, h, ['x', 1])).resolves.toHaveProperty('id');
    // @ts-expect-error wrong args for the handle
    void app.schedule('t', { every: 1_000 }, h, [1, 'x']).catch(() => undefined);
    // @ts-expect-error a spec needs cron or every
    void app.schedule('t', { at: 5 }, h, ['x', 1]).catch(() => undefined);
  });
});
