/**
 * `qtasks/rabbitmq`: a RabbitMQ broker on amqplib for one app, and, when the app has no other
 * storage, results over direct reply-to. Swapping it for `redis()` (or back) is one line in the
 * plugin list. See docs/rabbitmq.md.
 */
import { randomUUID } from 'node:crypto';
import type { ChannelModel, RecoveringChannelModel } from 'amqplib';
import { ErrorCodes, QTasksError } from '../../core/errors.js';
import type { Storage } from '../../core/contracts.js';
import type { Plugin } from '../../core/plugin.js';
import { STAGE_FIRST, STAGE_LAST } from '../../core/stages.js';
import { RabbitBroker } from './broker.js';
import { AmqpSession } from './connection.js';
import { ControlExchange } from './control-exchange.js';
import { RabbitControl } from './control.js';
import { ControlledBroker } from './controlled-broker.js';
import { ReplyRoutes, ReplyStorage } from './reply-storage.js';
import { MAX_PREFIX_BYTES, Topology, type QueueType } from './topology.js';

export const PLUGIN_NAME = 'rabbitmq';

export interface RabbitMQOptions {
  /** `amqp://user:pass@host:port/vhost`: the plugin opens, recovers and closes its own connection. */
  url?: string;
  /** A connection you own (plain or amqplib's recovering one): never closed by the plugin. */
  connection?: ChannelModel | RecoveringChannelModel;
  /** Plugin name (default `rabbitmq`), for an app that registers two. */
  name?: string;
  /** First part of every queue and exchange name (default `qtasks`): `${prefix}.${app}.…`. */
  prefix?: string;
  /** Work queue type (default `classic`, with priorities). `quorum`: replicated, no priorities on 3.10. */
  queueType?: QueueType;
  /**
   * Classic queues: `x-max-priority` (0..255, default 5: six bands, see docs/rabbitmq.md).
   * 0: a plain classic queue without priorities (FIFO), the fastest on a deep backlog.
   */
  maxPriority?: number;
  /**
   * `x-queue-version` of the classic queues (default 2: RabbitMQ's newer classic queue index and
   * store, opt-in since 3.10, the default from 3.13; 1 for servers or policies that need v1).
   */
  classicQueueVersion?: 1 | 2;
  /** Messages the server sends ahead (default: the worker's concurrency). Extra ones wait unacked. */
  prefetch?: number;
  /**
   * Results without a storage plugin: `auto` (default) supplies the reply-to storage only when no
   * other plugin supplies a storage; `reply` always; `off` never (the kernel falls back to memory).
   */
  results?: 'auto' | 'reply' | 'off';
  /** `connection_name` shown by RabbitMQ; default `${prefix}.${app}`. A unique suffix is always added. */
  connectionName?: string;
  /** Reconnect backoff of an owned connection: doubles from initialDelayMs up to maxDelayMs, ±20 % jitter. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** How long a publish waits for a link (outage, blocked connection) and its confirm (default 10 000). */
  publishTimeoutMs?: number;
  /**
   * The largest message body the server takes (default 134 217 728, RabbitMQ's default
   * max_message_size of 128 MiB). Larger tasks fail at `addTask` with INVALID_ARGS before they are
   * sent; a server configured lower is learned from its first refusal.
   */
  maxMessageBytes?: number;
  /** Reply storage: records kept in this process (default 10 000, oldest out first). */
  maxLocalRecords?: number;
  /** `deadLetters()` reads at most this many messages of the DLQ (default 10 000). */
  deadLetterScanLimit?: number;
  /** Extra amqplib socket options for an owned connection (heartbeat, TLS...). */
  socketOptions?: Record<string, unknown>;
}

/** The plugin, plus what tests and operators need to find its server-side objects. */
export interface RabbitMQPlugin extends Plugin {
  /** `connection_name` of each app this plugin was applied to (owned connections only). */
  connectionNames(): string[];
  /** Every queue the plugin's apps declared (work, delay, dead-letter queues). */
  declaredQueues(): string[];
  /** Every exchange the plugin's apps declared. */
  declaredExchanges(): string[];
}

function positive(key: string, value: number | undefined, fallback: number, max = Infinity): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `rabbitmq: ${key} must be an integer in 1..${max}, got ${String(value)}`);
  }
  return value;
}

