/**
 * The control plane with placement 'queue': the same scripts (control-lua.ts), run on each
 * queue's base. What names a queue (retry, purge, pause, progress, a listing of one queue) goes
 * to that queue's slot; what names only an id (cancel, promote, remove) asks the app's queues one
 * by one until one has the task; counts, clean and listings across queues go over every queue.
 */
import type { ControlListPage, ControlListQuery, ListStatus, QueueCounts, SubscribeOptions, TaskEvent } from '../../core/contracts.js';
import type { TaskRecord } from '../../core/record.js';
import type { LoggerLike } from '../../core/logger.js';
import type { RedisClient, RedisConnection, ScriptName } from './connection.js';
import { EventReader } from './control-events.js';
import { decodeRecord } from './storage.js';
import { indexClean, indexCounts, indexList, listCursor } from './storage-index.js';

/** How often a subscription looks for queues that appeared since it began. */
const NEW_QUEUES_EVERY_MS = 1_000;

export async function countsPerQueue(conn: RedisConnection, queues: readonly string[] | undefined): Promise<QueueCounts[]> {
  const placement = conn.placement;
  const names = queues ?? (await conn.call('counts', (c) => placement.queues(c)));
  const each = await Promise.all(names.map((q) => indexCounts(conn, [q], placement.of(q))));
  return each.flat().map((c) => ({
    queue: c.queue, waiting: c.new - c.delayed, delayed: c.delayed, running: c.process, retrying: c.retry,
    dead: c.dead, success: c.success, error: c.error, cancel: c.cancel, paused: c.paused,
  }));
}

export async function listPerQueue(conn: RedisConnection, leaseMs: number, query: ControlListQuery): Promise<ControlListPage> {
  const placement = conn.placement;
  if (query.queue !== undefined) return indexList(conn, leaseMs, query, true, placement.of(query.queue));
  const queues = await conn.call('list', (c) => placement.queues(c));
  if (query.status === 'new' || query.status === 'process') return listQueueByQueue(conn, leaseMs, query, queues);
  return listMerged(conn, leaseMs, query, queues);
}

/** A position in a status listing: newest first, ties by id descending (LIST in control-lua.ts). */
interface Position {
  readonly score: number;
  readonly id: string;
}

/** Whether `a` comes before `b` in a listing (or is `b`). */
function atOrBefore(a: Position, b: Position): boolean {
  return a.score > b.score || (a.score === b.score && a.id >= b.id);
}

/**
 * A status listing across queues: the same page of each queue (same cursor, LIST with scores),
 * merged newest first. A queue that has more beyond what it looked at bounds the page: nothing
 * past its last position is shown yet (its next entries may come before them), so no entry is
 * skipped or shown twice.
 */
