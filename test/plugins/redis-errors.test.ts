/**
 * What the Redis plugin tells its callers when Redis is not there or not what the URL says:
 * every failure a QTasksError with a code, the driver's error kept as `cause`.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { ErrorCodes, QTasksError } from '../../core/errors.js';
import { redis, type RedisPluginOptions } from '../../plugins/redis/index.js';
import { uniqueName } from '../contracts/helpers.js';
import { HoldingProxy } from '../support/holding-proxy.js';
import { REDIS_URL, suiteApps } from './redis-helpers.js';

const { apps, names } = suiteApps();

function makeApp(options: RedisPluginOptions, config: Record<string, unknown> = {}): QueueTasks {
  const name = uniqueName('err');
  names.push(name);
  const a = new QueueTasks({ name, plugins: [redis(options)], config: { logLevel: 'silent', ...config }, globals: false, sharedTasks: false });
  apps.push(a);
  return a;
}

describe('redis plugin: errors during an outage', () => {
  it('addTask, get and wait reject with BROKER_UNAVAILABLE and the driver error as cause once ioredis gives up', async () => {
    const proxy = await HoldingProxy.start(Number(new URL(REDIS_URL).port || 6379));
    // Few retries, quickly: ioredis gives up on a request after one failed reconnect.
    const a = makeApp({ url: `redis://127.0.0.1:${proxy.port}`, redisOptions: { maxRetriesPerRequest: 1, retryStrategy: () => 20 } });
    a.task('t', () => 1);
    await a.start({ worker: false });
    const rec = await a.addTask('t', []);
    await proxy.close(); // the server is gone: connections drop, reconnects are refused
    for (const call of [() => a.addTask('t', []), () => a.get(rec.id), () => a.addTask('t', [], { timeout: 1_000 })]) {
      const err: unknown = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(QTasksError);
      expect(err).toMatchObject({ code: ErrorCodes.BROKER_UNAVAILABLE });
      expect((err as Error).cause).toBeInstanceOf(Error);
      expect((err as Error).cause).not.toBeInstanceOf(QTasksError);
    }
  });
});

describe('redis plugin: a URL the server cannot honour fails start', () => {
  it('a database index out of range: CONNECTION_FAILED naming the index, not a silent database 0', async () => {
    const url = new URL(REDIS_URL);
    url.pathname = '/9999';
    const a = makeApp({ url: url.toString() });
    const err = await a.start({ worker: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: ErrorCodes.CONNECTION_FAILED });
    expect((err as Error).message).toMatch(/database 9999/);
    expect((err as Error).cause).toBeInstanceOf(Error);
  });

  it('a database index that is not a number: INVALID_OPTION from redis()', () => {
    expect(() => redis({ url: 'redis://127.0.0.1:6379/abc' })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }));
  });

  describe('rediss:// against a plaintext server', () => {
    // A server that reads and never answers, as Redis does with a TLS hello that has no newline
    // (and the real server, for a hello that has one, answers with an error: both cases).
    let silent: Server;
    const sockets = new Set<Socket>();
    beforeAll(async () => {
      silent = createServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    });
    afterAll(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });

    it.each([
      ['a server that never answers the handshake', () => `rediss://127.0.0.1:${(silent.address() as { port: number }).port}`],
      ['the real Redis on its plaintext port', () => REDIS_URL.replace(/^redis:/, 'rediss:')],
    ])('%s: CONNECTION_FAILED about TLS, well before the start timeout', async (_what, url) => {
      const a = makeApp({ url: url(), redisOptions: { tls: { rejectUnauthorized: false } } }, { startTimeoutMs: 8_000 });
      const started = Date.now();
      const err = await a.start({ worker: false }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: ErrorCodes.CONNECTION_FAILED });
      expect((err as Error).message).toMatch(/TLS/);
      expect(Date.now() - started).toBeLessThan(7_000);
    });
  });
});
