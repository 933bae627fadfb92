/**
 * Where an app's keys live. 'app' (the layout of every version before): one base, one hash tag,
 * so the whole app sits on one slot of a Redis Cluster. 'queue': each queue has its own base and
 * tag (keys.ts), so an app's queues spread over the masters; what spans queues (heartbeats,
 * workers:info, kv, the queue list, the app-wide pause) stays under the app's base, off the hot
 * path. docs/redis.md ("Placement") says what each costs and what placement 'queue' cannot do.
 */
import { ErrorCodes, QTasksError } from '../../core/errors.js';
import type { RedisClient } from './connection.js';
import { Keys, queueKeysPattern } from './keys.js';

export type PlacementMode = 'app' | 'queue';

export class Placement {
  readonly mode: PlacementMode;
  /** The app's own keys: everything in 'app', what spans queues in 'queue'. */
  readonly app: Keys;
  readonly #prefix: string;
  readonly #appName: string;
  readonly #byQueue = new Map<string, Keys>();
  /** Queues this process registered in the app's queue list (once each; see register). */
  readonly #registered = new Map<string, Promise<void>>();

  constructor(mode: PlacementMode, prefix: string, appName: string) {
    this.mode = mode;
    this.#prefix = prefix;
    this.#appName = appName;
    this.app = new Keys(prefix, appName);
  }

  get perQueue(): boolean {
    return this.mode === 'queue';
  }

  /** The keys a task of `queue` lives under. */
  of(queue: string): Keys {
    if (this.mode === 'app') return this.app;
    let keys = this.#byQueue.get(queue);
    if (keys === undefined) {
      keys = new Keys(this.#prefix, this.#appName, queue);
      this.#byQueue.set(queue, keys);
    }
    return keys;
  }

  /** A PSUBSCRIBE pattern for channel `suffix` ('done', 'ctl') of every queue base of the app. */
  channelPattern(suffix: string): string {
    return queueKeysPattern(this.#prefix, this.#appName, suffix);
  }

  /** A SCAN pattern for every key of every queue base of the app. */
  get queuesPattern(): string {
    return queueKeysPattern(this.#prefix, this.#appName);
  }

  /**
   * Placement 'queue': the enqueue script of a queue adds it to its own base's list, not to the
   * app's (another slot), so the queue joins the app's list here, once per process, before its
   * first enqueue; a queue joining while the app is paused as a whole ('*') is paused too.
   */
  register(client: RedisClient, queue: string): Promise<void> {
    let done = this.#registered.get(queue);
    if (done === undefined) {
      const keys = this.of(queue);
      done = (async () => {
        const [, all] = await Promise.all([client.sadd(this.app.queues, queue), client.sismember(this.app.paused, '*')]);
        if (all === 1) await client.sadd(keys.paused, '*');
      })();
      // A failed registration is tried again by the next enqueue.
      done.catch(() => this.#registered.delete(queue));
      this.#registered.set(queue, done);
    }
    return done;
  }

  /**
   * At broker start: an app's keys in the other layout would be silently ignored (tasks queued
   * under 'app' never claimed by 'queue' workers, or the reverse), so refuse instead. Placement
   * 'queue' leaves a mark under the app's base; placement 'app' always has its counter `seq`
   * there once it enqueued anything.
   */
  async check(client: RedisClient): Promise<void> {
    const mark = `${this.app.base}placement`;
    if (this.mode === 'queue') {
      if ((await client.exists(this.app.seq)) === 1) throw mixed(this.#appName, 'app', 'queue');
      await client.set(mark, 'queue');
    } else if ((await client.get(mark)) === 'queue') throw mixed(this.#appName, 'queue', 'app');
  }

  /** Every queue of the app that had a task (the app's list), with those this process uses (consumes, looked at), sorted. */
  async queues(client: RedisClient): Promise<string[]> {
    const queues = new Set(await client.smembers(this.app.queues));
    for (const q of this.#byQueue.keys()) queues.add(q);
    return [...queues].sort();
  }
}

function mixed(app: string, found: PlacementMode, asked: PlacementMode): QTasksError {
  return new QTasksError(
    ErrorCodes.INVALID_OPTION,
    `redis plugin: app "${app}" has keys in placement '${found}', and this plugin uses placement '${asked}' (a Cluster client defaults to 'queue'): pass placement: '${found}', or move to '${asked}' once the app's queues are drained and its keys deleted (deleteAppKeys)`,
  );
}
