/**
 * Reading the app's event stream: one connection per subscription, a blocking XREAD loop that
 * starts at the stream's last entry when subscribed (so "from now on" has no gap), or after a
 * given position (replay), and continues from the last id it saw after a disconnect. Redis keeps
 * the newest ~1,000 entries (each the events of one kind from one script call): when entries
 * after the position were trimmed, `onGap` is told and reading goes on from the oldest kept.
 */
import type { EventGap, SubscribeOptions, TaskEvent, TaskEventType } from '../../core/contracts.js';
import { ErrorCodes, QTasksError } from '../../core/errors.js';
import type { LoggerLike } from '../../core/logger.js';
import type { RedisClient, RedisConnection } from './connection.js';

type Entries = Array<[string, string[]]>;

const POSITION = /^\d{1,20}-\d{1,20}$/;

export class EventReader {
  readonly #conn: RedisConnection;
  /** The stream read: the app's, or one queue's (placement 'queue'). */
  readonly #key: string;
  readonly #listener: (event: TaskEvent) => void;
  readonly #log: LoggerLike | undefined;
  readonly #onGap: ((gap: EventGap) => void) | undefined;
  readonly #from: string | undefined;
  #client: RedisClient | undefined;
  #stopped = false;
  #last = '0-0';
  /** Set when the connection came back: the next reply is checked for a gap first. */
  #reconnected = false;
  #loop: Promise<void> | undefined;

  constructor(conn: RedisConnection, listener: (event: TaskEvent) => void, log: LoggerLike | undefined, options: SubscribeOptions = {}, key = conn.keys.events) {
    this.#conn = conn;
    this.#key = key;
    this.#listener = listener;
    this.#log = log;
    this.#onGap = options.onGap;
    if (options.from !== undefined && (typeof options.from !== 'string' || !POSITION.test(options.from))) {
      throw new QTasksError(ErrorCodes.INVALID_OPTION, `events: from must be an event position such as "1700000000000-0" (TaskEvent.position), got ${JSON.stringify(options.from)}`);
    }
    this.#from = options.from;
  }

