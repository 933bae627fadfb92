/**
 * Hostile input against the RabbitMQ plugin on the shared server: names the driver cannot encode,
 * messages over the broker's size limit, servers that refuse the connection, and what a dead
 * letter keeps of a malformed message.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import type { Config } from '../../core/config.js';
import { ErrorCodes, QTasksError } from '../../core/errors.js';
import type { Plugin } from '../../core/plugin.js';
import { memory } from '../../plugins/memory/index.js';
import { pino } from '../../plugins/pino/index.js';
import { rabbitmq } from '../../plugins/rabbitmq/index.js';
import { LogSink } from '../support/log-sink.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';
import { HoldingProxy } from '../support/holding-proxy.js';
import { AMQP_URL, RabbitFixture } from './rabbitmq-helpers.js';

const fx = new RabbitFixture();
afterAll(() => fx.close());

const BASE: Partial<Config> = { logLevel: 'silent', retryDelayMs: 20, retryMaxDelayMs: 50, stopTimeoutMs: 2_000 };
const apps: QueueTasks[] = [];
const names = new Set<string>();
afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
  await fx.cleanup([...names]);
  names.clear();
});

function make(name: string, plugins: Plugin[], config: Partial<Config> = {}): QueueTasks {
  names.add(name);
  const app = new QueueTasks({ name, plugins, config: { ...BASE, ...config }, globals: false, sharedTasks: false });
  apps.push(app);
  return app;
}

async function rejection(p: Promise<unknown>): Promise<QTasksError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(QTasksError);
  return err as QTasksError;
}

describe('names the driver cannot take', () => {
  it('refuses a queue name over 255 bytes with INVALID_OPTION, and every later declaration still works promptly', async () => {
    const name = uniqueName('names');
    const app = make(name, [fx.plugin(name, { publishTimeoutMs: 3_000 })], { concurrency: 2 });
    let flaky = 0;
    app.task('t', (n: number) => n + 1);
    app.task({ name: 'flaky', retry: 2 }, () => {
      if (flaky++ === 0) throw new Error('first run fails');
      return 'ok';
    });
    await app.start();

    const err = await rejection(app.addTask('t', [1], { queue: 'x'.repeat(300) }));
    expect(err.code).toBe(ErrorCodes.INVALID_OPTION);
    const badMessage = err.message;
    // Multi-byte characters count in bytes, as AMQP does.
    expect((await rejection(app.addTask('t', [1], { queue: 'é'.repeat(120) }))).code).toBe(ErrorCodes.INVALID_OPTION);

    const started = Date.now();
    // A queue not yet declared, a delayed task (a delay queue) and a retry (another delay queue).
    await app.addTask('t', [1], { queue: 'fresh' });
    expect((await app.addTask('t', [2], { delay: 50, timeout: 5_000 })).returning).toBe(3);
    expect((await app.addTask('flaky', [], { timeout: 5_000 })).returning).toBe('ok');
    expect(flaky).toBe(2);
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(badMessage).toMatch(/queue name/);
  });

  it('bounds every declaration by publishTimeoutMs: a declaration whose reply never comes fails, and later ones still work', async () => {
    const proxy = await HoldingProxy.start(Number(new URL(AMQP_URL).port || 5672));
    try {
      const name = uniqueName('decl');
      const plugin = fx.plugin(name, { url: AMQP_URL.replace(/:\d+$/, `:${proxy.port}`), publishTimeoutMs: 600 });
      const app = make(name, [plugin, memory({ broker: false })]);
      await app.start({ worker: false });
      proxy.hold(plugin.connectionNames()[0]!);
      const started = Date.now();
      const err = await rejection(app.addTask('t', [1], { queue: 'never-answered' }));
      expect(err.code).toBe(ErrorCodes.CONNECTION_CLOSED);
      expect(err.message).toMatch(/declaring .*never-answered/);
      expect(Date.now() - started).toBeLessThan(5_000);
      // Reading the dead letters has the same bound.
      const listing = await rejection(app.broker.deadLetters(10));
      expect(listing.code).toBe(ErrorCodes.CONNECTION_CLOSED);
      expect(listing.message).toMatch(/dead letters/);
      proxy.release();
      // The declaration channel was retired, not left waiting: the same queue declares now.
      expect((await app.addTask('t', [1], { queue: 'never-answered' })).status).toBe('new');
      expect((await app.addTask('t', [1], { delay: 10_000 })).status).toBe('new');
      await app.stop();
    } finally {
      await proxy.close();
    }
  });

  it('refuses a worker whose task queue name is too long at start, not in the driver', async () => {
    const name = uniqueName('names');
    const app = make(name, [fx.plugin(name)]);
    app.task({ name: 't', queue: 'q'.repeat(260) }, () => 1);
    const err = await rejection(app.start());
    expect(JSON.stringify([err.code, (err.cause as QTasksError | undefined)?.code])).toContain(ErrorCodes.INVALID_OPTION);
  });

  it('refuses a prefix and app name that leave no room for queue names', () => {
    const build = (): QueueTasks => new QueueTasks({ name: 'a'.repeat(230), plugins: [rabbitmq({ url: AMQP_URL })], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
    expect(build).toThrow(QTasksError);
    expect(build).toThrow(/255 bytes/);
    expect(() => rabbitmq({ url: AMQP_URL, prefix: 'p'.repeat(240) })).toThrow(/prefix/);
  });
});

describe('messages over the broker\'s size limit', () => {
  it('a 150 MB argument fails at once with INVALID_ARGS, and the link is not rebuilt', async () => {
    const name = uniqueName('big');
    const sink = new LogSink();
    const app = make(name, [fx.plugin(name), memory({ broker: false }), pino({ level: 'warn', destination: sink })]);
    app.task('t', (s: string) => s.length);
    await app.start();
    const started = Date.now();
    const err = await rejection(app.addTask('t', ['x'.repeat(150 * 1024 * 1024)]));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err.code).toBe(ErrorCodes.INVALID_ARGS);
    expect(err.message).toMatch(/max message size of 134217728 bytes/);
    expect((await app.addTask('t', ['ok'], { timeout: 5_000 })).returning).toBe(2);
    expect(sink.withMsg('rabbitmq link lost')).toEqual([]);
  });

  it('maxMessageBytes sets the limit', async () => {
    const name = uniqueName('big');
    const app = make(name, [fx.plugin(name, { maxMessageBytes: 1_000 }), memory({ broker: false })]);
    await app.start({ worker: false });
    expect((await rejection(app.addTask('t', ['x'.repeat(1_000)]))).code).toBe(ErrorCodes.INVALID_ARGS);
    expect((await app.addTask('t', ['x'.repeat(900)])).status).toBe('new');
    expect(() => rabbitmq({ url: AMQP_URL, maxMessageBytes: 0 })).toThrow(/maxMessageBytes/);
  });
});

describe('results over the broker\'s size limit (RabbitMQ alone: results travel as replies)', () => {
  it('a result too large for its reply ends the task in error with INVALID_RESULT, after one run', async () => {
    const name = uniqueName('bigres');
    const producer = make(name, [fx.plugin(name, { maxMessageBytes: 4_000 })]);
    await producer.start({ worker: false });
    const worker = make(name, [fx.plugin(name, { maxMessageBytes: 4_000 })]);
    let runs = 0;
    worker.task({ name: 't', retry: 2 }, (n: number) => {
      runs++;
      return 'y'.repeat(n);
    });
    await worker.start();
    expect((await producer.addTask('t', [10], { timeout: 10_000 })).returning).toBe('y'.repeat(10));
    const record = await producer.addTask('t', [5_000], { timeout: 10_000 });
    expect(record.status).toBe('error');
    expect(record.error?.code).toBe(ErrorCodes.INVALID_RESULT);
    expect(record.error?.message).toMatch(/max message size of 4000 bytes/);
    expect(runs).toBe(2);
  });
});

describe('a server that refuses the connection', () => {
  it('fails start promptly with CONNECTION_FAILED, keeping the driver error as cause: nothing listening, a bad password', async () => {
    const refused = make(uniqueName('conn'), [rabbitmq({ url: 'amqp://guest:guest@127.0.0.1:1' })], { startTimeoutMs: 20_000 });
    const bad = new URL(AMQP_URL);
    bad.password = 'not-the-password';
    const denied = make(uniqueName('conn'), [rabbitmq({ url: bad.toString() })], { startTimeoutMs: 20_000 });
    const started = Date.now();
    const [a, b] = await Promise.all([rejection(refused.start()), rejection(denied.start())]);
    expect(Date.now() - started).toBeLessThan(10_000);
    for (const err of [a, b]) {
      const failed = err.code === ErrorCodes.CONNECTION_FAILED ? err : (err.cause as QTasksError);
      expect(failed.code).toBe(ErrorCodes.CONNECTION_FAILED);
      expect(failed.cause).toBeInstanceOf(Error);
      expect(failed.cause).not.toBeInstanceOf(QTasksError);
      expect(failed.message).not.toContain('not-the-password');
    }
    const failedOf = (err: QTasksError): QTasksError => (err.code === ErrorCodes.CONNECTION_FAILED ? err : (err.cause as QTasksError));
    expect(failedOf(a).message).toMatch(/127\.0\.0\.1:1/);
    expect(failedOf(b).message).toMatch(/credentials/);
    expect(refused.state).toBe('stopped');
    expect(denied.state).toBe('stopped');
  });
});

describe('dead letters keep what is known', () => {
  it('a malformed message dead-lettered by the worker keeps its AMQP message id', async () => {
    const name = uniqueName('dlid');
    const app = make(name, [fx.plugin(name), memory({ broker: false })]);
    app.task('t', (n: number) => n);
    await app.start();
    await fx.inject(name, app.config.defaultQueue, '{not json', { messageId: 'foreign-1' });
    await fx.inject(name, app.config.defaultQueue, JSON.stringify([1, 't']), { messageId: 'foreign-2' });
    const letters = await waitUntil(async () => {
      const all = await app.broker.deadLetters(10);
      return all.length >= 2 ? all : undefined;
    }, 'two dead letters');
    expect(letters.map((l) => l.id).sort()).toEqual(['foreign-1', 'foreign-2']);
    expect(letters.every((l) => l.reason.startsWith('malformed message'))).toBe(true);
  });
});
