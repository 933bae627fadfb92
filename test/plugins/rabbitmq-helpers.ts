/**
 * Shared by the RabbitMQ test files: the real server on loopback, an admin connection for
 * injecting and cleaning up, and closing ONE of our connections from the server side.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqp, { type ChannelModel, type RecoveringChannelModel } from 'amqplib';
import { rabbitmq, type RabbitMQOptions, type RabbitMQPlugin } from '../../plugins/rabbitmq/index.js';
import { Topology } from '../../plugins/rabbitmq/topology.js';

export const AMQP_URL = process.env.QTASKS_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const TEST_PREFIX = 'qtasks-test';

const run = promisify(execFile);

/** Creates plugins and remembers them per app name, so cleanup can find what each declared. */
export class RabbitFixture {
  readonly #plugins = new Map<string, RabbitMQPlugin[]>();
  #admin: Promise<ChannelModel> | undefined;

  plugin(appName: string, options: Omit<RabbitMQOptions, 'connection'> & { connection?: ChannelModel | RecoveringChannelModel } = {}): RabbitMQPlugin {
    const p = rabbitmq({ ...(options.connection === undefined ? { url: AMQP_URL } : {}), prefix: TEST_PREFIX, reconnect: { initialDelayMs: 50, maxDelayMs: 500 }, ...options });
    const list = this.#plugins.get(appName) ?? [];
    list.push(p);
    this.#plugins.set(appName, list);
    return p;
  }

  plugins(appName: string): RabbitMQPlugin[] {
    return this.#plugins.get(appName) ?? [];
  }

  /** A connection of our own; fails loudly when the server is not there. */
  admin(): Promise<ChannelModel> {
    this.#admin ??= amqp.connect(AMQP_URL, { clientProperties: { connection_name: `${TEST_PREFIX}-admin-${process.pid}` } }).then((c) => {
      c.on('error', () => undefined);
      return c;
    });
    return this.#admin;
  }

  /** Publishes a raw payload onto the app's work queue, as a foreign producer would. */
  async inject(appName: string, queue: string, payload: string, properties: amqp.Options.Publish = {}): Promise<void> {
    const conn = await this.admin();
    const ch = await conn.createConfirmChannel();
    const topo = new Topology({ prefix: TEST_PREFIX, appName, queueType: 'classic', maxPriority: 5, classicVersion: 2 });
    await new Promise<void>((resolve, reject) => ch.sendToQueue(topo.workQueue(queue), Buffer.from(payload), { persistent: true, ...properties }, (err) => (err ? reject(err) : resolve())));
    await ch.close();
  }

  /** Deletes every queue and exchange the apps of `appNames` declared. */
  async cleanup(appNames: readonly string[]): Promise<void> {
    const conn = await this.admin();
    for (const name of appNames) {
      for (const p of this.#plugins.get(name) ?? []) {
        for (const q of p.declaredQueues()) {
          const ch = await conn.createChannel();
          ch.on('error', () => undefined);
          await ch.deleteQueue(q).catch(() => undefined);
          await ch.close().catch(() => undefined);
        }
        for (const x of p.declaredExchanges()) {
          const ch = await conn.createChannel();
          ch.on('error', () => undefined);
          await ch.deleteExchange(x).catch(() => undefined);
          await ch.close().catch(() => undefined);
        }
      }
      this.#plugins.delete(name);
    }
  }

  async close(): Promise<void> {
    const admin = this.#admin;
    this.#admin = undefined;
    if (admin !== undefined) await (await admin).close().catch(() => undefined);
  }
}

/**
 * Closes from the server side exactly the connections whose `connection_name` is `name` (ours are
 * unique per app instance). Never close_all_connections: the server is shared.
 */
export async function closeConnectionByName(name: string, reason = 'qtasks test: simulated connection loss'): Promise<number> {
  const { stdout } = await run('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties'], { maxBuffer: 16 * 1024 * 1024 });
  let closed = 0;
  for (const line of stdout.split('\n')) {
    if (!line.includes(`{"connection_name","${name}"}`)) continue;
    const pid = line.split('\t')[0]!.trim();
    await run('rabbitmqctl', ['close_connection', pid, reason]);
    closed++;
  }
  return closed;
}
