/**
 * Large messages. Redis's Lua hashes every byte of each string a script creates (about 12
 * instructions per byte, callgrind), so a message of LARGE_MESSAGE characters or more stays out of
 * the scripts where it can: the enqueue stages its job strings with a plain MSET (broker.ts), and the
 * settle of its outcome stores the final record without the args, renaming the job string to
 * `a:<id>` with the record's TTL (STEP kind 'k', lua.ts). Readers put the args back (withArgs).
 */
import type { TaskMessage, TaskRecord } from '../../core/record.js';
import type { RedisConnection } from './connection.js';

/** Characters (UTF-16 units) from which a message counts as large; below, the extra commands cost more than the passes they save. */
export const LARGE_MESSAGE = 2048;

/**
 * Fills in the args of final records stored without them (records parsed from Redis, so not
 * shared): one MGET of the kept messages for all. A message gone meanwhile (expired or removed
 * with its record an instant after the record was read) leaves the args empty.
 */
export async function withArgs<T extends TaskRecord | undefined>(conn: RedisConnection, records: T[]): Promise<T[]> {
  const missing: TaskRecord[] = [];
  for (const r of records) if (r !== undefined && (r as { args?: unknown }).args === undefined) missing.push(r);
  if (missing.length === 0) return records;
  const jobs = await keptMessages(conn, missing);
  missing.forEach((r, k) => {
    const job = jobs[k];
    let args: TaskRecord['args'] = [];
    if (typeof job === 'string') {
      try {
        args = (JSON.parse(job.slice(job.indexOf('|') + 1)) as TaskMessage).args;
      } catch {
        // a kept message that is not JSON: the record stands without its args
      }
    }
    (r as { args: TaskRecord['args'] }).args = args;
  });
  return records;
}

/** The kept messages of `records`, in order: one MGET, or with placement 'queue' one per queue (each on its own slot). */
async function keptMessages(conn: RedisConnection, records: readonly TaskRecord[]): Promise<Array<string | null>> {
  const placement = conn.placement;
  if (!placement.perQueue) return conn.call('read args', (c) => c.mget(...records.map((r) => placement.app.message(r.id))));
  const out = new Array<string | null>(records.length).fill(null);
  const byQueue = new Map<string, number[]>();
  records.forEach((r, k) => {
    const at = byQueue.get(r.queue);
    if (at === undefined) byQueue.set(r.queue, [k]);
    else at.push(k);
  });
  await Promise.all(
    [...byQueue].map(async ([queue, at]) => {
      const keys = placement.of(queue);
      const jobs = await conn.call('read args', (c) => c.mget(...at.map((k) => keys.message(records[k]!.id))));
      at.forEach((k, n) => (out[k] = jobs[n] ?? null));
    }),
  );
  return out;
}

/** The record JSON a large task's outcome is stored as: everything but the args. */
export function recordWithoutArgs(record: TaskRecord): string {
  return JSON.stringify({ ...record, args: undefined });
}
