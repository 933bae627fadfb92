/**
 * The contracts a broker, storage or global-config plugin implements. A plugin supplies its
 * implementation through `hooks.broker.provide` / `hooks.storage.provide` /
 * `hooks.storage.provideGlobalConfig`; the kernel calls these methods and nothing else.
 * `qtasks/testing` checks an implementation against them.
 */
import type { Config } from './config.js';
import type { LoggerLike } from './logger.js';
import type { TaskMessage, TaskRecord, TaskStatusName } from './record.js';

/** What the kernel hands a component when the app starts. */
export interface ComponentContext {
  /** The app's name; the namespace for keys, queues and channels. */
  readonly appName: string;
  readonly config: Readonly<Config>;
  readonly logger: LoggerLike;
  /**
   * Set for `Broker.start` only: true when the app's storage is this broker's `records` (fused:
   * the kernel writes no records, the broker stores them with the queue changes), false otherwise.
   */
  readonly fused?: boolean;
}

/** One delivery of a message to this worker. */
export interface Delivery {
  readonly message: TaskMessage;
  /** 1-based count of deliveries of this message, this one included (crash redeliveries count). */
  readonly attempt: number;
  /**
   * How many deliveries of this message before this one were lost: handed out and never settled
   * (their worker crashed, was killed, stopped past its grace period or stopped answering past
   * the lease). Counted by the broker and carried across retries; absent means 0. The worker runs
   * a delivery with losses alone, under suspicion, and does not charge innocent losses against
   * the delivery limit (docs/architecture.md, Reliability).
   */
  readonly lost?: number;
}

export interface PublishOptions {
  /** Do not deliver before this many ms from now (0: now). */
  readonly delayMs: number;
  /** The record in status `new`; a broker with `records` stores it atomically with the message. */
  readonly record: TaskRecord;
  /** The caller will wait for the outcome (addTask with a timeout): a broker without storage may arrange a reply. */
  readonly awaitsResult: boolean;
  /**
   * With `awaitsResult`: how long the caller waits, ms. A broker that keeps the records may mark
   * the wait in the enqueue itself (Redis: one script call instead of two per awaited add).
   */
  readonly waitMs?: number;
  /**
   * Set only for a broker that keeps the app's records (fused) and only when the call asked for
   * it: the id was chosen by the caller (`unique`) or a dedup key was given. The broker checks
   * them atomically with the enqueue and answers `{ existing }` instead of enqueuing. Other
   * brokers never see these: storage (`Storage.reservePublish`, else `reserve`) takes the id and
   * key before publishing.
   */
  readonly unique?: boolean;
  readonly dedup?: DedupRequest;
}

/** A dedup key as the kernel hands it to a broker or storage (checked: key non-empty, ttlMs whole). */
export interface DedupRequest {
  readonly key: string;
  readonly mode: 'simple' | 'throttle' | 'debounce';
  /** 0: none (simple without a bound). */
  readonly ttlMs: number;
}

/**
 * What `publish` answers when it did not enqueue because the task exists: `existing` is the id of
 * the task the call was merged into (its own id for `unique`; for `debounce`, the pending task,
 * whose args and delay were replaced by this call's).
 */
export interface PublishOutcome {
  readonly existing: string;
}

export interface ReserveOptions extends SaveOptions {
  readonly dedup?: DedupRequest;
}

/** Options of `Storage.reservePublish`. */
export interface PublishReserveOptions extends ReserveOptions {
  /**
   * How long the caller may take to publish and confirm, ms from the reservation (the kernel
   * passes `leaseMs`). Until then no other caller takes the reservation over.
   */
  readonly publishMs: number;
}

/** What `Storage.reservePublish` answers. */
export type PublishReservation =
  /** The record is stored (the id was free, or its reservation was taken over): publish, then `confirmPublish`. */
  | { readonly kind: 'reserved' }
  /** The id is taken, or the dedup key held, by task `id` (as `reserve` answers it). */
  | { readonly kind: 'existing'; readonly id: string }
  /** Reserved by a caller whose publish is neither confirmed nor past its deadline: ask again after `retryMs`. */
  | { readonly kind: 'publishing'; readonly retryMs: number };