export function rabbitmq(options: RabbitMQOptions): RabbitMQPlugin {
  if ((options.url === undefined) === (options.connection === undefined)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, 'rabbitmq: give exactly one of `url` (the plugin owns the connection) or `connection` (you own it)');
  }
  if (options.url !== undefined && (typeof options.url !== 'string' || !/^amqps?:\/\//.test(options.url))) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `rabbitmq: url must start with amqp:// or amqps://, got ${JSON.stringify(options.url)}`);
  }
  const queueType = options.queueType ?? 'classic';
  if (queueType !== 'classic' && queueType !== 'quorum') {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `rabbitmq: queueType must be 'classic' or 'quorum', got ${JSON.stringify(queueType)}`);
  }
  const results = options.results ?? 'auto';
  if (!['auto', 'reply', 'off'].includes(results)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `rabbitmq: results must be 'auto', 'reply' or 'off', got ${JSON.stringify(results)}`);
  }
  const prefix = options.prefix ?? 'qtasks';
  if (typeof prefix !== 'string' || prefix === '' || prefix.startsWith('amq.')) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `rabbitmq: prefix must be a non-empty string not starting with "amq.", got ${JSON.stringify(prefix)}`);
  }
  if (Buffer.byteLength(prefix) > MAX_PREFIX_BYTES) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `rabbitmq: prefix is ${Buffer.byteLength(prefix)} bytes, at most ${MAX_PREFIX_BYTES} leave room for app and queue names in AMQP's 255`);
  }
  const classicVersion = options.classicQueueVersion ?? 2;
  if (classicVersion !== 1 && classicVersion !== 2) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `rabbitmq: classicQueueVersion must be 1 or 2, got ${String(classicVersion)}`);
  }
  const maxPriority = options.maxPriority ?? 5;
  if (typeof maxPriority !== 'number' || !Number.isInteger(maxPriority) || maxPriority < 0 || maxPriority > 255) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `rabbitmq: maxPriority must be an integer in 0..255, got ${String(maxPriority)}`);
  }
  const prefetch = options.prefetch === undefined ? undefined : positive('prefetch', options.prefetch, 1, 65_535);
  const publishTimeoutMs = positive('publishTimeoutMs', options.publishTimeoutMs, 10_000);
  const initialDelayMs = positive('reconnect.initialDelayMs', options.reconnect?.initialDelayMs, 100);
  const maxDelayMs = positive('reconnect.maxDelayMs', options.reconnect?.maxDelayMs, 5_000);
  // RabbitMQ itself refuses a max_message_size above 512 MiB.
  const maxMessageBytes = positive('maxMessageBytes', options.maxMessageBytes, 128 * 1024 * 1024, 512 * 1024 * 1024);
  const maxLocalRecords = positive('maxLocalRecords', options.maxLocalRecords, 10_000);
  const deadLetterScanLimit = positive('deadLetterScanLimit', options.deadLetterScanLimit, 10_000);
  const name = options.name ?? PLUGIN_NAME;

  // Per-app state lives in apply's closure; these lists only let tests and operators find it.
  const names: string[] = [];
  const topologies: Topology[] = [];

  return {
    name,
    connectionNames: () => [...names],
    declaredQueues: () => topologies.flatMap((t) => [...t.declaredQueues]),
    declaredExchanges: () => topologies.flatMap((t) => [t.dlx, `${t.base}.control`, `${t.base}.events`]),
    apply(app) {
      const connectionName = `${options.connectionName ?? `${prefix}.${app.name}`}#${process.pid}.${randomUUID().slice(0, 8)}`;
      if (options.url !== undefined) names.push(connectionName);
      const session = new AmqpSession({
        ...(options.url !== undefined ? { url: options.url } : {}),
        ...(options.connection !== undefined ? { connection: options.connection } : {}),
        connectionName,
        reconnectInitialMs: initialDelayMs,
        reconnectMaxMs: Math.max(initialDelayMs, maxDelayMs),
        publishTimeoutMs,
        maxMessageBytes,
        ...(options.socketOptions !== undefined ? { socketOptions: options.socketOptions } : {}),
      });
      const topology = new Topology({ prefix, appName: app.name, queueType, maxPriority, classicVersion });
      topologies.push(topology);
      const routes = new ReplyRoutes(maxLocalRecords);
      const storageOf = (): Storage | undefined => (app.state === 'started' || app.state === 'stopping' ? app.storage : undefined);
      const amqp = new RabbitBroker(session, topology, routes, { ...(prefetch !== undefined ? { prefetch } : {}), deadLetterScanLimit }, storageOf);
      const exchange = new ControlExchange(session, topology);
      const control = new RabbitControl(exchange, {
        storage: storageOf,
        globalConfig: () => (app.state === 'started' || app.state === 'stopping' ? app.globalConfig : undefined),
        sharedGlobalConfig: () => app.hooks.storage.provideGlobalConfig.isUsed(),
        publish: (message, record): Promise<void> => broker.publish(message, { delayMs: 0, record, awaitsResult: false }),
        publishCopy: (message, record, headers): Promise<void> => amqp.publish(message, { delayMs: 0, record, awaitsResult: false }, headers),
      });
      const broker = new ControlledBroker(amqp, control, exchange);
      app.hooks.broker.provide.tap(name, () => broker);
      if (results !== 'off') {
        const storage = new ReplyStorage(session, routes, maxLocalRecords);
        // `auto` answers last, so any storage plugin (memory, Redis) wins whatever its position.
        app.hooks.storage.provide.tap({ name, stage: results === 'reply' ? STAGE_FIRST : STAGE_LAST }, () => storage);
      }
    },
  };
}

export { RabbitBroker, ReplyStorage, Topology };
export type { QueueType };
