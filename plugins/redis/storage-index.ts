/**
 * The status indexes of the Redis storage beside a broker without records (RabbitMQ): SAVE files
 * every record under '<base>s:<status>:<queue>' (INDEX_SAVED in lua.ts), the keys the Redis
 * broker keeps itself, so counting, listing and cleaning run the control plane's own scripts
 * (control-lua.ts) over them.
 */
import type { ControlListPage, ControlListQuery, IndexCounts, ListStatus, StorageIndex } from '../../core/contracts.js';
import type { TaskRecord } from '../../core/record.js';
import { wholeMs, type RedisConnection } from './connection.js';
import { withArgs } from './large.js';
import type { Keys } from './keys.js';
import { decodeRecord } from './storage.js';

const STATUSES = ['new', 'delayed', 'process', 'retry', 'success', 'error', 'cancel', 'dead'] as const;

/** COUNTS: per queue its name, the 8 index sizes (STATUSES order) and a paused flag. */
export async function indexCounts(conn: RedisConnection, queues: readonly string[] | undefined, keys: Keys = conn.keys): Promise<Array<IndexCounts & { paused: boolean }>> {
  const flat = (await conn.run('qtasksCounts', keys.paused, keys.base, ...(queues ?? []))) as Array<string | number>;
  const out: Array<IndexCounts & { paused: boolean }> = [];
  for (let k = 0; k + 9 < flat.length; k += 10) {
    const sizes = Object.fromEntries(STATUSES.map((s, i) => [s, Number(flat[k + 1 + i])])) as Record<(typeof STATUSES)[number], number>;
    out.push({ queue: String(flat[k]), ...sizes, paused: Number(flat[k + 9]) === 1 });
  }
  return out;
}

/**
 * LIST over the indexes; the cursor is '<score>:<id>' of the last entry looked at. `fromBroker`:
 * the Redis broker's own tasks, whose waiting and running ones are read from the ready queues and
 * the leases (control-list-lua.ts) rather than from per-id indexes.
 */
export async function indexList(conn: RedisConnection, leaseMs: number, query: ControlListQuery, fromBroker = false, keys: Keys = conn.keys): Promise<ControlListPage> {
  if (fromBroker && (query.status === 'new' || query.status === 'process')) {
    const script = query.status === 'new' ? 'qtasksListNew' : 'qtasksListRunning';
    const key = query.status === 'new' ? keys.queues : keys.leases;
    const reply = (await conn.run(script, key, keys.base, query.queue ?? '', query.name ?? '', query.limit, query.cursor ?? '')) as Array<string | number | null>;
    return page(conn, reply, 2, leaseMs, Number(reply[0]) === 1 && reply[1] !== '' ? String(reply[1]) : undefined);
  }
  const [score, id] = listCursor(query.cursor);
  const reply = (await conn.run('qtasksList', keys.queues, keys.base, query.status, query.queue ?? '', query.name ?? '', query.limit, score, id)) as Array<string | number | null>;
  return page(conn, reply, 3, leaseMs, Number(reply[0]) === 1 && reply[1] !== '' ? `${String(reply[1])}:${String(reply[2])}` : undefined);
}

/** A status listing's cursor '<score>:<id>' as LIST takes it ('' and '' for the first page). */
export function listCursor(cursor: string | undefined): [score: string, id: string] {
  if (cursor === undefined) return ['', ''];
  const colon = cursor.indexOf(':');
  return [cursor.slice(0, colon), cursor.slice(colon + 1)];
}

/** The records of a LIST reply, five fields each (r, lease, j, progress, id) from `from` on. */
async function page(conn: RedisConnection, reply: Array<string | number | null>, from: number, leaseMs: number, cursor: string | undefined): Promise<ControlListPage> {
  const records: TaskRecord[] = [];
  for (let k = from; k + 4 < reply.length; k += 5) {
    const record = decodeRecord(String(reply[k + 4]), reply.slice(k, k + 4) as Array<string | null>, leaseMs);
    if (record !== undefined) records.push(record);
  }
  await withArgs(conn, records);
  return cursor === undefined ? { records } : { records, cursor };
}

/** CLEAN, at most 1000 deletions per script call: a large clean never holds the server long. */
export async function indexClean(conn: RedisConnection, status: ListStatus, olderThanMs: number, limit: number, keys: Keys = conn.keys): Promise<number> {
  let n = 0;
  while (n < limit) {
    const done = Number(await conn.run('qtasksClean', keys.queues, keys.base, status, wholeMs(olderThanMs, 0), Math.min(1000, limit - n)));
    n += done;
    if (done === 0) break;
  }
  return n;
}

export class RedisStorageIndex implements StorageIndex {
  readonly #conn: RedisConnection;
  readonly #leaseMs: () => number;

  constructor(conn: RedisConnection, leaseMs: () => number) {
    this.#conn = conn;
    this.#leaseMs = leaseMs;
  }

  async counts(queues: readonly string[] | undefined): Promise<IndexCounts[]> {
    return (await indexCounts(this.#conn, queues)).map(({ paused: _, ...c }) => c);
  }

  list(query: ControlListQuery): Promise<ControlListPage> {
    return indexList(this.#conn, this.#leaseMs(), query);
  }

  async requeue(record: TaskRecord): Promise<boolean> {
    const keys = this.#conn.keys;
    return (await this.#conn.run('qtasksRequeueSaved', keys.record(record.id), keys.base, record.id, `0|${JSON.stringify(record)}`, record.queue)) === 1;
  }

  async remove(id: string): Promise<TaskRecord | undefined> {
    const keys = this.#conn.keys;
    const r = (await this.#conn.run('qtasksRemoveSaved', keys.record(id), keys.base, id)) as string | null;
    return typeof r === 'string' ? decodeRecord(id, [r, null, null], this.#leaseMs()) : undefined;
  }

  clean(status: ListStatus, olderThanMs: number, limit: number): Promise<number> {
    return indexClean(this.#conn, status, olderThanMs, limit);
  }
}