export interface ConsumeOptions {
  readonly queues: readonly string[];
  /** The broker never has more than this many unsettled deliveries at once for this consumer. */
  readonly concurrency: number;
  /** Called once per delivery; the kernel settles it later with ack, retry or deadLetter. */
  readonly onDelivery: (delivery: Delivery) => void;
  /**
   * Only for a broker with `claimLimits`, and only when some of `queues` have limits: per queue,
   * the limits its claim must hold app-wide (`app.queue` limits without `key`).
   */
  readonly limits?: ReadonlyMap<string, QueueClaimLimits>;
}

/** A queue's limits as a broker's claim holds them (`Broker.claimLimits`). */
export interface QueueClaimLimits {
  /** At most this many of the queue's tasks delivered and unsettled at once, across every consumer of the app. */
  readonly globalConcurrency?: number;
  /** At most `max` of the queue's tasks delivered in any window of `perMs` ms (sliding), across every consumer. */
  readonly rate?: { readonly max: number; readonly perMs: number };
}

/** A message the broker could not turn into a task, kept with the reason. */
export interface DeadLetter {
  readonly id?: string;
  readonly reason: string;
  /** The raw payload, as text. */
  readonly payload: string;
}

export interface Broker {
  readonly name: string;
  /**
   * The storage this broker keeps in step atomically (set by a plugin that is both broker and
   * storage). When it is the app's storage, the kernel does not write records itself: the
   * broker stores `new` on publish, `process` on delivery, and the outcome on settle.
   * `| undefined` so a class that holds an optional storage implements this under
   * `exactOptionalPropertyTypes`, in its users' projects too.
   */
  readonly records?: Storage | undefined;
  /**
   * The control plane over this broker's queues (counts, list, cancel, pause, events...). Optional:
   * without it every control call fails with `QTASKS_ERR_UNSUPPORTED`. See `Control`.
   */
  readonly control?: Control | undefined;
  /**
   * True when `consume` holds `ConsumeOptions.limits` inside its claim, app-wide and atomically:
   * a task beyond its queue's limits stays waiting in the queue, it is not delivered and held.
   * The kernel then leaves those limits to the broker (task limits and keyed queue limits, which
   * depend on the task or its args, stay in the worker's flow gate). Optional: without it, the
   * gate enforces every limit through `GlobalConfig.limiter`.
   */
  readonly claimLimits?: boolean | undefined;
  /** Connect. Called once, before any other method. */
  start(ctx: ComponentContext): Promise<void>;
  /**
   * Resolves once the broker has the message durably (confirmed), never before. A fused broker
   * given `unique` or `dedup` resolves with `{ existing }` when it did not enqueue (see PublishOptions).
   */
  publish(message: TaskMessage, options: PublishOptions): Promise<void | PublishOutcome>;
  /**
   * Start delivering messages from `queues`: lower priority first, FIFO within a priority,
   * delayed messages not before their time, redelivery of deliveries whose worker vanished.
   */
  consume(options: ConsumeOptions): Promise<void>;
  /** Stop delivering new messages. Unsettled deliveries can still be settled. */
  pause(): Promise<void>;
  /**
   * The task has its outcome (`record` is final): remove it from the queue (a broker with
   * `records` stores the record in the same step, fenced by the lease). Returns false if this
   * delivery no longer owns the task (its lease expired and another delivery took it). Resolved
   * or rejected, the delivery no longer counts toward the consumer's concurrency; after a
   * rejection the kernel calls `retry` to hand it back (false if it was settled after all).
   * `record` is plain JSON: encoding it cannot fail.
   */
  ack(delivery: Delivery, record: TaskRecord, options: SaveOptions): Promise<boolean>;
  /** Deliver again after `delayMs`; `record` is in status `retry`. */
  retry(delivery: Delivery, record: TaskRecord, delayMs: number): Promise<boolean>;
  /**
   * Optional: give an unrun delivery back, to be delivered again with the same `attempt` and
   * `lost` (no attempt is spent), to another consumer first where the broker can arrange it,
   * not to this consumer before `delayMs`. The worker uses it to leave a task it does not know
   * to a live worker that does; without it, a worker fails tasks it does not know.
   */
  release?(delivery: Delivery, delayMs: number): Promise<boolean>;
  /**
   * Optional: give an unrun delivery back to be delivered again, with the same `attempt` and
   * `lost`, to no consumer before `delayMs` (a handler's RateLimitError). Without it the worker
   * uses `release`, which must then delay the task for every consumer.
   */
  postpone?(delivery: Delivery, delayMs: number): Promise<boolean>;
  /** Move to the dead letters; `record` is in status `dead` with a reason. */
  deadLetter(delivery: Delivery, record: TaskRecord, options: SaveOptions): Promise<boolean>;
  /** Malformed messages and dead-lettered tasks, newest first. */
  deadLetters(limit: number): Promise<DeadLetter[]>;
  /** Release connections it owns. Unsettled deliveries return to the queue (now or at lease expiry). */
  stop(): Promise<void>;
}

