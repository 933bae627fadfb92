/**
 * Who owns which Redis connection. One RedisConnection per plugin instance (per app): the command
 * client (given by the user, or created from options and then owned), plus owned duplicates for
 * blocking reads and pub/sub. Broker, storage and global config share it; the last one to stop
 * closes what was created here, never a client the user passed in.
 */
import { createHash } from 'node:crypto';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { ComponentContext } from '../../core/contracts.js';
import { ConnectionClosedError, ErrorCodes, QTasksError, asQTasksError, messageOf } from '../../core/errors.js';
import type { LoggerLike } from '../../core/logger.js';
import type { Keys } from './keys.js';
import { Placement, type PlacementMode } from './placement.js';
import { ENQUEUE, GET, REMOVE_SAVED, RENEW, REQUEUE_SAVED, SAVE, SAVE_MANY, STEP, WATCH } from './lua.js';
import { ENQUEUE_DEDUP, RESERVE } from './dedup-lua.js';
import { LIMIT, SLOT } from './limiter-lua.js';
import { ALIVE, HEARTBEAT, LEAVE, WORKERS } from './registry-lua.js';
import { CANCEL, CLEAN, COUNTS, LIST, PAUSE, PROGRESS, PROMOTE, PURGE, REMOVE, RETRY } from './control-lua.js';
import { LIST_NEW, LIST_RUNNING } from './control-list-lua.js';
import { GET_MANY, JOIN } from './join-lua.js';

export type RedisClient = Redis | Cluster;

export interface ConnectionOptions {
  url?: string;
  client?: RedisClient;
  redisOptions?: RedisOptions;
  prefix: string;
  /** Where keys live (placement.ts); default 'app'. */
  placement?: PlacementMode;
}

const SOURCES = {
  qtasksEnqueue: ENQUEUE,
  qtasksEnqueueDedup: ENQUEUE_DEDUP,
  qtasksReserve: RESERVE,
  qtasksLimit: LIMIT,
  qtasksSlot: SLOT,
  qtasksStep: STEP,
  qtasksRenew: RENEW,
  qtasksSave: SAVE,
  qtasksSaveMany: SAVE_MANY,
  qtasksRequeueSaved: REQUEUE_SAVED,
  qtasksRemoveSaved: REMOVE_SAVED,
  qtasksGet: GET,
  qtasksWatch: WATCH,
  qtasksHeartbeat: HEARTBEAT,
  qtasksAlive: ALIVE,
  qtasksCounts: COUNTS,
  qtasksList: LIST,
  qtasksListNew: LIST_NEW,
  qtasksListRunning: LIST_RUNNING,
  qtasksCancel: CANCEL,
  qtasksRetry: RETRY,
  qtasksPromote: PROMOTE,
  qtasksRemove: REMOVE,
  qtasksClean: CLEAN,
  qtasksPurge: PURGE,
  qtasksPause: PAUSE,
  qtasksProgress: PROGRESS,
  qtasksLeave: LEAVE,
  qtasksWorkers: WORKERS,
  qtasksJoin: JOIN,
  qtasksGetMany: GET_MANY,
} as const;

export type ScriptName = keyof typeof SOURCES;

interface Script {
  readonly lua: string;
  readonly sha: string;
}

// Scripts run through EVALSHA by digest rather than ioredis' defineCommand: that would add
// commands to a client the user passed in (not ours to change), and ioredis copies every
// defined command onto each auto-pipeline it builds, a per-flush cost on the hot path.
const SCRIPTS = Object.fromEntries(
  Object.entries(SOURCES).map(([name, lua]) => [name, { lua, sha: createHash('sha1').update(lua).digest('hex') }]),
) as Record<ScriptName, Script>;

/** Longest time passed to Redis, ms (about 142,000 years): keeps the number in plain digits. */
const MAX_MS = 2 ** 52;

/**
 * A time for a script argument or `PX`: whole milliseconds between `min` and MAX_MS. `PX` takes
 * no fractions and no 0 (a TTL of 0 keeps a record for a moment, not forever: min 1).
 */