  /** Resolves once every event appended from now on (or after `from`) will be read. */
  async start(): Promise<void> {
    const client = await this.#conn.duplicate('events');
    this.#client = client;
    if (this.#from !== undefined) {
      this.#last = this.#from;
      await this.#checkGap(client, this.#from);
    } else {
      const tail = (await client.xrevrange(this.#key, '+', '-', 'COUNT', 1)) as Entries;
      this.#last = tail[0]?.[0] ?? '0-0';
    }
    // ioredis resends a pending XREAD after a reconnect: its reply is checked before delivery.
    client.on('reconnecting', () => (this.#reconnected = true));
    this.#loop = this.#run(client);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const client = this.#client;
    this.#client = undefined;
    if (client !== undefined) await this.#conn.close(client);
    await this.#loop;
  }

  async #run(client: RedisClient): Promise<void> {
    const key = this.#key;
    let failures = 0;
    while (!this.#stopped) {
      let reply: Array<[string, Entries]> | null;
      const after = this.#last;
      try {
        reply = (await client.xread('COUNT', 1000, 'BLOCK', 2000, 'STREAMS', key, after)) as Array<[string, Entries]> | null;
        failures = 0;
        if (this.#reconnected) {
          this.#reconnected = false;
          await this.#checkGap(client, after);
        }
      } catch (err) {
        if (this.#stopped) return;
        this.#reconnected = true;
        failures++;
        this.#log?.warn({ err: (err as Error).message }, 'event stream read failed; resuming from the last event seen');
        await new Promise((r) => setTimeout(r, Math.min(2_000, 50 * 2 ** Math.min(failures, 6))));
        continue;
      }
      for (const [, entries] of reply ?? []) {
        for (const [id, fields] of entries) {
          this.#last = id;
          this.#deliver(id, fields);
        }
      }
    }
  }

  /**
   * Whether entries after `after` may have been trimmed: the stream dropped entries (entries-added,
   * Redis 7, exceeds its length), `after` is not among those kept and the oldest kept is later.
   * (Trimming does not move max-deleted-entry-id, so that cannot tell.)
   */
  async #checkGap(client: RedisClient, after: string): Promise<void> {
    const key = this.#key;
    let info: unknown[];
    try {
      info = (await client.xinfo('STREAM', key)) as unknown[];
    } catch {
      return; // no stream yet: nothing was ever trimmed
    }
    const field = (name: string): unknown => (info.includes(name) ? info[info.indexOf(name) + 1] : undefined);
    const first = field('first-entry');
    const oldest = Array.isArray(first) && typeof first[0] === 'string' ? first[0] : undefined;
    const added = field('entries-added');
    const trimmed = added === undefined || Number(added) > Number(field('length'));
    const lost = trimmed && oldest !== undefined && later(oldest, after) && ((await client.xrange(key, after, after, 'COUNT', 1)) as Entries).length === 0;
    if (!lost) return;
    const gap: EventGap = { after, ...(oldest !== undefined ? { oldest } : {}) };
    if (this.#onGap === undefined) {
      this.#log?.warn(gap, 'events after this position were trimmed from the stream before they were read; they are lost to this listener');
      return;
    }
    try {
      this.#onGap(gap);
    } catch (err) {
      this.#log?.error({ err }, 'an onGap listener threw');
    }
  }

  #deliver(position: string, fields: string[]): void {
    let type: string | undefined;
    let packed: string | undefined;
    const group: Record<string, string> = {};
    for (let k = 0; k + 1 < fields.length; k += 2) {
      if (fields[k] === 't') type = fields[k + 1];
      else if (fields[k] === 'e') packed = fields[k + 1];
      else group[fields[k]!] = fields[k + 1]!;
    }
    if (type === undefined) return;
    if (packed === undefined) {
      if (group.q !== undefined) this.#deliverGroup(position, type, group);
      return;
    }
    let flat: unknown[];
    try {
      flat = JSON.parse(packed) as unknown[];
    } catch {
      return;
    }
    if (!Array.isArray(flat)) return; // cjson writes an empty table as {}: nothing in it
    const at = Number(position.slice(0, position.indexOf('-')));
    for (let k = 0; k + 4 < flat.length; k += 5) {
      const extra = String(flat[k + 4] ?? '');
      const event: TaskEvent = {
        type: type as TaskEventType,
        id: String(flat[k]),
        name: String(flat[k + 1]),
        queue: String(flat[k + 2]),
        attempt: Number(flat[k + 3]),
        at,
        position,
        ...(type === 'progress' ? { progress: parseJson(extra) } : extra !== '' ? { message: extra } : {}),
      };
      this.#listener(event);
    }
  }

  /**
   * The hot path's layout (lua.ts, emit_group): tasks of one kind and queue, with 'i' ids
   * (attempt 0) or 'm' lease members '<deliveries before>:<id>', 'n' or 'N' names, 'x' extras.
   */
  #deliverGroup(position: string, type: string, group: Record<string, string>): void {
    const at = Number(position.slice(0, position.indexOf('-')));
    const byId = group.i !== undefined;
    const list = strings(byId ? group.i : group.m);
    const names = group.N !== undefined ? strings(group.N) : undefined;
    const extras = group.x !== undefined ? strings(group.x) : undefined;
    for (let k = 0; k < list.length; k++) {
      const entry = list[k]!;
      const colon = byId ? -1 : entry.indexOf(':');
      const extra = extras?.[k] ?? '';
      const event: TaskEvent = {
        type: type as TaskEventType,
        id: byId ? entry : entry.slice(colon + 1),
        name: names !== undefined ? (names[k] ?? '') : (group.n ?? ''),
        queue: group.q!,
        attempt: byId ? 0 : Number(entry.slice(0, colon)) + 1,
        at,
        position,
        ...(extra !== '' ? { message: extra } : {}),
      };
      this.#listener(event);
    }
  }
}

/** A JSON array of strings from the stream, or [] (cjson writes an empty table as {}). */
function strings(text: string | undefined): string[] {
  if (text === undefined) return [];
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
}

/** Stream ids compare by their time, then their sequence. */
function later(a: string, b: string): boolean {
  const [at, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bt, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return at !== bt ? at > bt : as > bs;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