export interface SaveOptions {
  /** For a final record: how long storage keeps it. */
  readonly ttlMs: number;
}

/** One write of `Storage.saveMany`. */
export interface RecordWrite {
  readonly record: TaskRecord;
  readonly options: SaveOptions;
}

/** One call of `Storage.join`: a group member's final record, and where it counts. */
export interface GroupJoin {
  /** The group's id (the members' ids derive from it). */
  readonly group: string;
  /** The member's place in the group, 0-based. */
  readonly member: number;
  /** How many members the group has. */
  readonly size: number;
  /** The member's final record. */
  readonly record: TaskRecord;
  /** How long the record, and the group's set of ended members, are kept. */
  readonly ttlMs: number;
}

export interface Storage {
  readonly name: string;
  start(ctx: ComponentContext): Promise<void>;
  /**
   * Create or replace a record. Fenced: when the stored record has more `attempts` than
   * `record.attempts`, nothing is written and false is returned (a stale worker lost its lease).
   * A final record is kept for `ttlMs` and wakes `waitFinal` callers.
   */
  save(record: TaskRecord, options: SaveOptions): Promise<boolean>;
  /**
   * Optional: several `save`s in one call (one round trip for a networked storage). Each write is
   * fenced on its own and applied in the given order (a later write of the same id sees the
   * earlier one); the answer holds each write's `save` result, in the same order. The kernel,
   * when the broker does not keep records, groups the writes of one event-loop turn (the `new`
   * records of a bulk add, `process` and outcome records) into one call; without it, one `save` each.
   */
  saveMany?(writes: readonly RecordWrite[]): Promise<boolean[]>;
  get(id: string): Promise<TaskRecord | undefined>;
  /**
   * Optional: `get` of many ids at once (one round trip for a networked storage), answers in the
   * given order. Workflows read a whole group's records with it once every member ended; without
   * it, one `get` each.
   */
  getMany?(ids: readonly string[]): Promise<Array<TaskRecord | undefined>>;
  /**
   * Optional: in ONE atomic step, adds a group member's index to the group's set of ended members
   * (kept `ttlMs`, as the record) and answers how many distinct members the set holds; while that
   * is below `size`, the member's record is stored in the same step (as `save`). The join that
   * completes the set does not store the record: its caller moves the workflow on, then stores it
   * (the worker's settle), so a crash in between leaves the member unsettled with no final record,
   * and its redelivery joins again. Fenced as `save`: when a newer attempt's record is stored,
   * nothing changes and the answer is 0. A member joining again is counted once and gets the
   * current count, so of distinct members joining concurrently exactly one gets `size`.
   * Workflows use it so the member that ends last, and only it, moves the workflow on; without
   * it, each member reads its siblings' records.
   */
  join?(entry: GroupJoin): Promise<number>;
  /**
   * Optional: stores the `new` record unless the id is taken (a record with it exists) or, with
   * `dedup`, the key is held (simple: by a task still pending; throttle: for ttlMs after it was
   * taken); atomic. Returns the id of the task that holds it, or undefined when it stored the
   * record (and took the key). The kernel uses it before publishing to a broker that does not
   * keep records, for `addTask` with `id` or `dedup`; without it those calls fail UNSUPPORTED.
   */
  reserve?(record: TaskRecord, options: ReserveOptions): Promise<string | undefined>;
  /**
   * Optional, with `confirmPublish`: `reserve` for a publish that may not happen (its caller can
   * die in between), atomic as `reserve`. The stored `new` record is marked unconfirmed until
   * `publishMs` from now (by the storage's clock). Meeting such a mark on a record still in status
   * `new` with 0 attempts (the id's, or with `dedup` the key holder's): before its deadline the
   * answer is `publishing` (ask again later); after it, the reservation is taken over (this
   * record stored, the key taken, a new deadline) and the answer is `reserved`. A record that
   * moved on (a worker saved it) or a mark confirmed is an ordinary holder (`existing`). The
   * kernel uses it, when offered, instead of `reserve` before publishing to a broker that does
   * not keep records: a publisher killed between the two no longer leaves the id taken by a task
   * that never runs (docs/decisions.md, Flow control).
   */
  reservePublish?(record: TaskRecord, options: PublishReserveOptions): Promise<PublishReservation>;
  /**
   * Optional, with `reservePublish`: the publish of `id` ended. `published` true: the broker
   * confirmed it, so the mark is removed (whoever set it: some publish of the id is confirmed) and
   * the id is held as `reserve` holds it. False: the publish failed; the mark's deadline becomes
   * now, so the next `reservePublish` of the id takes it over at once. Without a mark, nothing
   * changes.
   */
  confirmPublish?(id: string, published: boolean): Promise<void>;
  /**
   * Resolves with the record once it is final, or undefined after `timeoutMs`. Event driven
   * (a notification or a blocking read), never a polling loop.
   */
  waitFinal(id: string, timeoutMs: number): Promise<TaskRecord | undefined>;
  /**
   * Optional: resolves once a `waitFinal` begun from now on sees its record become final however
   * soon that happens (Redis: its subscription is live). `addTask(..., { timeout })` awaits it,
   * then starts waiting, then publishes; a storage whose waitFinal registers synchronously needs none.
   */
  prepareWait?(): Promise<void>;
  /**
   * Optional: status indexes kept by `save` (and `reserve`), so a broker that keeps no records
   * (RabbitMQ) can count, list, clean and retry from storage. See `StorageIndex`.
   */
  readonly index?: StorageIndex | undefined;
  stop(): Promise<void>;
}