export function wholeMs(ms: number, min = 1): number {
  return Math.min(Math.max(min, Math.round(ms)), MAX_MS);
}

/** Replies of a server that cannot serve now but may soon (loading, failover, busy script, full). */
const TRANSIENT_REPLY = /^(LOADING|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|BUSY|OOM)\b/;

/**
 * A driver error as a QTasksError for the plugin's callers, the driver's error as `cause`: an
 * outage (ioredis gave up: MaxRetriesPerRequestError, a closed connection, a command timeout) or
 * a server that cannot serve for now is BROKER_UNAVAILABLE; any other error reply is PLUGIN_FAILED.
 */
export function driverError(err: unknown, what: string): QTasksError {
  const reply = err instanceof Error && err.name === 'ReplyError' && !TRANSIENT_REPLY.test(err.message);
  return asQTasksError(err, reply ? ErrorCodes.PLUGIN_FAILED : ErrorCodes.BROKER_UNAVAILABLE, `redis plugin: ${what}`);
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

export class RedisConnection {
  readonly #options: ConnectionOptions;
  readonly #owned = new Set<RedisClient>();
  #client: RedisClient | undefined;
  #keys: Keys | undefined;
  #placement: Placement | undefined;
  #opening: Promise<void> | undefined;
  #refs = 0;
  #log: LoggerLike | undefined;
  #appName = '';
  #startTimeoutMs = 10_000;

  constructor(options: ConnectionOptions) {
    this.#options = options;
  }

  get client(): RedisClient {
    if (this.#client === undefined) throw new ConnectionClosedError('redis plugin');
    return this.#client;
  }

  get keys(): Keys {
    if (this.#keys === undefined) throw new ConnectionClosedError('redis plugin');
    return this.#keys;
  }

  /** The placement chosen in the options, known before start. */
  get perQueue(): boolean {
    return this.#options.placement === 'queue';
  }

  /** Where each queue's keys live; `keys` are the app's own (all keys in placement 'app'). */
  get placement(): Placement {
    if (this.#placement === undefined) throw new ConnectionClosedError('redis plugin');
    return this.#placement;
  }

  get logger(): LoggerLike | undefined {
    return this.#log;
  }

  /** Runs a script by name (EVALSHA by digest, EVAL when the server does not have it cached). */
  run(name: ScriptName, ...args: Array<string | number>): Promise<unknown> {
    return this.runArgs(name, args);
  }

  /** run() with the arguments in an array (large batches: no spreading through two calls). */
  runArgs(name: ScriptName, args: Array<string | number>): Promise<unknown> {
    const client = this.client;
    const script = SCRIPTS[name];
    // Every script takes one key (the app's hash-tagged base, or a key in its slot).
    return client
      .evalsha(script.sha, 1, ...args)
      .catch((err: unknown) => {
        if (!isNoScript(err)) throw err;
        // Not cached on this server yet (first use, restart, failover): EVAL loads it.
        return client.eval(script.lua, 1, ...args);
      })
      .catch((err: unknown) => {
        throw driverError(err, name);
      });
  }

  /**
   * runArgs() preceded, in one MULTI, by a plain MSET of `staged` (key, value pairs) the script
   * consumes: large values reach Redis without becoming Lua strings (ENQUEUE, lua.ts). A script
   * not cached runs by EVAL afterwards; the staged keys are there for it.
   */
  async runStaged(name: ScriptName, staged: ReadonlyArray<string | Buffer>, args: Array<string | number>): Promise<unknown> {
    const client = this.client;
    const script = SCRIPTS[name];
    const tx = client.multi();
    // One MSET for all of them: one command (and one reply) for the batch, not one per task.
    tx.mset(...staged);
    tx.evalsha(script.sha, 1, ...args);
    let replies: Array<[Error | null, unknown]> | null;
    try {
      replies = await tx.exec();
    } catch (err) {
      throw driverError(err, name);
    }
    if (replies === null) throw driverError(new Error('transaction aborted'), name);
    const [err, reply] = replies[replies.length - 1]!;
    if (err === null) return reply;
    if (!isNoScript(err)) throw driverError(err, name);
    try {
      return await client.eval(script.lua, 1, ...args);
    } catch (e) {
      throw driverError(e, name);
    }
  }

  /** A command of the client's own (not a script), its driver errors made QTasksErrors. */
  async call<T>(what: string, command: (client: RedisClient) => Promise<T>): Promise<T> {
    try {
      return await command(this.client);
    } catch (err) {
      throw driverError(err, what);
    }
  }

  /** Loads a script now, so its first use cannot fall back to EVAL behind a later command (order matters). */
  async load(name: ScriptName): Promise<void> {
    await this.client.script('LOAD', SCRIPTS[name].lua);
  }

  /** Each component calls this from its start(); the first call connects. */
  async acquire(ctx: ComponentContext): Promise<void> {
    this.#refs++;
    this.#log ??= ctx.logger;
    this.#appName = ctx.appName;
    this.#startTimeoutMs = ctx.config.startTimeoutMs;
    this.#placement ??= new Placement(this.#options.placement ?? 'app', this.#options.prefix, ctx.appName);
    this.#keys ??= this.#placement.app;
    this.#opening ??= this.#open();
    try {
      await this.#opening;
    } catch (err) {
      this.#refs--;
      throw err;
    }
  }

  /** Each component calls this from its stop(); the last call closes owned clients. */
  async release(): Promise<void> {
    if (this.#refs === 0) return;
    if (--this.#refs > 0) return;
    const owned = [...this.#owned];
    this.#owned.clear();
    this.#client = undefined;
    this.#opening = undefined;
    await Promise.all(owned.map((c) => closeClient(c)));
  }

  async #open(): Promise<void> {
    const { client, url, redisOptions } = this.#options;
    let c: RedisClient;
    if (client !== undefined) {
      c = client;
      // Scripts build most keys from the app's base, which ioredis would not prefix: refuse rather than split an app's keys.
      if (hasKeyPrefix(c)) throw new QTasksError(ErrorCodes.INVALID_OPTION, 'redis plugin: the client has a keyPrefix; use the plugin option `prefix` instead');
      if (c.status === 'wait') await c.connect();
      await checkDatabase(c, url);
    } else {
      const opts: RedisOptions = {
        // The broker batches each tick's publishes and settlements into one script call itself;
        // ioredis' auto-pipelining on top only added a pipeline object per flush (GC pauses:
        // round-trip p99 3.9 ms with it, 2.6 ms without, same throughput and Redis CPU).
        enableAutoPipelining: false,
        // A reply that never comes (half-open socket) must fail the call so the worker retries;
        // nothing on this connection blocks on purpose.
        commandTimeout: 15_000,
        // Bounds the TCP connect and the TLS handshake (a plaintext server never answers a TLS
        // hello): a wrong URL fails start with its reason, not with the start timeout.
        connectTimeout: Math.max(100, Math.min(10_000, Math.floor(this.#startTimeoutMs / 2))),
        connectionName: this.connectionName('cmd'),
        ...redisOptions,
        lazyConnect: true,
      };
      c = url !== undefined ? new Redis(url, opts) : new Redis(opts);
      // The first error of the first connect says why it failed (ioredis rejects with "Connection is closed").
      let first: unknown;
      const onError = (err: unknown): void => void (first ??= err);
      c.on('error', onError);
      this.#watchErrors(c, 'cmd');
      try {
        await c.connect();
        await checkDatabase(c, url);
      } catch (err) {
        c.disconnect();
        throw err instanceof QTasksError ? err : connectFailed(url, c, first ?? err);
      } finally {
        c.off('error', onError);
      }
      this.#owned.add(c);
    }
    this.#client = c;
  }

  /** `qtasks:<app>:<role>`: lets operators (and tests) tell this app's connections apart. */
  connectionName(role: string): string {
    return `qtasks:${this.#appName}:${role}`.replace(/\s/g, '_');
  }

  /**
   * An owned connection for blocking reads or pub/sub: requests wait through reconnects instead
   * of failing after a retry count, and nothing is auto-pipelined behind a blocking call.
   */
  async duplicate(role: string): Promise<RedisClient> {
    const base = this.client;
    let dup: RedisClient;
    if (base instanceof Cluster) {
      const redisOptions: RedisOptions = { ...base.options.redisOptions, maxRetriesPerRequest: null, commandTimeout: undefined, connectionName: this.connectionName(role) };
      const override: ClusterOptions = { enableAutoPipelining: false, lazyConnect: true, redisOptions };
      dup = base.duplicate([], override);
    } else {
      // No commandTimeout: a blocking read legitimately waits longer than any command should.
      dup = base.duplicate({ maxRetriesPerRequest: null, commandTimeout: undefined, enableAutoPipelining: false, connectionName: this.connectionName(role), lazyConnect: true });
    }
    this.#watchErrors(dup, role);
    this.#owned.add(dup);
    try {
      await dup.connect();
    } catch (err) {
      this.#owned.delete(dup);
      dup.disconnect();
      throw driverError(err, `cannot open the ${role} connection`);
    }
    return dup;
  }

  /** Closes one owned duplicate now (a blocked call on it rejects). */
  async close(client: RedisClient): Promise<void> {
    if (!this.#owned.delete(client)) return;
    client.disconnect();
  }

  // ioredis emits 'error' on every failed reconnect attempt; log once per outage, not per attempt.
  #watchErrors(c: RedisClient, role: string): void {
    let reported = false;
    c.on('error', (err: Error) => {
      if (reported) return;
      reported = true;
      this.#log?.warn({ err: err.message, connection: role }, 'redis connection error; reconnecting');
    });
    c.on('ready', () => {
      if (reported) this.#log?.info({ connection: role }, 'redis connection restored');
      reported = false;
    });
  }
}

/** Start failed to connect: CONNECTION_FAILED with the reason, and what a TLS failure likely means. */
function connectFailed(url: string | undefined, c: Redis, cause: unknown): QTasksError {
  const where = url !== undefined ? redactUrl(url) : 'Redis';
  const tls = c.options.tls !== undefined;
  const hint = tls ? ' (the TLS handshake did not complete: is the server plaintext? use redis:// for a server without TLS)' : '';
  return new QTasksError(ErrorCodes.CONNECTION_FAILED, `redis plugin: cannot connect to ${where}: ${messageOf(cause)}${hint}`, { cause });
}

/**
 * ioredis reports a SELECT that failed (an index beyond the server's `databases`) as an 'error'
 * event and goes on in database 0: select it again here, where a failure can stop the start.
 */
async function checkDatabase(c: RedisClient, url: string | undefined): Promise<void> {
  if (c instanceof Cluster) return;
  const db = c.options.db ?? 0;
  if (db === 0) return;
  try {
    await c.select(db);
  } catch (err) {
    throw new QTasksError(ErrorCodes.CONNECTION_FAILED, `redis plugin: cannot use database ${db} on ${url !== undefined ? redactUrl(url) : 'Redis'}: ${messageOf(err)}`, { cause: err });
  }
}

/** The URL without its password, for messages and logs. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'the given URL';
  }
}

function hasKeyPrefix(c: RedisClient): boolean {
  const opts = c.options as { keyPrefix?: string; redisOptions?: { keyPrefix?: string } };
  return Boolean(opts.keyPrefix) || Boolean(opts.redisOptions?.keyPrefix);
}

async function closeClient(c: RedisClient): Promise<void> {
  if (c.status === 'end') return;
  // QUIT lets queued replies arrive; a dead server must not make stop() hang, so cap the wait.
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000)));
  await Promise.race([c.quit().then(() => undefined, () => undefined), late]);
  if (timer !== undefined) clearTimeout(timer);
  c.disconnect();
}
