import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SyncHook } from 'tapable';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, HookError, QueueTasks, createHooks, type Plugin, type TaskMessage } from '../../core/index.js';
import { listHooks } from '../../core/hooks.js';

const apps: QueueTasks[] = [];
function makeApp(plugins: Plugin[]): QueueTasks {
  const app = new QueueTasks({ name: `hooks-${apps.length}`, plugins, config: { logLevel: 'silent', retryDelayMs: 5 }, globals: false });
  apps.push(app);
  return app;
}
afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
});

describe('hook catalogue', () => {
  it('is frozen, group by group', () => {
    const hooks = createHooks();
    expect(Object.isFrozen(hooks)).toBe(true);
    for (const group of Object.values(hooks)) expect(Object.isFrozen(group)).toBe(true);
    expect(hooks.lifecycle.init.constructor).toBe(SyncHook);
  });

  it('is documented in docs/hooks.md in the same order', () => {
    const doc = readFileSync(resolve(import.meta.dirname, '..', '..', 'docs', 'hooks.md'), 'utf8');
    const documented = [...doc.matchAll(/^\| `([a-z]+\.[a-zA-Z]+)` \|/gm)].map((m) => m[1]);
    expect(documented).toEqual(listHooks(createHooks()).map(([name]) => name));
  });
});

describe('hooks around the task path', () => {
  it('lets a plugin transform a message before publish, and see it after', async () => {
    const published: TaskMessage[] = [];
    const app = makeApp([
      {
        name: 'tracer',
        apply(a) {
          a.hooks.broker.beforePublish.tapPromise('tracer', async (message) => ({ ...message, priority: 3, meta: { trace: 'abc' } }));
          a.hooks.broker.afterPublish.tap('tracer', (m) => void published.push(m));
        },
      },
    ]);
    const t = app.task('t', () => 1);
    await app.start();
    const rec = await t.addTask([], { timeout: 5_000 });
    expect(rec.priority).toBe(3);
    expect(rec.meta).toEqual({ trace: 'abc' });
    expect(published.map((m) => m.meta)).toEqual([{ trace: 'abc' }]);
  });

  it('dead-letters a delivery that a receive tap rejects', async () => {
    const app = makeApp([{ name: 'guard', apply: (a) => a.hooks.broker.receive.tap('guard', (d) => (d.message.args[0] === 'evil' ? 'rejected by guard' : undefined)) }]);
    const t = app.task('t', (s: string) => s);
    await app.start();
    const bad = await t.addTask(['evil'], { timeout: 5_000 });
    expect([bad.status, bad.reason]).toEqual(['dead', 'rejected by guard']);
    expect((await t.addTask(['good'], { timeout: 5_000 })).returning).toBe('good');
  });

  it('replaces arguments before execution and the result after it', async () => {
    const app = makeApp([
      {
        name: 'rewrite',
        apply(a) {
          a.hooks.task.beforeExecute.tapPromise('rewrite', async (args) => args.map((x) => (typeof x === 'number' ? x + 1 : x)));
          a.hooks.task.afterExecute.tapPromise('rewrite', async (result, ctx) => ({ result, by: ctx.name }));
        },
      },
    ]);
    const t = app.task('sum', (a: number, b: number) => a + b);
    await app.start();
    expect((await t.addTask([1, 2], { timeout: 5_000 })).returning).toEqual({ result: 5, by: 'sum' });
  });

  it('lets shouldRetry force or veto a retry, and retryDelay change the delay', async () => {
    const delays: number[] = [];
    const app = makeApp([
      {
        name: 'policy',
        apply(a) {
          a.hooks.task.shouldRetry.tap('policy', (err) => (err.message === 'veto' ? false : err.message === 'force' ? true : undefined));
          a.hooks.task.retryDelay.tap('policy', (ms) => (delays.push(ms), 1));
        },
      },
    ]);
    let forced = 0;
    const force = app.task('force', () => {
      if (++forced < 2) throw new Error('force');
      return 'ok';
    });
    let vetoed = 0;
    const veto = app.task({ name: 'veto', retry: 5 }, () => {
      vetoed++;
      throw new Error('veto');
    });
    await app.start();
    expect((await force.addTask([], { timeout: 5_000 })).attempts).toBe(2);
    expect((await veto.addTask([], { timeout: 5_000 })).status).toBe('error');
    expect(vetoed).toBe(1);
    expect(delays).toHaveLength(1);
  });

  it('wraps a failing tap in a HookError naming hook and plugin, and the task fails cleanly', async () => {
    const app = makeApp([{ name: 'buggy', apply: (a) => a.hooks.task.beforeExecute.tapPromise('buggy', async () => Promise.reject(new RangeError('oops'))) }]);
    const t = app.task('t', () => 1);
    await app.start();
    const rec = await t.addTask([], { timeout: 5_000 });
    expect(rec.status).toBe('error');
    expect(rec.error).toMatchObject({ name: 'HookError', code: ErrorCodes.HOOK_FAILED, message: 'hook task.beforeExecute failed in plugin "buggy": oops' });
  });

  it('notifies settled with the stored record, and beforeSave may enrich every write', async () => {
    const settled: string[] = [];
    const app = makeApp([
      {
        name: 'audit',
        apply(a) {
          a.hooks.storage.beforeSave.tap('audit', (r) => ({ ...r, meta: { ...r.meta, audited: true } }));
          a.hooks.task.settled.tap('audit', (r) => void settled.push(r.status));
        },
      },
    ]);
    const t = app.task('t', () => 1);
    await app.start();
    const rec = await t.addTask([], { timeout: 5_000 });
    expect(rec.meta).toEqual({ audited: true });
    expect(settled).toEqual(['success']);
    expect(new HookError('a.b', 'p', new Error('x')).code).toBe(ErrorCodes.HOOK_FAILED);
  });

  it('never lets a throwing tap stall the worker: the task ends in a state and the next one runs', async () => {
    let failSave = true;
    const app = new QueueTasks({
      name: 'hooks-throwing',
      plugins: [
        {
          name: 'throwing',
          apply(a) {
            a.hooks.broker.receive.tap('throwing', (d) => {
              if (d.message.args[0] === 'receive') throw new Error('receive broke');
              return undefined;
            });
            a.hooks.task.shouldRetry.tap('throwing', () => {
              throw new Error('policy broke');
            });
            a.hooks.storage.beforeSave.tap('throwing', (r) => {
              if (failSave && r.args[0] === 'save') throw new Error('save hook broke');
              return r;
            });
            a.hooks.task.settled.tap('throwing', () => {
              throw new Error('listener broke');
            });
          },
        },
      ],
      config: { logLevel: 'silent', concurrency: 1 },
      globals: false,
    });
    apps.push(app);
    const t = app.task('t', (what: string) => {
      if (what === 'fail') throw new Error('handler failed');
      return what;
    });
    await app.start();
    const received = await t.addTask(['receive'], { timeout: 5_000 });
    expect([received.status, received.error?.code]).toEqual(['dead', ErrorCodes.MALFORMED_MESSAGE]);
    expect(received.reason).toContain('receive broke');
    const failed = await t.addTask(['fail'], { timeout: 5_000 });
    expect([failed.status, failed.error?.message, failed.attempts]).toEqual(['error', 'handler failed', 1]);
    const saved = await t.addTask(['save'], { timeout: 5_000 });
    expect([saved.status, saved.error?.message]).toEqual(['error', 'hook storage.beforeSave failed in plugin "throwing": save hook broke']);
    failSave = false;
    expect((await t.addTask(['fine'], { timeout: 5_000 })).returning).toBe('fine');
  });
});