/** What a worker says about itself in each heartbeat; `app.workers()` lists these. */
export interface WorkerInfo {
  /** Unique per worker (a UUID), stable for its life. */
  readonly id: string;
  /** The app's name (one registry per app name). */
  readonly app: string;
  readonly host: string;
  readonly pid: number;
  /** The queues it consumes. */
  readonly queues: readonly string[];
  readonly concurrency: number;
  /** Tasks running at its last heartbeat. */
  readonly running: number;
  /** The task names it serves (its registered tasks), sorted. */
  readonly tasks: readonly string[];
  /** Epoch ms. */
  readonly startedAt: number;
  /** Epoch ms of its last heartbeat, by the worker's clock. */
  readonly lastHeartbeat: number;
}

/** Liveness, the worker registry and a small shared key-value store for an app (QTasks' GlobalConfig). */
export interface GlobalConfig {
  readonly name: string;
  start(ctx: ComponentContext): Promise<void>;
  set(key: string, value: string): Promise<void>;
  get(key: string): Promise<string | undefined>;
  /** Optional: forgets `key` (a later `get` answers undefined). Without it, callers leave the key in place. */
  delete?(key: string): Promise<void>;
  /**
   * Optional: sets of strings, each change atomic on its own (two instances adding different
   * members at once both land). Named apart from the `set`/`get` keys. Schedules need it.
   */
  readonly sets?: GlobalSets | undefined;
  /** Records that `worker` of this app is alive for `ttlMs`, replacing what it said before. */
  heartbeat(worker: WorkerInfo, ttlMs: number): Promise<void>;
  /** Forgets a worker at once (it stopped): it is no longer alive nor listed. */
  leave(workerId: string): Promise<void>;
  /** The workers of this app with a live heartbeat, each as its last heartbeat described it. */
  workers(): Promise<WorkerInfo[]>;
  /** Whether some worker of this app has a live heartbeat (cheaper than `workers()`). */
  alive(): Promise<boolean>;
  /**
   * Optional: app-wide counters for rate limits and global concurrency (docs/flow-control.md).
   * Without it, a task with `rateLimit` or `globalConcurrency` makes the worker's start fail.
   */
  readonly limiter?: Limiter | undefined;
  stop(): Promise<void>;
}

/** Sets of strings in a GlobalConfig (GlobalConfig.sets). */
export interface GlobalSets {
  /** Adds `member` to the set `key`; true when it was not there. */
  add(key: string, member: string): Promise<boolean>;
  /** Removes `member` from the set `key`; true when it was there. */
  remove(key: string, member: string): Promise<boolean>;
  /** The members of the set `key`, in no particular order ([] when there is none). */
  members(key: string): Promise<string[]>;
}

/** A running slot: at most `limit` running at once, app-wide, per `key`. */
export interface ConcurrencyLimit {
  readonly key: string;
  readonly limit: number;
}

