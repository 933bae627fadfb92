import { afterEach, describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  NoRetryError,
  QueueTasks,
  RetryLaterError,
  TaskCancelError,
  WaitTimeoutError,
  type QTasksError,
  type TaskContext,
} from '../../core/index.js';
import { gate } from '../contracts/helpers.js';

const apps: QueueTasks[] = [];
function makeApp(config = {}): QueueTasks {
  const app = new QueueTasks({ name: `tasks-${apps.length}`, config: { logLevel: 'silent', retryDelayMs: 5, retryMaxDelayMs: 20, ...config }, globals: false });
  apps.push(app);
  return app;
}
afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
});

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<QTasksError> {
  try {
    if (typeof p === 'function') p();
    else await p;
  } catch (err) {
    return err as QTasksError;
  }
  throw new Error('expected a rejection');
}

class Transient extends Error {}
class VeryTransient extends Transient {}

describe('task options', () => {
  it('retries only errors listed in retryOn, subclasses included', async () => {
    const app = makeApp();
    let a = 0;
    let b = 0;
    const sub = app.task({ name: 'sub', retry: 3, retryOn: [Transient] }, () => {
      if (++a < 3) throw new VeryTransient('again');
      return a;
    });
    const other = app.task({ name: 'other', retry: 3, retryOn: [Transient] }, () => {
      b++;
      throw new TypeError('not transient');
    });
    await app.start();
    expect((await sub.addTask([], { timeout: 5_000 })).returning).toBe(3);
    const failed = await other.addTask([], { timeout: 5_000 });
    expect(failed.status).toBe('error');
    expect(failed.error?.name).toBe('TypeError');
    expect(failed.error?.stack).toContain('not transient');
    expect(b).toBe(1);
  });

  it('fails at maxTime with the signal aborted, not when the handler finally returns', async () => {
    const app = makeApp();
    let aborted: boolean | undefined;
    const slow = app.task({ name: 'slow', maxTime: 50, echo: true }, async (ctx: TaskContext) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
      aborted = ctx.signal.aborted;
      await new Promise(() => undefined); // ignores the signal from here on: the deadline still holds
    });
    await app.start();
    const rec = await slow.addTask([], { timeout: 5_000 });
    expect(rec.status).toBe('error');
    expect(rec.error?.code).toBe(ErrorCodes.TASK_TIMEOUT);
    expect(aborted).toBe(true);
  });

  it('fails an in-process handler that blocks the loop past maxTime, once it returns', async () => {
    const app = makeApp();
    const spin = (ms: number): number => {
      const end = Date.now() + ms;
      let n = 0;
      while (Date.now() < end) n++;
      return n;
    };
    const blocking = app.task({ name: 'blocking', maxTime: 50 }, () => spin(200));
    const blocksThenYields = app.task({ name: 'blocks-then-yields', maxTime: 50 }, async () => {
      spin(200);
      await new Promise((resolve) => setTimeout(resolve, 5));
      return 1;
    });
    const throwsLate = app.task({ name: 'throws-late', maxTime: 50 }, () => {
      spin(200);
      throw new Error('late');
    });
    await app.start();
    for (const h of [blocking, blocksThenYields, throwsLate]) {
      const rec = await h.addTask([], { timeout: 5_000 });
      expect(rec.status, h.name).toBe('error');
      expect(rec.error?.code, h.name).toBe(ErrorCodes.TASK_TIMEOUT);
    }
  });

  it('gives echo handlers their context: id, name, attempt, logger, progress', async () => {
    const app = makeApp();
    const progress: unknown[] = [];
    app.hooks.task.progress.tap('test', (value) => void progress.push(value));
    let seen: Record<string, unknown> = {};
    const t = app.task({ name: 'echo', echo: true }, (ctx, n: number) => {
      ctx.progress(n / 2);
      seen = { id: ctx.id, name: ctx.name, attempt: ctx.attempt, hasLogger: typeof ctx.logger.info === 'function' };
      return n;
    });
    await app.start();
    const rec = await t.addTask([8], { timeout: 5_000 });
    expect(seen).toEqual({ id: rec.id, name: 'echo', attempt: 1, hasLogger: true });
    expect(progress).toEqual([4]);
  });

  it('collects generator values through generateHandler and reports each while running', async () => {
    const app = makeApp();
    const live: unknown[] = [];
    app.hooks.task.progress.tap('test', (value) => void live.push(value));
    const gen = app.task({ name: 'gen', generateHandler: (v: number) => v * 10 }, async function* (n: number) {
      for (let i = 1; i <= n; i++) yield i;
    });
    const sync = app.task('sync-gen', function* () {
      yield 'a';
      yield 'b';
    });
    await app.start();
    expect((await gen.addTask([3], { timeout: 5_000 })).returning).toEqual([10, 20, 30]);
    expect(live).toEqual([10, 20, 30]);
    expect(await sync.run([], { timeout: 5_000 })).toEqual(['a', 'b']);
  });

  it('runs middlewares before and after, and an after middleware may replace the result', async () => {
    const app = makeApp();
    const trail: string[] = [];
    const t = app.task(
      {
        name: 'mw',
        middlewaresBefore: [(ctx) => void trail.push(`before ${ctx.name}`)],
        middlewaresAfter: [(_ctx, result) => (trail.push(`after ${String(result)}`), `${String(result)}!`)],
      },
      () => (trail.push('run'), 'done'),
    );
    await app.start();
    expect((await t.addTask([], { timeout: 5_000 })).returning).toBe('done!');
    expect(trail).toEqual(['before mw', 'run', 'after done']);
  });

  it('cancels through ctx.cancel and TaskCancelError, never retried', async () => {
    const app = makeApp();
    let runs = 0;
    const a = app.task({ name: 'a', echo: true, retry: 3 }, (ctx) => {
      runs++;
      ctx.cancel('not needed');
    });
    const b = app.task({ name: 'b', retry: 3 }, () => {
      throw new TaskCancelError('user asked');
    });
    await app.start();
    const ra = await a.addTask([], { timeout: 5_000 });
    expect([ra.status, ra.reason, runs]).toEqual(['cancel', 'not needed', 1]);
    expect((await b.addTask([], { timeout: 5_000 })).reason).toBe('user asked');
  });

  it('honours NoRetryError and RetryLaterError', async () => {
    const app = makeApp();
    let n = 0;
    const never = app.task({ name: 'never', retry: 5 }, () => {
      n++;
      throw new NoRetryError('give up');
    });
    let m = 0;
    const later = app.task({ name: 'later', retry: 1 }, () => {
      if (++m === 1) throw new RetryLaterError(30);
      return 'later';
    });
    await app.start();
    expect((await never.addTask([], { timeout: 5_000 })).status).toBe('error');
    expect(n).toBe(1);
    const rec = await later.addTask([], { timeout: 5_000 });
    expect([rec.status, rec.attempts]).toEqual(['success', 2]);
  });

  it('applies the task default priority and queue, and a per-call override', async () => {
    const app = makeApp({ queues: [] });
    const t = app.task({ name: 'q', queue: 'emails', priority: 7 }, () => 'sent');
    await app.start();
    const rec = await t.addTask([], { timeout: 5_000 });
    expect([rec.queue, rec.priority, rec.returning]).toEqual(['emails', 7, 'sent']);
    expect((await t.addTask([], { priority: -1 })).priority).toBe(-1);
  });

  it('rejects a wait past its timeout with the task id, while the task keeps running', async () => {
    const app = makeApp();
    const g = gate();
    const t = app.task('t', async () => {
      await g.promise;
      return 'late';
    });
    await app.start();
    const err = (await rejection(t.addTask([], { timeout: 30 }))) as WaitTimeoutError;
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect(err.code).toBe(ErrorCodes.WAIT_TIMEOUT);
    g.open();
    expect((await app.wait(err.taskId, 5_000)).returning).toBe('late');
  });
});

