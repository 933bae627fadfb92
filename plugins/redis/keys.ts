/**
 * The key layout of one app, or of one queue of an app. Every key of an app starts with
 * `<prefix>:{<appName>}:`: the braces are a Redis Cluster hash tag, so all keys of an app live in
 * one slot and scripts may touch them all. With placement 'queue' (placement.ts) each queue gets
 * a base of its own, `<prefix>:q{<app name length>:<appName>:<queue>}:`, with the same layout
 * under it: a queue is then a small app of its own on its own slot. The length keeps
 * ('a:b', 'c') apart from ('a', 'b:c'); the `q` before the brace keeps queue bases apart from app
 * bases. docs/redis.md describes each key.
 */
export class Keys {
  /** `<prefix>:{<app>}:`; the scripts build per-task and per-queue keys from it. */
  readonly base: string;
  readonly leases: string;
  readonly delayed: string;
  readonly dead: string;
  readonly done: string;
  readonly workers: string;
  /** What each live worker said in its last heartbeat (HASH id -> JSON). */
  readonly workerInfo: string;
  readonly kv: string;
  readonly seq: string;
  /** Ids some caller waits for (ZSET, score = when the wait ends, ms). */
  readonly waiting: string;
  /** Every queue that ever had a task (SET): what counts, list and clean go over. */
  readonly queues: string;
  /** Paused queues (SET; '*': all), read by every claim. */
  readonly paused: string;
  /** The event stream (capped STREAM, one entry per kind per script call). */
  readonly events: string;
  /** Channel of cancel requests for running tasks ('<id>\n<reason>'). */
  readonly ctl: string;

  /** `queue`: the keys of that queue alone (placement 'queue'); without it, the app's. */
  constructor(prefix: string, appName: string, queue?: string) {
    this.base = queue === undefined ? `${prefix}:{${appName}}:` : `${queueBasePrefix(prefix, appName)}${queue}}:`;
    this.leases = `${this.base}leases`;
    this.delayed = `${this.base}delayed`;
    this.dead = `${this.base}dead`;
    this.done = `${this.base}done`;
    this.workers = `${this.base}workers`;
    this.workerInfo = `${this.base}workers:info`;
    this.kv = `${this.base}kv`;
    this.seq = `${this.base}seq`;
    this.waiting = `${this.base}waiting`;
    this.queues = `${this.base}queues`;
    this.paused = `${this.base}paused`;
    this.events = `${this.base}events`;
    this.ctl = `${this.base}ctl`;
  }

  /** The task while it is queued or running: '<runAt>|<message JSON>' (runAt only when delayed). */
  job(id: string): string {
    return `${this.base}j:${id}`;
  }

  /**
   * A large task's message once it ended (its job string, renamed by the settle): its final record
   * is stored without the args, which are read from here (same TTL as the record).
   */
  message(id: string): string {
    return `${this.base}a:${id}`;
  }

  /** The task's record once it is past `new`: '<attempts>|<record JSON>', with a TTL when final. */
  record(id: string): string {
    return `${this.base}r:${id}`;
  }

  /** Ready tasks of a queue (ZSET, score = priority, member '<16 hex counter><deliveries>:<id>\n<message>'). */
  ready(queue: string): string {
    return `${this.base}q:${queue}`;
  }

  /** Wake-up marker of a queue (ZSET with one member) that idle workers block on. */
  wake(queue: string): string {
    return `${this.base}w:${queue}`;
  }

  /** Ids in `status` of `queue` (ZSET scored by when they entered it), kept by the scripts. */
  status(status: string, queue: string): string {
    return `${this.base}s:${status}:${queue}`;
  }

  /** The running attempt's last progress value: '<attempt>|<JSON>'. */
  progress(id: string): string {
    return `${this.base}p:${id}`;
  }

  /** A pattern matching every key under this base (for cleanup tools and tests). */
  get pattern(): string {
    return `${this.base.replace(/[*?[\]\\]/g, '\\$&')}*`;
  }
}

/** What every queue base of an app starts with (placement 'queue'): `<prefix>:q{<length>:<app>:`. */
export function queueBasePrefix(prefix: string, appName: string): string {
  return `${prefix}:q{${appName.length}:${appName}:`;
}

/** A glob pattern for SCAN/PSUBSCRIBE: every key (or channel) of every queue base of an app ending with `suffix`. */
export function queueKeysPattern(prefix: string, appName: string, suffix = ''): string {
  return `${globEscape(queueBasePrefix(prefix, appName))}*${globEscape(suffix)}`;
}

function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}
