/**
 * The hooks telemetry needs: `task.around` runners wrap each attempt, see its context and delivery,
 * and can neither change nor lose it; `broker.publishFailed` tells what `afterPublish` never will.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { QueueTasks, type AttemptRunner, type Plugin, type TaskMessage, type TaskOutcome } from '../../core/index.js';
import { memory } from '../../plugins/memory/index.js';
import { refusingBroker } from '../support/refusing-broker.js';
import type { TaskContext } from '../../core/task.js';

const apps: QueueTasks[] = [];
function makeApp(plugins: Plugin[]): QueueTasks {
  const app = new QueueTasks({ name: `around-${apps.length}`, plugins, config: { logLevel: 'silent', retryDelayMs: 5 }, globals: false });
  apps.push(app);
  return app;
}
afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
});

const around = (fn: (run: AttemptRunner, ctx: TaskContext) => AttemptRunner): Plugin => ({
  name: 'around',
  apply: (app) => app.hooks.task.around.tap('around', (run, ctx) => fn(run, ctx)),
});

describe('task.around', () => {
  it('wraps each attempt: the handler runs inside the runner, which sees the outcome of every attempt', async () => {
    const store = new AsyncLocalStorage<string>();
    const seen: Array<[number, TaskOutcome['kind'], string | undefined]> = [];
    const app = makeApp([
      around((run, ctx) => () =>
        store.run(`attempt ${ctx.attempt}`, async () => {
          const outcome = await run();
          seen.push([ctx.attempt, outcome.kind, store.getStore()]);
          return outcome;
        }),
      ),
    ]);
    const inside: Array<string | undefined> = [];
    let calls = 0;
    const t = app.task({ name: 't', retry: 1 }, () => {
      inside.push(store.getStore());
      if (++calls === 1) throw new Error('first fails');
      return 'ok';
    });
    await app.start();
    const record = await t.addTask([], { timeout: 5_000 });
    expect(record.returning).toBe('ok');
    expect(inside).toEqual(['attempt 1', 'attempt 2']);
    expect(seen).toEqual([
      [1, 'retry', 'attempt 1'],
      [2, 'success', 'attempt 2'],
    ]);
  });

  it('a runner that throws, rejects, skips run or lies about the outcome never changes or loses the attempt', async () => {
    const cases: Array<(run: AttemptRunner) => AttemptRunner> = [
      () => {
        throw new Error('tap throws');
      },
      () => () => {
        throw new Error('runner throws');
      },
      (run) => async () => {
        await run();
        throw new Error('runner rejects after the attempt');
      },
      () => async () => ({ kind: 'error', error: new Error('made up') }), // never calls run
      (run) => async () => {
        await run();
        await run(); // twice: the attempt still runs once
        return { kind: 'cancel', reason: 'made up' };
      },
    ];
    for (const wrap of cases) {
      const app = makeApp([around((run) => wrap(run))]);
      let calls = 0;
      const t = app.task('t', (n: number) => (calls++, n * 2));
      await app.start();
      const record = await t.addTask([21], { timeout: 5_000 });
      expect([record.status, record.returning, calls]).toEqual(['success', 42, 1]);
      await app.stop();
    }
  });

  it('gets the delivery (message meta travels to the runner)', async () => {
    const metas: unknown[] = [];
    const app = makeApp([{ name: 'm', apply: (a) => a.hooks.task.around.tap('m', (run, _ctx, delivery) => (metas.push(delivery.message.meta), run)) }]);
    const t = app.task('t', () => 1);
    await app.start();
    await t.addTask([], { timeout: 5_000, meta: { trace: 'x' } });
    expect(metas).toEqual([{ trace: 'x' }]);
  });

  it('costs nothing untapped: the kernel does not call it', () => {
    const app = makeApp([]);
    expect(app.hooks.task.around.isUsed()).toBe(false);
  });
});

describe('broker.publishFailed', () => {
  it('tells a failed publish with its message and error; a tap that throws leaves the caller the publish error', async () => {
    const failed: Array<[TaskMessage, string]> = [];
    const published: TaskMessage[] = [];
    const app = makeApp([
      refusingBroker(),
      memory({ broker: false }),
      {
        name: 'watch',
        apply: (a) => {
          a.hooks.broker.publishFailed.tap('watch', (m, err) => void failed.push([m, err.message]));
          a.hooks.broker.publishFailed.tap('broken', () => {
            throw new Error('tap bug');
          });
          a.hooks.broker.afterPublish.tap('watch', (m) => void published.push(m));
        },
      },
    ]);
    app.task('t', () => 1);
    await app.start({ worker: false });
    await expect(app.addTask('t', [1], { meta: { k: 'v' } })).rejects.toThrow('the server said no');
    expect(failed.map(([m, e]) => [m.name, m.args, m.meta, e])).toEqual([['t', [1], { k: 'v' }, 'the server said no']]);
    expect(published).toEqual([]);
  });
});
