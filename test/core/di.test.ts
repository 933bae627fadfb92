// Dependency injection with scopes, and State: creation and disposal per scope, dependencies
// between factories, start-time graph checks, failing factories, concurrent state updates.
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { ErrorCodes, QueueTasks, State, type Dependency, type QTasksError } from '../../core/index.js';

const apps: QueueTasks[] = [];
function makeApp(config = {}): QueueTasks {
  const app = new QueueTasks({ name: `di-${apps.length}`, config: { logLevel: 'silent', retryDelayMs: 5, retryMaxDelayMs: 20, ...config }, globals: false, sharedTasks: false });
  apps.push(app);
  return app;
}
afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
});

async function rejection(p: Promise<unknown>): Promise<QTasksError> {
  try {
    await p;
  } catch (err) {
    return err as QTasksError;
  }
  throw new Error('expected a rejection');
}

class Pool {
  closed = false;
  query(sql: string): string {
    if (this.closed) throw new Error('pool closed');
    return `ran ${sql}`;
  }
}

describe('dependencies', () => {
  it('creates app and worker values once, task values per attempt, and disposes each scope', async () => {
    const app = makeApp({ concurrency: 4 });
    const events: string[] = [];
    const pool = app.dependency('pool', {
      scope: 'app',
      create: async () => {
        events.push('pool+');
        return new Pool();
      },
      dispose: (p) => {
        p.closed = true;
        events.push('pool-');
      },
    });
    const cache = app.dependency('cache', { scope: 'worker', create: () => (events.push('cache+'), new Map<string, number>()) });
    let txs = 0;
    const tx = app.dependency('tx', {
      scope: 'task',
      deps: { pool, cache },
      create: async ({ pool: p, cache: c }) => {
        expectTypeOf(p).toEqualTypeOf<Pool>();
        const id = ++txs;
        c.set(`tx${id}`, id);
        return {
          id,
          run: (sql: string) => p.query(sql),
          async [Symbol.asyncDispose]() {
            events.push(`tx${id}-`);
          },
        };
      },
    });
    const job = app.task({ name: 'job', echo: true }, async (ctx, sql: string) => {
      const t = await ctx.use(tx);
      expectTypeOf(t.run).toEqualTypeOf<(sql: string) => string>();
      const again = await ctx.use(tx);
      if (again !== t) throw new Error('one tx per attempt');
      if (sql === 'fail') throw new Error('task failed');
      return t.run(sql);
    });
    await app.start();
    expect(events).toEqual(['pool+', 'cache+']);
    const ok = await job.addTask(['select 1'], { timeout: 5_000 });
    expect(ok.returning).toBe('ran select 1');
    const failed = await job.addTask(['fail'], { timeout: 5_000 });
    expect(failed.status).toBe('error');
    // Each attempt's tx was disposed after it, the failed one too; app and worker values stay.
    expect(events).toEqual(['pool+', 'cache+', 'tx1-', 'tx2-']);
    await app.stop();
    expect(events.slice(-1)).toEqual(['pool-']);
  });

  it('a throwing factory fails the task with its error; the worker lives', async () => {
    const app = makeApp();
    let calls = 0;
    const flaky = app.dependency('flaky', {
      scope: 'task',
      create: async () => {
        if (++calls === 1) throw new Error('connection refused');
        return 'connected';
      },
    });
    const job = app.task({ name: 'job', echo: true }, async (ctx) => ctx.use(flaky));
    await app.start();
    const failed = await job.addTask([], { timeout: 5_000 });
    expect(failed.status).toBe('error');
    expect(failed.error?.message).toBe('connection refused');
    expect((await job.addTask([], { timeout: 5_000 })).returning).toBe('connected');
  });

  it('a cycle, an undeclared dependency or a longer-lived value taking a shorter-lived one fails start', async () => {
    const cyclic = makeApp();
    const deps: Record<string, Dependency<unknown>> = {};
    const a = cyclic.dependency('a', { scope: 'app', deps, create: () => 1 });
    const b = cyclic.dependency('b', { scope: 'app', deps: { a }, create: () => 2 });
    deps.b = b;
    const err = await rejection(cyclic.start());
    expect(err.code).toBe(ErrorCodes.INVALID_OPTION);
    expect(err.message).toBe('dependency cycle: a -> b -> a');

    const scoped = makeApp();
    const perTask = scoped.dependency('per-task', { scope: 'task', create: () => 1 });
    scoped.dependency('global', { scope: 'app', deps: { perTask }, create: ({ perTask: n }) => n });
    expect((await rejection(scoped.start())).message).toContain('"global" (app scope) cannot take "per-task" (task scope)');

    const foreign = makeApp();
    const elsewhere = makeApp().dependency('elsewhere', { scope: 'app', create: () => 1 });
    foreign.dependency('mine', { scope: 'app', deps: { elsewhere }, create: () => 1 });
    expect((await rejection(foreign.start())).message).toContain('its dep "elsewhere" is not declared on this app');
  });

  it('an app-scoped factory that throws fails start', async () => {
    const app = makeApp();
    app.dependency('db', {
      scope: 'app',
      create: () => {
        throw new Error('no database');
      },
    });
    // What the factory threw reaches the caller as the cause of a QTasksError (PLUGIN_FAILED).
    const err = await rejection(app.start());
    expect((err.cause as Error).message).toBe('no database');
    expect(err.message).toContain('no database');
  });
});

describe('State', () => {
  it('is reachable from every task and keeps concurrent updates', async () => {
    const app = makeApp({ concurrency: 10 });
    const hits = app.dependency('hits', { scope: 'app', create: () => new State({ count: 0, last: '' }) });
    const hit = app.task({ name: 'hit', echo: true }, async (ctx, who: string) => {
      const state = await ctx.use(hits);
      const next = await state.update(async (s) => {
        await new Promise((resolve) => setTimeout(resolve, 1)); // an await inside: updates must still not overlap
        return { count: s.count + 1, last: who };
      });
      return next.count;
    });
    await app.start();
    await Promise.all(Array.from({ length: 50 }, (_, i) => hit.addTask([`u${i}`], { timeout: 10_000 })));
    const state = await app.dependencies.app!.get(hits);
    expect(state.get().count).toBe(50);
  });
});

describe('dependency types', () => {
  it('types factories from their deps and ctx.use from the factory', () => {
    expectTypeOf(typed).toBeFunction(); // checked by tsc; never run
  });
});

function typed(): void {
  const app = new QueueTasks({ name: 'di-types', globals: false });
  const pool = app.dependency('pool', { scope: 'app', create: () => new Pool() });
  expectTypeOf(pool).toEqualTypeOf<Dependency<Pool>>();
  const count = app.dependency('count', { scope: 'task', deps: { pool }, create: async ({ pool: p }) => p.query('x').length });
  expectTypeOf(count).toEqualTypeOf<Dependency<number>>();
  app.task({ name: 't', echo: true }, async (ctx) => {
    expectTypeOf(await ctx.use(count)).toEqualTypeOf<number>();
    expectTypeOf(await ctx.use(pool)).toEqualTypeOf<Pool>();
  });
  // @ts-expect-error the factory sees its deps' types
  app.dependency('bad', { scope: 'app', deps: { pool }, create: ({ pool: p }) => p.nope() });
  // @ts-expect-error only app, worker and task scopes
  app.dependency('request', { scope: 'request', create: () => 1 });
}
