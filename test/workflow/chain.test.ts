// Chains run by the workers: each step gets the previous result; a failing step stops the chain
// with its error on the workflow's record; on memory, Redis, and RabbitMQ with Redis storage.
import { describe, expect, it } from 'vitest';
import { ErrorCodes, QTasksError, QueueTasks, chain } from '../../core/index.js';
import { workflowApps } from './brokers.js';

const { brokers, makeApp } = workflowApps();

describe.each(brokers.setups)('chain on $name', (setup) => {
  it('sends a deferred call only when asked', async () => {
    const app = makeApp(brokers.appName('call'), setup);
    const double = app.task('double', (n: number) => n * 2);
    await app.start();
    const call = double.with([21], { priority: 1 });
    expect(call.args).toEqual([21]);
    const sent = await call.addTask();
    expect((await app.wait(sent.id, 10_000)).returning).toBe(42);
  });

  it('passes each result to the next step; the record is the last step\'s', async () => {
    const app = makeApp(brokers.appName('chain'), setup);
    const add = app.task('add', (a: number, b: number) => a + b);
    const square = app.task('square', (n: number) => n * n);
    const show = app.task('show', (n: number) => `=${n}`);
    await app.start();
    const done = await chain(add.with([1, 2]), square, show).addTask({ timeout: 15_000 });
    expect(done.status).toBe('success');
    expect(done.returning).toBe('=9');
    expect(done.name).toBe('show');
    const sent = await chain(add.with([2, 2]), square).addTask();
    expect(sent.status).toBe('new');
    expect((await app.wait(sent.id, 15_000)).returning).toBe(16);
    expect((await app.get(sent.id))?.returning).toBe(16);
  });

  it('stops at a failing step, with its error on the workflow record', async () => {
    const app = makeApp(brokers.appName('fail'), setup);
    let thirdRan = 0;
    const one = app.task('one', (n: number) => n + 1);
    const boom = app.task('boom', (n: number): number => {
      throw new Error(`no ${n}`);
    });
    const three = app.task('three', (n: number) => {
      thirdRan++;
      return n;
    });
    await app.start();
    const done = await chain(one.with([1]), boom, three).addTask({ timeout: 15_000 });
    expect(done.status).toBe('error');
    expect(done.error?.message).toMatch(/chain step 2 of 3 \(task "boom".*no 2/);
    expect(thirdRan).toBe(0);
  });
});

describe('chain bad input', () => {
  it('refuses a first step that is not a call, and a call as a later step', () => {
    const app = new QueueTasks({ name: 'wf-bad', globals: false });
    const t = app.task('t', (n: number) => n);
    const e1 = (() => {
      try {
        // @ts-expect-error the first step must be a call (handle.with(args))
        chain(t, t);
      } catch (err) {
        return err;
      }
    })();
    expect(e1).toBeInstanceOf(QTasksError);
    expect((e1 as QTasksError).code).toBe(ErrorCodes.INVALID_ARGS);
    expect(() =>
      // @ts-expect-error later steps are handles, not calls
      chain(t.with([1]), t.with([2])),
    ).toThrow(/step 2 is a call/);
    // A workflow names its steps: the first call may not choose its id.
    expect(() => chain(t.with([1], { id: 'mine' }), t)).toThrow(/sets id or dedup/);
  });
});