async function listMerged(conn: RedisConnection, leaseMs: number, query: ControlListQuery, queues: readonly string[]): Promise<ControlListPage> {
  const placement = conn.placement;
  const [score, cid] = listCursor(query.cursor);
  const replies = await Promise.all(
    queues.map((q) => {
      const keys = placement.of(q);
      return conn.run('qtasksList', keys.queues, keys.base, query.status, q, query.name ?? '', query.limit, score, cid, 's') as Promise<Array<string | number | null>>;
    }),
  );
  const found: Array<Position & { record: TaskRecord }> = [];
  let bound: Position | undefined;
  for (const reply of replies) {
    if (Number(reply[0]) === 1 && reply[1] !== '') {
      const last = { score: Number(reply[1]), id: String(reply[2]) };
      if (bound === undefined || atOrBefore(last, bound)) bound = last;
    }
    for (let k = 3; k + 5 < reply.length; k += 6) {
      const id = String(reply[k + 4]);
      const record = decodeRecord(id, reply.slice(k, k + 4) as Array<string | null>, leaseMs);
      if (record !== undefined) found.push({ score: Number(reply[k + 5]), id, record });
    }
  }
  found.sort((a, b) => (a.score !== b.score ? b.score - a.score : a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const eligible = bound === undefined ? found : found.filter((f) => atOrBefore(f, bound));
  const page = eligible.slice(0, query.limit);
  const records = page.map((f) => f.record);
  const last = page[page.length - 1];
  if (last !== undefined && (eligible.length > page.length || bound !== undefined) && page.length === query.limit) return { records, cursor: `${last.score}:${last.id}` };
  if (bound !== undefined) return { records, cursor: `${bound.score}:${bound.id}` };
  return { records };
}

/** Waiting or running tasks across queues: queue by queue (each queue runs in its own order); the cursor names the queue. */
async function listQueueByQueue(conn: RedisConnection, leaseMs: number, query: ControlListQuery, queues: readonly string[]): Promise<ControlListPage> {
  let at = 0;
  let inner: string | undefined;
  if (query.cursor !== undefined) {
    const [queue, cursor] = JSON.parse(query.cursor) as [string, string];
    at = queues.indexOf(queue);
    if (at < 0) at = queues.findIndex((q) => q > queue);
    else inner = cursor;
    if (at < 0) return { records: [] };
  }
  const records: TaskRecord[] = [];
  for (; at < queues.length; at++) {
    const queue = queues[at]!;
    const page = await indexList(conn, leaseMs, { ...query, queue, limit: query.limit - records.length, ...(inner !== undefined ? { cursor: inner } : {}) }, true, conn.placement.of(queue));
    inner = undefined;
    records.push(...page.records);
    if (page.cursor !== undefined) return { records, cursor: JSON.stringify([queue, page.cursor]) };
    if (records.length >= query.limit) {
      return at + 1 < queues.length ? { records, cursor: JSON.stringify([queues[at + 1]!, '']) } : { records };
    }
  }
  return { records };
}

/**
 * `script` for task `id` (KEYS: its record key; ARGV: base, id, ...more) on each queue in turn,
 * until `found` says a reply found it; that reply, or the last one.
 */
export async function onTheTasksQueue(conn: RedisConnection, script: ScriptName, id: string, more: Array<string | number>, found: (reply: unknown) => boolean): Promise<unknown> {
  const placement = conn.placement;
  let last: unknown;
  for (const q of await conn.call(script, (c) => placement.queues(c))) {
    const keys = placement.of(q);
    last = await conn.run(script, keys.record(id), keys.base, id, ...more);
    if (found(last)) return last;
  }
  return last;
}

export async function cleanPerQueue(conn: RedisConnection, status: ListStatus, olderThanMs: number, limit: number): Promise<number> {
  const placement = conn.placement;
  let n = 0;
  for (const q of await conn.call('clean', (c) => placement.queues(c))) {
    if (n >= limit) break;
    n += await indexClean(conn, status, olderThanMs, limit - n, placement.of(q));
  }
  return n;
}

/**
 * Pausing the whole app ('*') marks every queue of the app, and the app's own set, from which a
 * queue that joins later takes the mark (Placement.register).
 */
export async function setPausedPerQueue(conn: RedisConnection, queue: string, paused: boolean): Promise<void> {
  const placement = conn.placement;
  const flag = paused ? '1' : '';
  if (queue !== '*') {
    const keys = placement.of(queue);
    await conn.run('qtasksPause', keys.paused, keys.base, queue, flag);
    return;
  }
  await conn.run('qtasksPause', placement.app.paused, placement.app.base, '*', flag);
  const queues = await conn.call('pause', (c) => placement.queues(c));
  await Promise.all(queues.map((q) => conn.run('qtasksPause', placement.of(q).paused, placement.of(q).base, '*', flag)));
}

/** Cancel requests of every queue ('<id>\n<reason>' on each base's `ctl` channel), through one pattern subscription. */
export async function onCancelPerQueue(conn: RedisConnection, listener: (id: string, reason: string) => void): Promise<RedisClient> {
  const sub = await conn.duplicate('ctl');
  const pattern = conn.placement.channelPattern('ctl');
  sub.on('pmessage', (pat: string, _ch: string, text: string) => {
    if (pat !== pattern) return;
    const nl = text.indexOf('\n');
    listener(text.slice(0, nl), text.slice(nl + 1));
  });
  await sub.psubscribe(pattern);
  return sub;
}

/**
 * Events of every queue: one reader per queue's stream (each on its own connection), and a
 * reader for each queue that appears later, from the start of its stream. Events of one queue
 * keep their order; across queues there is none. A replay `from` a position reads every queue's
 * stream after it: positions are stream ids, '<server ms>-<n>', so on other queues' streams it
 * means "after that moment" (by the clock of each queue's server).
 */
export async function subscribePerQueue(conn: RedisConnection, listener: (event: TaskEvent) => void, log: LoggerLike | undefined, options?: SubscribeOptions): Promise<() => Promise<void>> {
  const placement = conn.placement;
  const readers = new Map<string, EventReader>();
  let stopped = false;
  const add = async (queue: string, from: SubscribeOptions): Promise<void> => {
    if (readers.has(queue)) return;
    const reader = new EventReader(conn, listener, log, { ...options, ...from }, placement.of(queue).events);
    readers.set(queue, reader);
    await reader.start();
  };
  for (const q of await conn.call('events', (c) => placement.queues(c))) await add(q, {});
  let looking = false;
  const timer = setInterval(() => {
    if (looking || stopped) return;
    looking = true;
    conn
      .call('events', (c) => placement.queues(c))
      .then(async (queues) => {
        for (const q of queues) if (!stopped && !readers.has(q)) await add(q, { from: '0-0' });
      })
      .catch((err: unknown) => log?.warn({ err: (err as Error).message }, 'looking for new queues to read events from failed'))
      .finally(() => (looking = false));
  }, NEW_QUEUES_EVERY_MS);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await Promise.all([...readers.values()].map((r) => r.stop()));
  };
}