/** A rate slot: at most `max` starts in any window of `perMs`, app-wide, per `key` (a sliding window). */
export interface RateLimitSlot {
  readonly key: string;
  readonly max: number;
  readonly perMs: number;
}

/**
 * What one delivery must take before it runs: running slots and rate slots (its task's and its
 * queue's, so up to two of each), all or none.
 */
export interface FlowLimits {
  readonly concurrency?: readonly ConcurrencyLimit[];
  readonly rate?: readonly RateLimitSlot[];
}

/** App-wide flow counters, kept where every worker of the app sees them (GlobalConfig.limiter). */
export interface Limiter {
  /**
   * Takes what `limits` asks for, all of it or nothing, atomically. Returns 0 when taken, else how
   * many ms to wait before asking again. A running slot is held by `token` for `holdMs` unless renewed.
   */
  acquire(token: string, limits: FlowLimits, holdMs: number): Promise<number>;
  /** Keeps `token`'s running slot under `key` for another `holdMs`. */
  renew(token: string, key: string, holdMs: number): Promise<void>;
  /** Gives `token`'s running slot under `key` back. */
  release(token: string, key: string): Promise<void>;
}

// --- the control plane (issue 13): see docs/operations.md ---

/** Per queue, how many records the storage keeps in each status (`delayed`: `new` ones saved with a future `runAt`, not started yet). */
export type IndexCounts = { readonly queue: string } & Readonly<Record<TaskStatusName | 'delayed', number>>;

/**
 * The storage side of the control plane, for a broker without records: every `save` files the
 * record under its status and queue (newest last), and final ones are kept by count per status
 * (`retention`) as well as by their TTL. The broker's control adds what only the broker knows
 * (what its queues hold) and revokes queued copies itself.
 */
export interface StorageIndex {
  /** Per queue (in the order given; undefined: every queue seen), the records kept per status. */
  counts(queues: readonly string[] | undefined): Promise<IndexCounts[]>;
  /** A page of records of one status, newest first, as `Control.list`. */
  list(query: ControlListQuery): Promise<ControlListPage>;
  /**
   * Atomically: if the record is `error` or `dead`, replaces it (unfenced) with `record` (status
   * `new`, attempts 0) and returns true; else false.
   */
  requeue(record: TaskRecord): Promise<boolean>;
  /** Deletes a record (and its index entries) unless it is `process`; returns what was deleted. */
  remove(id: string): Promise<TaskRecord | undefined>;
  /** Deletes up to `limit` records of `status` that entered it more than `olderThanMs` ago. */
  clean(status: ListStatus, olderThanMs: number, limit: number): Promise<number>;
}

/** What a `Control` may offer; a call whose capability is missing fails with QTASKS_ERR_UNSUPPORTED. */
export type ControlCapability = 'counts' | 'list' | 'cancel' | 'retry' | 'promote' | 'remove' | 'clean' | 'purge' | 'pause' | 'events' | 'progress' | 'replay';

export const CONTROL_CAPABILITIES: readonly ControlCapability[] = ['counts', 'list', 'cancel', 'retry', 'promote', 'remove', 'clean', 'purge', 'pause', 'events', 'progress', 'replay'];

/** The tasks of one queue by state. Finished counts cover what storage still keeps (retention). */
export interface QueueCounts {
  readonly queue: string;
  /** Ready to run now (status `new`, not delayed; retries due now are counted in `retrying`). */
  readonly waiting: number;
  /** Status `new` with a start time in the future. */
  readonly delayed: number;
  readonly running: number;
  /** Failed an attempt and waiting for the next one. */
  readonly retrying: number;
  readonly dead: number;
  readonly success: number;
  readonly error: number;
  readonly cancel: number;
  /** The queue is paused (by `app.pause(queue)` or `app.pause()`). */
  readonly paused: boolean;
}

/** The statuses `list` and `clean` accept (every record status). */
export type ListStatus = TaskStatusName;

export interface ControlListQuery {
  readonly status: ListStatus;
  readonly queue?: string;
  readonly name?: string;
  /** 1..1000. */
  readonly limit: number;
  /** The plugin's own cursor from the previous page (the kernel wraps and checks it). */
  readonly cursor?: string;
}

export interface ControlListPage {
  /** Newest first (waiting tasks: last to run first). */
  readonly records: TaskRecord[];
  /** Absent on the last page. */
  readonly cursor?: string;
}

/** What `cancel` found: removed from its queue, signalled while running, already final, or nothing. */
export type CancelFound = 'queued' | 'running' | 'final' | 'unknown';

