// Groups and chords run by the workers: results in order, the callback once with every result,
// a failed member failing the workflow; on memory, Redis, and RabbitMQ with Redis storage.
import { describe, expect, it } from 'vitest';
import { ErrorCodes, QTasksError, QueueTasks, chord, group } from '../../core/index.js';
import { z } from 'zod';
import { workflowApps } from './brokers.js';

const { brokers, makeApp } = workflowApps(8);

describe.each(brokers.setups)('group and chord on $name', (setup) => {
  it('a group\'s result is its members\' results in order', async () => {
    const app = makeApp(brokers.appName('group'), setup);
    const square = app.task('square', async (n: number) => {
      await new Promise((r) => setTimeout(r, (10 - n) * 3)); // later members end first
      return n * n;
    });
    await app.start();
    const done = await group([1, 2, 3, 4, 5].map((n) => square.with([n]))).addTask({ timeout: 15_000 });
    expect(done.status).toBe('success');
    expect(done.returning).toEqual([1, 4, 9, 16, 25]);
  });

  it('a chord of 1,000 runs its callback once, with every result', async () => {
    const app = makeApp(brokers.appName('chord'), setup);
    const id = app.task('id', (n: number) => n);
    let calls = 0;
    const sum = app.task('sum', (list: number[]) => {
      calls++;
      return list.reduce((a, b) => a + b, 0);
    });
    await app.start();
    const members = Array.from({ length: 1_000 }, (_, i) => id.with([i]));
    const done = await chord(group(members), sum).addTask({ timeout: 120_000 });
    expect(done.status).toBe('success');
    expect(done.returning).toBe((999 * 1_000) / 2);
    expect(done.name).toBe('sum');
    await new Promise((r) => setTimeout(r, 500));
    expect(calls).toBe(1);
  }, 150_000);

  it('a failed member fails the chord, naming it; the callback never runs', async () => {
    const app = makeApp(brokers.appName('chordfail'), setup);
    const check = app.task('check', (n: number) => {
      if (n === 2) throw new Error('two is bad');
      return n;
    });
    let calls = 0;
    const total = app.task('total', (list: number[]) => {
      calls++;
      return list.length;
    });
    await app.start();
    const done = await chord(group([check.with([1]), check.with([2]), check.with([3])]), total).addTask({ timeout: 15_000 });
    expect(done.status).toBe('error');
    expect(done.error?.message).toMatch(/group member .*\.m1 \(task "check"\) ended in error: two is bad/);
    expect(calls).toBe(0);
  });

  it('a member whose args its task refuses fails the submit, naming it, and nothing is sent', async () => {
    const app = makeApp(brokers.appName('bad-args'), setup);
    let runs = 0;
    const sq = app.task({ name: 'sq', args: z.tuple([z.number().int()]) }, (n) => {
      runs++;
      return n * n;
    });
    await app.start();
    const members = [sq.with([1]), sq.with([2]), sq.with([2.5]), sq.with([4])];
    const err = await group(members).addTask().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.INVALID_ARGS, message: expect.stringMatching(/workflow member 3 \(task "sq"\).*nothing was sent/) });
    await new Promise((r) => setTimeout(r, 300)); // a member sent would have run by now
    expect(runs).toBe(0);
  });
});

describe('group bad input', () => {
  it('refuses an empty group, a member that is not a call, a callback that is a call', () => {
    const app = new QueueTasks({ name: 'wf-group-bad', globals: false });
    const t = app.task('t', (n: number) => n);
    const list = app.task('list', (ns: number[]) => ns.length);
    expect(() => group([])).toThrow(QTasksError);
    // @ts-expect-error members are calls
    expect(() => group([t])).toThrow(/member 1 is not a call/);
    expect(() => group([t.with([1], { id: 'x' })])).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }));
    // @ts-expect-error the callback is a handle
    expect(() => chord(group([t.with([1])]), list.with([[1]]))).toThrow(/callback must be a task handle/);
  });

});
