/**
 * Sandboxed processors: hard time limits, crashes, memory limits, the context inside the
 * sandbox, and start-time checks. The time-limit and crash cases run on every broker: the
 * sandbox is broker-independent, the lease renewal around it is not.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, QueueTasks, type LoggerLike, type Plugin, type QTasksError, type TaskRecord } from '../../core/index.js';
import { redis } from '../../plugins/redis/index.js';
import { sleep, uniqueName, waitUntil } from '../contracts/helpers.js';
import { RabbitFixture } from '../plugins/rabbitmq-helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';

const processor = (file: string): URL => new URL(`../fixtures/sandbox/${file}`, import.meta.url);

let admin: Redis;
const rabbit = new RabbitFixture();
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  await admin?.quit();
  await rabbit.close();
});

interface BrokerCase {
  readonly name: string;
  plugins(app: string): Plugin[];
  cleanup(apps: readonly string[]): Promise<void>;
}

const brokers: BrokerCase[] = [
  { name: 'memory', plugins: () => [], cleanup: async () => undefined },
  { name: 'redis', plugins: () => [redis({ url: REDIS_URL, blockTimeoutMs: 1_000 })], cleanup: (apps) => deleteAppKeys(admin, apps) },
  { name: 'rabbitmq', plugins: (app) => [rabbit.plugin(app)], cleanup: (apps) => rabbit.cleanup(apps) },
];

const apps: QueueTasks[] = [];
const names: Array<[BrokerCase, string]> = [];
afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
  for (const [broker, name] of names.splice(0)) await broker.cleanup([name]);
});

function makeApp(broker: BrokerCase, config: Record<string, unknown> = {}): QueueTasks {
  const name = uniqueName('sandbox');
  names.push([broker, name]);
  const app = new QueueTasks({ name, plugins: broker.plugins(name), config: { logLevel: 'silent', retryDelayMs: 5, retryMaxDelayMs: 20, ...config }, globals: false, sharedTasks: false });
  apps.push(app);
  return app;
}

async function rejection(p: Promise<unknown>): Promise<QTasksError> {
  try {
    await p;
  } catch (err) {
    return err as QTasksError;
  }
  throw new Error('expected a rejection');
}

const SPIN_MS = 5_000;

describe.each(brokers)('sandbox on $name', (broker) => {
  it.each(['thread', 'process'] as const)('a CPU-bound %s task fails at maxTime, is retried, and 10 ordinary tasks on the same worker never wait on it', async (kind) => {
    const app = makeApp(broker, { concurrency: 12 });
    const cpu = app.task({ name: 'cpu', processor: processor('spin.mjs'), sandbox: kind, maxTime: 100, retry: 1 });
    const quick = app.task('quick', async (n: number) => {
      await sleep(20);
      return n;
    });
    let cpuRuns = 0;
    app.hooks.task.beforeExecute.tap('count', (args, ctx) => {
      if (ctx.name === 'cpu') cpuRuns++;
      return args;
    });
    await app.start();
    const slow = cpu.addTask([SPIN_MS], { timeout: 20_000 });
    await waitUntil(() => cpuRuns >= 1, 'the sandboxed task runs');
    const others = await Promise.all(Array.from({ length: 10 }, (_, i) => quick.addTask([i], { timeout: 20_000 })));
    const rec = await slow;
    expect(rec.status).toBe('error');
    expect(rec.error?.code).toBe(ErrorCodes.TASK_TIMEOUT);
    expect(rec.attempts).toBe(2); // retried once, per its options
    // Each attempt ended far sooner than the spin would have: the sandbox was stopped.
    expect(rec.finishedAt! - rec.startedAt!).toBeLessThan(SPIN_MS);
    expect(rec.finishedAt! - rec.createdAt).toBeLessThan(SPIN_MS);
    for (const o of others) {
      expect(o.status).toBe('success');
      expect(o.finishedAt!).toBeLessThan(rec.createdAt + SPIN_MS);
    }
    // The killed sandboxes were replaced: the task still runs.
    const again = await cpu.addTask([1], { timeout: 20_000 });
    expect(again.error).toBeUndefined();
    expect(again.status).toBe("success");
    expect(again.returning).toEqual({ spun: 1, n: true });
  });

  it.each(['thread', 'process'] as const)('a %s sandbox that crashes is a failed attempt: retried, and replaced', async (kind) => {
    const app = makeApp(broker);
    const flaky = app.task({ name: 'flaky', processor: processor('crash-once.mjs'), sandbox: kind, echo: true, retry: 1 });
    const fragile = app.task({ name: 'fragile', processor: processor('crash-once.mjs'), sandbox: kind, echo: true });
    await app.start();
    const rec = await flaky.addTask([], { timeout: 20_000 });
    expect(rec.status).toBe('success');
    expect(rec.returning).toBe(2);
    expect(rec.attempts).toBe(2);
    const failed = await fragile.addTask([], { timeout: 20_000 });
    expect(failed.status).toBe('error');
    expect(failed.error?.code).toBe(ErrorCodes.SANDBOX_CRASHED);
    expect(failed.error?.message).toContain('code 7');
  });
});

describe('sandbox on memory', () => {
  const memory = brokers[0]!;

  it.each(['thread', 'process'] as const)('a %s sandbox has logger, progress, cancel and signal; the handler error keeps its name', async (kind) => {
    const app = makeApp(memory);
    const lines: Array<[string, unknown, unknown]> = [];
    const capture = (level: string) => (obj: unknown, msg?: unknown) => void lines.push([level, obj, msg]);
    const logger: LoggerLike = { level: 'info', trace: capture('trace'), debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error'), fatal: capture('fatal'), child: () => logger };
    app.hooks.logging.provide.tap('capture', (req) => (req.component === 'Task' ? logger : undefined));
    const progress: unknown[] = [];
    app.hooks.task.progress.tap('progress', (value) => void progress.push(value));
    type Ctx = import('../../core/index.js').SandboxContext;
    const ctxTask = app.task<(ctx: Ctx, mode: string) => Promise<{ name: string; attempt: number; hasApp: boolean }>>({
      name: 'ctx',
      processor: processor('context.mjs'),
      sandbox: kind,
      echo: true,
      maxTime: 300,
      sandboxGraceMs: 200,
    });
    await app.start();
    const ok = await ctxTask.addTask(['ok'], { timeout: 10_000 });
    expect(ok.status).toBe('success');
    expect(ok.returning).toEqual({ name: 'ctx', attempt: 1, hasApp: false });
    expect(lines).toContainEqual(['info', { mode: 'ok', attempt: 1 }, 'in the sandbox']);
    expect(progress).toContainEqual({ step: 1, id: ok.id });
    expect(ok.logs).toEqual(['mode is ok {"attempt":1}']);

    const cancelled = await ctxTask.addTask(['cancel'], { timeout: 10_000 });
    expect(cancelled.status).toBe('cancel');
    expect(cancelled.reason).toBe('not needed');

    const thrown = await ctxTask.addTask(['throw'], { timeout: 10_000 });
    expect(thrown.status).toBe('error');
    expect(thrown.error).toMatchObject({ name: 'TypeError', message: 'bad input in the sandbox' });

    // The soft abort reaches the handler's signal before the sandbox is terminated.
    const aborted = await ctxTask.addTask(['wait-abort'], { timeout: 10_000 });
    expect(aborted.error?.code).toBe(ErrorCodes.TASK_TIMEOUT);
    await waitUntil(() => progress.some((p) => typeof p === 'string' && p.startsWith('aborted: task exceeded its maxTime')), 'the soft abort seen inside');
  });

  it.each(['thread', 'process'] as const)('terminates a %s sandbox that ignores its signal: its work never completes', async (kind) => {
    const app = makeApp(memory);
    const marking = app.task({ name: 'marking', processor: processor('spin-then-mark.mjs'), sandbox: kind, maxTime: 100, sandboxGraceMs: 50 });
    await app.start();
    const file = join(tmpdir(), `${uniqueName('qtasks-sandbox-mark')}.txt`);
    const rec = await marking.addTask([1_000, file], { timeout: 10_000 });
    expect(rec.error?.code).toBe(ErrorCodes.TASK_TIMEOUT);
    await sleep(1_500); // past the moment the spin would have ended and written the file
    expect(existsSync(file)).toBe(false);
  });

  it('a thread over its resourceLimits fails the attempt as out of memory; the worker lives', async () => {
    const app = makeApp(memory);
    const hog = app.task({ name: 'hog', processor: processor('oom.mjs'), resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 } });
    const fine = app.task('fine', () => 'still here');
    await app.start();
    const rec = await hog.addTask([], { timeout: 20_000 });
    expect(rec.status).toBe('error');
    expect(rec.error?.code).toBe(ErrorCodes.SANDBOX_CRASHED);
    expect(rec.error?.message).toContain('out of memory');
    expect((await fine.addTask([], { timeout: 5_000 })).returning).toBe('still here');
  });

  it('a process sandbox over its heap limit fails the attempt', async () => {
    const app = makeApp(memory);
    const hog = app.task({ name: 'hog', processor: processor('oom.mjs'), sandbox: 'process', resourceLimits: { maxOldGenerationSizeMb: 16 } });
    await app.start();
    const rec = await hog.addTask([], { timeout: 20_000 });
    expect(rec.status).toBe('error');
    expect(rec.error?.code).toBe(ErrorCodes.SANDBOX_CRASHED);
  });

  it('kills the whole process group at maxTime: a grandchild the processor spawned dies too', async () => {
    const app = makeApp(memory);
    const progress: unknown[] = [];
    app.hooks.task.progress.tap('progress', (value) => void progress.push(value));
    const spawner = app.task({ name: 'spawner', processor: processor('grandchild.mjs'), sandbox: 'process', echo: true, maxTime: 300, sandboxGraceMs: 50 });
    await app.start();
    const rec = await spawner.addTask([], { timeout: 10_000 });
    expect(rec.error?.code).toBe(ErrorCodes.TASK_TIMEOUT);
    const pid = (progress[0] as { grandchild: number }).grandchild;
    const alive = (): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitUntil(() => !alive(), 'the grandchild is gone', 5_000);
  });

  it('runs up to `concurrency` sandboxes at once, reusing them', async () => {
    const app = makeApp(memory, { concurrency: 2 });
    const where = app.task<() => { pid: number; threadId: number }>({ name: 'where', processor: processor('pid.mjs') });
    await app.start();
    const recs: TaskRecord[] = [];
    for (let round = 0; round < 3; round++) recs.push(...(await Promise.all([where.addTask([], { timeout: 5_000 }), where.addTask([], { timeout: 5_000 })])));
    const threads = new Set(recs.map((r) => (r.returning as { threadId: number }).threadId));
    expect(recs.every((r) => r.status === 'success')).toBe(true);
    expect(threads.size).toBeLessThanOrEqual(2);
  });

  it('refuses at start a processor that does not exist or exports no handler, on workers and producers', async () => {
    const missing = makeApp(memory);
    missing.task({ name: 'missing', processor: processor('nope.mjs'), sandbox: 'process' });
    const err = await rejection(missing.start());
    expect(err.code).toBe(ErrorCodes.SANDBOX_INVALID);
    expect(err.message).toContain('nope.mjs does not exist');

    const producer = makeApp(memory);
    producer.task({ name: 'missing', processor: processor('nope.mjs') });
    expect((await rejection(producer.start({ worker: false }))).code).toBe(ErrorCodes.SANDBOX_INVALID);

    for (const kind of ['thread', 'process'] as const) {
      const empty = makeApp(memory);
      empty.task({ name: 'empty', processor: processor('no-default.mjs'), sandbox: kind });
      const e = await rejection(empty.start());
      expect(e.code).toBe(ErrorCodes.SANDBOX_INVALID);
      expect(e.message).toContain('has no default-exported function (its default export is undefined)');
    }
  });

  it('refuses a handler beside a processor, an unknown sandbox kind, and middlewares', () => {
    const app = makeApp(memory);
    const bad: Array<() => unknown> = [
      () => app.task({ name: 'a', processor: processor('spin.mjs'), sandbox: 'fiber' as 'thread' }),
      () => app.task({ name: 'b', sandbox: 'thread' } as never),
      () => app.task({ name: 'c', processor: processor('spin.mjs'), middlewaresBefore: [() => undefined] }),
      () => app.task({ name: 'd', processor: processor('spin.mjs') } as never, (() => 1) as never),
    ];
    for (const fn of bad) expect(fn).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }));
  });
});

describe('sandbox on redis: the lease', () => {
  it('keeps a CPU-bound sandboxed task leased past leaseMs: it runs once', async () => {
    const app = makeApp(brokers[1]!, { leaseMs: 2_000 });
    const cpu = app.task({ name: 'cpu', processor: processor('spin.mjs'), maxTime: 20_000 });
    await app.start();
    const rec = await cpu.addTask([4_500], { timeout: 20_000 });
    expect(rec.status).toBe('success');
    expect(rec.attempts).toBe(1);
  });
});
