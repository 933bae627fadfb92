import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, QueueTasks, STAGE_FIRST, STAGE_LAST, type Plugin, type QTasksError } from '../../core/index.js';
import { gate } from '../contracts/helpers.js';

const apps: QueueTasks[] = [];
function makeApp(plugins: Plugin[] = [], config = {}): QueueTasks {
  const app = new QueueTasks({ name: `life-${apps.length}`, plugins, config: { logLevel: 'silent', ...config }, globals: false });
  apps.push(app);
  return app;
}
afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
});

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    if (typeof p === 'function') p();
    else await p;
  } catch (err) {
    return (err as QTasksError).code;
  }
  return undefined;
}

describe('lifecycle', () => {
  it('goes created → starting → started → stopping → stopped, idempotently', async () => {
    const seen: string[] = [];
    const app = makeApp([
      {
        name: 'watch',
        apply(a) {
          a.hooks.lifecycle.start.tapPromise('watch', async () => void seen.push(a.state));
          a.hooks.lifecycle.stop.tapPromise('watch', async () => void seen.push(a.state));
        },
      },
    ]);
    expect(app.state).toBe('created');
    const [p1, p2] = [app.start(), app.start()];
    expect(p1).toBe(p2);
    await p1;
    expect(app.state).toBe('started');
    await Promise.all([app.stop(), app.stop()]);
    await app.stop();
    expect(app.state).toBe('stopped');
    expect(seen).toEqual(['starting', 'stopping']);
    expect(await codeOf(app.start())).toBe(ErrorCodes.STOPPED);
  });

  it('refuses plugins, taps and tasks after start, and duplicate plugin names', async () => {
    const p: Plugin = { name: 'p', apply() {} };
    const app = makeApp([p]);
    expect(await codeOf(() => app.use({ name: 'p', apply() {} }))).toBe(ErrorCodes.DUPLICATE_PLUGIN);
    expect(await codeOf(() => app.use({ name: 'needs', dependencies: ['absent'], apply() {} }))).toBe(ErrorCodes.PLUGIN_DEPENDENCY);
    await app.start();
    expect(await codeOf(() => app.use({ name: 'late', apply() {} }))).toBe(ErrorCodes.ALREADY_STARTED);
    expect(await codeOf(() => app.hooks.task.settled.tap('late', () => undefined))).toBe(ErrorCodes.ALREADY_STARTED);
    expect(app.hooks.task.settled.taps).toHaveLength(0);
    expect(await codeOf(() => app.task('late', () => 1))).toBe(ErrorCodes.ALREADY_STARTED);
  });

  it('stops in reverse order, runs every stop tap even when some fail, and reports them together', async () => {
    const order: string[] = [];
    const plugin = (name: string, stage: number, fail: boolean): Plugin => ({
      name,
      apply(a) {
        a.hooks.lifecycle.start.tapPromise({ name, stage }, async () => void order.push(`start ${name}`));
        a.hooks.lifecycle.stop.tapPromise({ name, stage }, async () => {
          order.push(`stop ${name}`);
          if (fail) throw new Error(`${name} broke`);
        });
      },
    });
    const app = makeApp([plugin('conn', STAGE_FIRST, true), plugin('svc', 0, false), plugin('consumer', STAGE_LAST, true)]);
    await app.start();
    const err = (await app.stop().catch((e: unknown) => e)) as QTasksError & { errors: Error[] };
    expect(order).toEqual(['start conn', 'start svc', 'start consumer', 'stop consumer', 'stop svc', 'stop conn']);
    expect(err.code).toBe(ErrorCodes.STOP_FAILED);
    expect(err.errors.map((e) => (e as QTasksError).code)).toEqual([ErrorCodes.HOOK_FAILED, ErrorCodes.HOOK_FAILED]);
    expect(err.errors.map((e) => e.message)).toEqual([
      'hook lifecycle.stop failed in plugin "consumer": consumer broke',
      'hook lifecycle.stop failed in plugin "conn": conn broke',
    ]);
    expect(app.state).toBe('stopped');
  });

  it('fails start when a start tap throws, naming the plugin, and releases what started', async () => {
    let stopped = false;
    const app = makeApp([
      { name: 'bad', apply: (a) => a.hooks.lifecycle.start.tapPromise('bad', async () => Promise.reject(new Error('no'))) },
      { name: 'ok', apply: (a) => a.hooks.lifecycle.stop.tapPromise('ok', async () => void (stopped = true)) },
    ]);
    const err = (await app.start().catch((e: unknown) => e)) as QTasksError & { plugin: string };
    expect(err.code).toBe(ErrorCodes.HOOK_FAILED);
    expect(err.plugin).toBe('bad');
    expect(stopped).toBe(true);
    expect(app.state).toBe('stopped');
  });

  it('times a hanging stop step out, reports it, and still runs the rest', async () => {
    let later = false;
    const app = makeApp(
      [
        { name: 'later', apply: (a) => a.hooks.lifecycle.stop.tapPromise('later', async () => void (later = true)) },
        { name: 'hangs', apply: (a) => a.hooks.lifecycle.stop.tapPromise('hangs', () => new Promise<void>(() => undefined)) },
      ],
      { stepTimeoutMs: 50 },
    );
    await app.start();
    const err = (await app.stop().catch((e: unknown) => e)) as QTasksError & { errors: QTasksError[] };
    expect(err.errors.map((e) => e.code)).toEqual([ErrorCodes.LIFECYCLE_TIMEOUT]);
    expect(err.errors[0]!.message).toContain('"hangs"');
    expect(later).toBe(true);
    expect(app.state).toBe('stopped');
  });

  it('notifies stopped after a failed start too', async () => {
    const app = makeApp([{ name: 'bad', apply: (a) => a.hooks.lifecycle.start.tapPromise('bad', async () => Promise.reject(new Error('no'))) }]);
    let stopped = 0;
    app.hooks.lifecycle.stopped.tap('watch', () => void stopped++);
    await app.start().catch(() => undefined);
    expect([app.state, stopped]).toEqual(['stopped', 1]);
  });

  it('times a hanging start step out', async () => {
    const app = makeApp([], { startTimeoutMs: 50 });
    app.hooks.broker.provide.tap('hang', () => ({
      name: 'hang',
      start: () => new Promise<void>(() => undefined),
      publish: async () => undefined,
      consume: async () => undefined,
      pause: async () => undefined,
      ack: async () => true,
      retry: async () => true,
      deadLetter: async () => true,
      deadLetters: async () => [],
      stop: async () => undefined,
    }));
    expect(await codeOf(app.start())).toBe(ErrorCodes.LIFECYCLE_TIMEOUT);
  });

  it('needs start before addTask, get and wait', async () => {
    const app = makeApp();
    app.task('t', () => 1);
    expect(await codeOf(app.addTask('t', []))).toBe(ErrorCodes.NOT_STARTED);
    expect(await codeOf(app.get('x'))).toBe(ErrorCodes.NOT_STARTED);
  });

  it('drains running tasks on stop, and abandons them to redelivery past the grace period', async () => {
    const app = makeApp([], { stopTimeoutMs: 2_000 });
    const g = gate();
    let finished = false;
    const t = app.task('t', async () => {
      g.open();
      await new Promise((r) => setTimeout(r, 100));
      finished = true;
    });
    await app.start();
    const rec = await t.addTask([]);
    await g.promise;
    await app.stop();
    expect(finished).toBe(true);
    void rec;

    const impatient = makeApp([], { stopTimeoutMs: 30 });
    const started = gate();
    let signal: AbortSignal | undefined;
    const hang = impatient.task({ name: 'hang', echo: true }, async (ctx) => {
      signal = ctx.signal;
      started.open();
      await new Promise(() => undefined);
    });
    await impatient.start();
    await hang.addTask([]);
    await started.promise;
    await impatient.stop();
    expect(signal?.aborted).toBe(true);
  });

  it('supports await using (Symbol.asyncDispose)', async () => {
    let app: QueueTasks;
    {
      await using a = new QueueTasks({ name: 'dispose', config: { logLevel: 'silent' }, globals: false });
      app = a;
      await a.start();
    }
    expect(app.state).toBe('stopped');
  });

  it('runForever starts a worker and stops on a signal', async () => {
    const app = makeApp();
    const t = app.task('t', () => 'ran');
    const running = app.runForever({ signals: ['SIGUSR2'] });
    while (app.state !== 'started') await new Promise((r) => setTimeout(r, 5));
    expect((await t.addTask([], { timeout: 5_000 })).returning).toBe('ran');
    process.emit('SIGUSR2', 'SIGUSR2');
    await running;
    expect(app.state).toBe('stopped');
  });

  it('says whether a worker is alive (ping) and keeps a shared key-value store', async () => {
    const producer = makeApp();
    await producer.start({ worker: false });
    expect(await producer.ping()).toBe(false);
    await producer.globalConfig.set('k', 'v');
    expect(await producer.globalConfig.get('k')).toBe('v');
    const worker = makeApp();
    await worker.start();
    expect(await worker.ping()).toBe(true);
  });
});
