/**
 * The RabbitMQ cancel/start race: a cancel issued while a delivery is being started (its
 * revocation check passed, its handler not yet running) ends the task `cancel`, with exactly one
 * final state: one terminal event, the record never final twice. The cancel is fired from the
 * worker's receive hook, so it lands in that window for every task, many times over; the
 * worker's Redis requests are held (a loopback proxy) until the cancel call returned, so its
 * `process` record lands after whatever the canceller read and wrote.
 */
import net from 'node:net';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import type { CancelFound, TaskEvent } from '../../core/contracts.js';
import { redis } from '../../plugins/redis/index.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';
import { RabbitFixture } from './rabbitmq-helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from './redis-helpers.js';

const fx = new RabbitFixture();
let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  await fx.close();
  await admin?.quit();
});

const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'dead']);

/** Forwards to Redis; while held, what clients send waits in the proxy (the server sees it later). */
class RequestHold {
  readonly #server = net.createServer();
  readonly #held: Array<() => void> = [];
  #holds = 0;

  async start(): Promise<number> {
    const { port, hostname } = new URL(REDIS_URL);
    this.#server.on('connection', (client) => {
      const upstream = net.connect(Number(port || 6379), hostname);
      client.on('data', (b) => (this.#holds > 0 ? this.#held.push(() => upstream.write(b)) : upstream.write(b)));
      upstream.on('data', (b) => client.write(b));
      for (const [a, z] of [[client, upstream], [upstream, client]] as const) {
        a.on('error', () => z.destroy());
        a.on('close', () => z.destroy());
      }
    });
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return (this.#server.address() as net.AddressInfo).port;
  }

  hold(): void {
    this.#holds++;
  }

  release(): void {
    if (--this.#holds > 0) return;
    for (const send of this.#held.splice(0)) send();
  }

  async close(): Promise<void> {
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

describe('rabbitmq: a cancel that arrives while a delivery is being started', () => {
  const names: string[] = [];
  const apps: QueueTasks[] = [];
  afterEach(async () => {
    await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
    await fx.cleanup(names);
    await deleteAppKeys(admin, names.splice(0));
  });

  function makeApp(name: string, url = REDIS_URL): QueueTasks {
    const app = new QueueTasks({ name, plugins: [fx.plugin(name), redis({ url, broker: false })], config: { logLevel: 'silent', concurrency: 4, heartbeatMs: 500 }, globals: false, sharedTasks: false });
    apps.push(app);
    return app;
  }

  it('ends the task cancel, once, every time', async () => {
    const name = uniqueName('race');
    names.push(name);
    const proxy = new RequestHold();
    const port = await proxy.start();
    const canceller = makeApp(name);
    const worker = makeApp(name, `redis://127.0.0.1:${port}`);
    for (const app of [canceller, worker]) {
      // runs until cancelled, or returns after 3 s if the cancel was lost
      app.task({ name: 'slow', echo: true }, async (ctx) => {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 3_000);
          ctx.signal.addEventListener('abort', () => (clearTimeout(t), resolve()));
        });
        return 'ran';
      });
    }
    const answers = new Map<string, Promise<CancelFound>>();
    worker.hooks.broker.receive.tap('cancel at start', (d) => {
      if (answers.has(d.message.id)) return undefined;
      proxy.hold();
      answers.set(d.message.id, canceller.cancel(d.message.id, 'at start').finally(() => proxy.release()));
      return undefined;
    });
    await canceller.start({ worker: false });
    const seen: TaskEvent[] = [];
    canceller.events.on('*', (e) => void seen.push(e));
    await canceller.events.ready();
    await worker.start();
    const ids: string[] = [];
    for (let i = 0; i < 24; i++) ids.push((await canceller.addTask('slow', [])).id);
    const finals = await Promise.all(ids.map((id) => canceller.wait(id, 20_000)));
    expect(answers.size).toBe(ids.length);
    for (const answer of await Promise.all(answers.values())) expect(['queued', 'running']).toContain(answer);
    // the events of a settled task arrive at most a moment after its record: wait for the last ones
    await waitUntil(() => ids.every((id) => seen.some((e) => e.id === id && TERMINAL.has(e.type))), 'a terminal event per task');
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const [k, id] of ids.entries()) {
      expect(finals[k]).toMatchObject({ status: 'cancel', reason: 'at start' });
      expect(seen.filter((e) => e.id === id && TERMINAL.has(e.type)).map((e) => e.type), id).toEqual(['cancelled']);
      expect((await canceller.get(id))?.status).toBe('cancel');
    }
    await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
    await proxy.close();
  });
});
