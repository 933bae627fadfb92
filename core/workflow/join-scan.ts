/**
 * The fallback join, for a storage without `join` (a custom storage plugin): a member that ended
 * stores its outcome, then reads its siblings' records; the one that finds them all final joins.
 * Each member stores before it reads, so of two members ending together at least one sees both
 * final; both may, and what the join enqueues has a fixed id, so the second is a no-op.
 */
import type { QueueTasks } from '../app.js';
import type { EnqueueParts } from '../enqueue.js';
import { isFinal, type TaskRecord } from '../record.js';
import { memberId, stepId, type GroupLink } from './link.js';

/**
 * Reads the siblings; undefined when one is still running (it will join) or when a sibling of this
 * process already found them all final (it joins). Downward from where this process's last scan of
 * the group found a member still running (at first: the last member), wrapping, in chunks read in
 * parallel (1, 2, 4 ... 256). Members run roughly in order, so the last ones and the last one
 * found running are the likeliest still running: most members stop at the first read, and a scan
 * does not re-read what earlier scans passed. Any order is correct (store, then read). Nothing is
 * sized by the group before the scan ends: most members stop at their first read.
 */
export async function scan(app: QueueTasks, parts: EnqueueParts, link: GroupLink, record: TaskRecord): Promise<Map<number, TaskRecord> | undefined> {
  const found = new Map<number, TaskRecord>([[link.index, record]]);
  const hints = hintsOf(app, HINTS);
  const scans = hintsOf(app, SCANS);
  const start = Math.min(hints.get(link.id) ?? link.size - 1, link.size - 1);
  const chain = link.callback?.chain;
  const next = chain !== undefined ? stepId(chain, chain.index) : link.id;
  // The k-th member to read (computed, not listed).
  const sibling = (k: number): number => (start - k + link.size) % link.size;
  let mine: ((all: boolean) => void) | undefined;
  let all = false;
  try {
    for (let at = 0, chunk = 1; at < link.size; at += chunk, chunk = Math.min(chunk * 2, 256)) {
      if (at > 0 && mine === undefined) {
        // Members ending together at the end would each read the whole group: in one process, one
        // does, and the others wait for it; if it stops at a member still running, they go on.
        const other = scans.get(link.id);
        if (other !== undefined && (await other)) return undefined;
        if (other === undefined) scans.set(link.id, new Promise<boolean>((resolve) => (mine = resolve)));
      }
      const ids: number[] = [];
      for (let k = at; k < Math.min(link.size, at + chunk); k++) if (sibling(k) !== link.index && !found.has(sibling(k))) ids.push(sibling(k));
      // From the second chunk on, also whether a sibling (of any process) joined meanwhile: what it
      // enqueued or wrote exists.
      const [joined, ...read] = await Promise.all([at > 0 ? parts.storage.get(next) : undefined, ...ids.map((j) => parts.storage.get(memberId(link, j)))]);
      if (joined !== undefined) return undefined;
      for (let k = 0; k < ids.length; k++) {
        const r = read[k];
        if (r === undefined || !isFinal(r.status)) {
          remember(hints, link.id, ids[k]!);
          return undefined; // a sibling still runs: it will join
        }
        found.set(ids[k]!, r);
      }
    }
    all = true;
    hints.delete(link.id);
    return found;
  } finally {
    if (mine !== undefined) {
      scans.delete(link.id);
      mine(all);
    }
  }
}

/** Per app: the group member each group's last scan found still running (a hint only: any order is correct). */
const HINTS = new WeakMap<QueueTasks, Map<string, number>>();
/** Per app: the scan of a group in progress that found every member read so far final (resolves true if it found all). */
const SCANS = new WeakMap<QueueTasks, Map<string, Promise<boolean>>>();
const MAX_HINTS = 1_000;

function hintsOf<V>(app: QueueTasks, per: WeakMap<QueueTasks, Map<string, V>>): Map<string, V> {
  let map = per.get(app);
  if (map === undefined) per.set(app, (map = new Map()));
  return map;
}

function remember(hints: Map<string, number>, group: string, index: number): void {
  hints.delete(group); // re-inserted last: the oldest hints go first
  hints.set(group, index);
  if (hints.size > MAX_HINTS) hints.delete(hints.keys().next().value!);
}