export type TaskEventType = 'added' | 'delayed' | 'active' | 'progress' | 'completed' | 'failed' | 'retrying' | 'dead' | 'cancelled';

/** One cross-process event. Small by design: results are read with `app.get(id)`. */
export interface TaskEvent {
  readonly type: TaskEventType;
  readonly id: string;
  readonly name: string;
  readonly queue: string;
  /** The attempt the event belongs to (0 for added/delayed). */
  readonly attempt: number;
  /** Epoch ms (the server's clock where there is one). */
  readonly at: number;
  /** The value, for `progress`. */
  readonly progress?: unknown;
  /** The error message (failed, retrying, dead) or the cancel reason. */
  readonly message?: string;
  /** Where a plugin can replay from (Redis: the stream id); pass it back as `from` to resume after this event. */
  readonly position?: string;
}

/** Events that could not be replayed: the stream no longer held some of what came after `after`. */
export interface EventGap {
  /** The position the subscription resumed from. */
  readonly after: string;
  /** The oldest position the stream still held, where delivery went on (undefined: the stream was empty). */
  readonly oldest?: string;
}

export interface SubscribeOptions {
  /**
   * Replay what came after this position (a `TaskEvent.position`) before going live. Only a
   * control with the `replay` capability accepts it (the kernel checks).
   */
  readonly from?: string;
  /** Called when events after the position (given, or the last one read before a disconnect) were lost. */
  readonly onGap?: (gap: EventGap) => void;
}

/**
 * The control plane of a broker, supplied as `broker.control`. The kernel validates input,
 * wraps cursors and turns a missing capability into QTASKS_ERR_UNSUPPORTED; the plugin does the
 * work atomically where its server allows. Record-backed capabilities (list, retry, remove,
 * clean, finished counts) need a broker that keeps records (`broker.records`).
 */
export interface Control {
  /** The plugin's name, for error messages. */
  readonly name: string;
  readonly capabilities: ReadonlySet<ControlCapability>;
  /** Names the plugin set that offers what this one lacks (used in unsupported errors). */
  readonly alternatives: string;
  /** Per queue, in the order given; `queues` undefined means every queue the broker has seen. */
  counts(queues: readonly string[] | undefined): Promise<QueueCounts[]>;
  list(query: ControlListQuery): Promise<ControlListPage>;
  /** A queued task is removed and its record becomes `cancel`; a running one is signalled to its worker. */
  cancel(id: string, reason: string): Promise<CancelFound>;
  /**
   * Puts a finished-badly task back: only if its record is `error` or `dead` and it is in no queue;
   * `message` is the task to queue again (fresh attempt count). False if the record changed meanwhile.
   */
  retry(message: TaskMessage): Promise<boolean>;
  /** A delayed or retrying task runs now. False if it was not delayed. */
  promote(id: string): Promise<boolean>;
  /** Deletes the task everywhere (queue, record, indexes) unless it is running. False if it is running or unknown. */
  remove(id: string): Promise<boolean>;
  /** Deletes up to `limit` records of `status` last updated more than `olderThanMs` ago. */
  clean(status: ListStatus, olderThanMs: number, limit: number): Promise<number>;
  /** Drops what waits and is delayed in `queue` (their records too); returns how many. */
  purge(queue: string): Promise<number>;
  /** Pauses (`paused` true) or resumes `queue`, or every queue with `'*'`. Kept by the broker. */
  setPaused(queue: string, paused: boolean): Promise<void>;
  /** Stores `value` on the running record of the task if `attempt` is still its delivery (fenced) and emits `progress`. */
  progress(message: TaskMessage, attempt: number, value: unknown): Promise<boolean>;
  /**
   * Delivers every event of the app, from any process, until the returned function is called.
   * With `replay`, `options.from` starts after that position, and a reconnect resumes after the
   * last event read; events lost meanwhile (trimmed from a capped stream) are reported to `onGap`.
   */
  subscribe(listener: (event: TaskEvent) => void, options?: SubscribeOptions): Promise<() => Promise<void>>;
  /** A worker listens for cancel requests of running tasks (from any process). */
  onCancel(listener: (id: string, reason: string) => void): Promise<() => Promise<void>>;
}

/** Finished records kept per queue and status, by count (older ones are deleted as new ones finish). */
export type Retention = Partial<Record<'success' | 'error' | 'cancel' | 'dead', number>>;