describe('bad input', () => {
  it('rejects args that are not JSON-serializable, naming the task and the place', async () => {
    const app = makeApp();
    const t = app.task('j', (_x: unknown) => 1);
    await app.start();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const cases: unknown[] = [() => 1, 10n, cyclic, new Map(), undefined, Number.NaN, Symbol('s'), new Date(0), Buffer.from('x'), { toJSON: () => 1 }];
    for (const value of cases) {
      const err = await rejection(t.addTask([value]));
      expect(err.code).toBe(ErrorCodes.INVALID_ARGS);
      expect(err.message).toContain('task "j"');
      expect(err.message).toContain('args[0]');
    }
    expect((await t.addTask([{ when: new Date(0).toISOString(), list: [1, 'a', null] }], { timeout: 5_000 })).status).toBe('success');
    expect((await rejection(app.addTask('j', 'nope' as unknown as unknown[]))).code).toBe(ErrorCodes.INVALID_ARGS);
    // A cycle deep inside, and deep nesting without one: the first is named, the second is fine.
    let deep: unknown = 'leaf';
    for (let i = 0; i < 200; i++) deep = [deep];
    expect((await t.addTask([deep], { timeout: 5_000 })).status).toBe('success');
    const ring: unknown[] = [];
    let inner: unknown[] = ring;
    for (let i = 0; i < 100; i++) inner = [inner];
    ring.push({ loop: inner });
    const err = await rejection(t.addTask([ring]));
    expect(err.code).toBe(ErrorCodes.INVALID_ARGS);
    expect(err.message).toMatch(/args\[0\]\[0\]\.loop(\[0\])+ is a circular reference/);
  });

  it('rejects negative and NaN timeouts and delays, and a non-finite priority', async () => {
    const app = makeApp();
    const t = app.task('n', () => 1);
    await app.start();
    for (const options of [{ timeout: -1 }, { timeout: Number.NaN }, { delay: -5 }, { priority: Number.POSITIVE_INFINITY }]) {
      const err = await rejection(t.addTask([], options));
      expect(err.code).toBe(ErrorCodes.INVALID_OPTION);
      expect(err.message).toContain('task "n"');
    }
  });

  it('rejects bad task options and names at registration', async () => {
    const app = makeApp();
    expect((await rejection(() => app.task('', () => 1))).code).toBe(ErrorCodes.INVALID_OPTION);
    expect((await rejection(() => app.task({ name: 'r', retry: -1 }, () => 1))).code).toBe(ErrorCodes.INVALID_OPTION);
    expect((await rejection(() => app.task({ name: 'm', maxTime: 0 }, () => 1))).code).toBe(ErrorCodes.INVALID_OPTION);
    app.task('dup', () => 1);
    expect((await rejection(() => app.task('dup', () => 2))).code).toBe(ErrorCodes.DUPLICATE_TASK);
  });

  it('accepts task names with any characters, colons included', async () => {
    const app = makeApp();
    const names = ['a:b:c', 'emails/send', 'ünïcødé ✓', '{braces}', 'with spaces'];
    const handles = names.map((n) => app.task(n, () => n));
    await app.start();
    for (const h of handles) expect((await h.addTask([], { timeout: 5_000 })).returning).toBe(h.name);
  });

  it('wraps a thrown non-Error, and neither it nor a crashing handler stops other tasks', async () => {
    const app = makeApp({ concurrency: 2 });
    const str = app.task('str', () => {
      throw 'just a string';
    });
    const obj = app.task('obj', async () => Promise.reject({ reason: 42 }));
    const nothing = app.task('undef', () => {
      throw undefined;
    });
    const ok = app.task('ok', (n: number) => n);
    await app.start();
    const results = await Promise.all([str.addTask([], { timeout: 5_000 }), obj.addTask([], { timeout: 5_000 }), nothing.addTask([], { timeout: 5_000 }), ok.addTask([1], { timeout: 5_000 })]);
    expect(results.map((r) => r.status)).toEqual(['error', 'error', 'error', 'success']);
    expect(results[0]!.error).toMatchObject({ code: ErrorCodes.NON_ERROR_THROWN, message: 'non-Error thrown: just a string' });
    expect(results[1]!.error?.message).toBe('non-Error thrown: {"reason":42}');
  });

  it('fails a task whose result is not plain JSON, naming the place, and keeps going', async () => {
    const app = makeApp();
    const results: Record<string, unknown> = { bigint: 10n, map: new Map(), fn: () => 1, nested: { list: [1, Number.NaN] }, set: { s: new Set([1]) }, date: { when: new Date(0) } };
    const handles = Object.entries(results).map(([name, value]) => app.task(name, () => value));
    const ok = app.task('fine', () => ({ list: [1, 'a', null], when: new Date(0).toISOString() }));
    const none = app.task('none', () => undefined);
    await app.start();
    const messages: string[] = [];
    for (const h of handles) {
      const rec = await h.addTask([], { timeout: 5_000 });
      expect(rec.status).toBe('error');
      expect(rec.error?.code).toBe(ErrorCodes.INVALID_RESULT);
      messages.push(rec.error!.message.split(': ').pop()!);
    }
    expect(messages).toEqual(['result is a bigint', 'result is a Map', 'result is a function', 'result.list[1] is NaN', 'result.s is a Set', 'result.when is a Date']);
    expect((await ok.addTask([], { timeout: 5_000 })).status).toBe('success');
    expect((await none.addTask([], { timeout: 5_000 })).status).toBe('success');
  });
});
