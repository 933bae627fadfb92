/**
 * `app.events`: one subscription per app to its broker's event stream, fanned out in memory to
 * every listener (and to `addTask(..., { onProgress })` callers, by task id). A listener given a
 * position (`from`) has a subscription of its own, which replays what came after it. A listener
 * that throws is logged; it never reaches the broker, the worker or the other listeners.
 */
import type { Control, EventGap, SubscribeOptions, TaskEvent, TaskEventType } from '../contracts.js';
import { ErrorCodes, QTasksError } from '../errors.js';
import type { LoggerLike } from '../logger.js';

export type TaskEventListener = (event: TaskEvent) => void;

export interface EventListenOptions {
  /**
   * Resume after this position (the `position` of the last event seen): the events the broker
   * still keeps after it are delivered first, then live ones. Redis only (`replay`); elsewhere
   * the call fails with QTASKS_ERR_UNSUPPORTED.
   */
  readonly from?: string;
  /** Told when events after the position (given, or the last read before a disconnect) were lost. */
  readonly onGap?: (gap: EventGap) => void;
}

/** A listener with a position: its own subscription. */
interface Replaying {
  readonly type: TaskEventType | '*';
  readonly listener: TaskEventListener;
  readonly options: SubscribeOptions;
  sub: Promise<() => Promise<void>> | undefined;
  stopped: boolean;
}

export class TaskEvents {
  readonly #byType = new Map<TaskEventType | '*', Set<TaskEventListener>>();
  readonly #byTask = new Map<string, Set<TaskEventListener>>();
  #control: (() => Control) | undefined;
  #log: LoggerLike | undefined;
  #subscription: Promise<() => Promise<void>> | undefined;
  #closed = false;
  #unsupported: Error | undefined;
  #noReplay: Error | undefined;
  readonly #gapListeners = new Set<(gap: EventGap) => void>();
  readonly #replaying = new Set<Replaying>();

  /**
   * Listens to events of `type` ('*': all) from every process; returns the function that stops
   * it. With `from`, it first receives what came after that position (see EventListenOptions).
   */
  on(type: TaskEventType | '*', listener: TaskEventListener, options: EventListenOptions = {}): () => void {
    if (this.#unsupported !== undefined) throw this.#unsupported;
    if (options.from !== undefined) return this.#replay(type, listener, options);
    let set = this.#byType.get(type);
    if (set === undefined) this.#byType.set(type, (set = new Set()));
    set.add(listener);
    const onGap = options.onGap;
    if (onGap !== undefined) this.#gapListeners.add(onGap);
    this.#connect();
    return () => {
      set.delete(listener);
      if (onGap !== undefined) this.#gapListeners.delete(onGap);
    };
  }

  /**
   * Resolves once events from now on are delivered (the subscriptions are live; a listener with
   * `from` has begun its replay); rejects when a subscription failed (a position refused).
   */
  async ready(): Promise<void> {
    if (this.#unsupported !== undefined) throw this.#unsupported;
    this.#connect();
    for (const r of this.#replaying) if (r.sub !== undefined) await r.sub;
    if (this.#subscription !== undefined) await this.#subscription;
  }

  #replay(type: TaskEventType | '*', listener: TaskEventListener, options: EventListenOptions): () => void {
    if (typeof options.from !== 'string' || options.from === '') {
      throw new QTasksError(ErrorCodes.INVALID_OPTION, `events.on: from must be the position of an event (TaskEvent.position), got ${JSON.stringify(options.from)}`);
    }
    if (this.#noReplay !== undefined) throw this.#noReplay;
    const r: Replaying = { type, listener, options: { from: options.from, ...(options.onGap !== undefined ? { onGap: options.onGap } : {}) }, sub: undefined, stopped: false };
    this.#replaying.add(r);
    this.#start(r);
    return () => {
      r.stopped = true;
      this.#replaying.delete(r);
      void r.sub?.then((stop) => stop()).catch(() => undefined);
    };
  }

  #start(r: Replaying): void {
    if (r.sub !== undefined || this.#control === undefined || this.#closed) return;
    const deliver = (event: TaskEvent): void => {
      if (!r.stopped && (r.type === '*' || r.type === event.type)) this.#call(new Set([r.listener]), event);
    };
    r.sub = this.#control().subscribe(deliver, r.options);
    r.sub.catch((err: unknown) => {
      // a `ready()` awaiting it rejects with the error; later ones are not failed by it
      this.#replaying.delete(r);
      this.#log?.error({ err }, 'event replay subscription failed');
    });
  }

  /** Listens to the events of one task (the kernel's onProgress). */
  forTask(id: string, listener: TaskEventListener): () => void {
    let set = this.#byTask.get(id);
    if (set === undefined) this.#byTask.set(id, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#byTask.delete(id);
    };
  }

  /** Called at app start: from now on listeners have a source. */
  attach(control: Control | Error, log: LoggerLike): void {
    this.#log = log;
    if (control instanceof Error) {
      this.#unsupported = control;
      // listeners added before start would otherwise wait forever in silence
      if (this.#byType.size > 0 || this.#replaying.size > 0) throw control;
      return;
    }
    if (!control.capabilities.has('replay')) {
      this.#noReplay = new QTasksError(
        ErrorCodes.UNSUPPORTED,
        `replay (events.on with from) is not supported by plugin "${control.name}": it cannot deliver events sent before the listener started; it is offered by redis() as broker (a capped event stream; see docs/operations.md)`,
      );
      if (this.#replaying.size > 0) throw this.#noReplay;
    }
    this.#control = () => control;
    if (this.#byType.size > 0) this.#connect();
    for (const r of this.#replaying) this.#start(r);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const r of this.#replaying) {
      r.stopped = true;
      if (r.sub !== undefined) await (await r.sub.catch(() => async () => undefined))();
    }
    this.#replaying.clear();
    const sub = this.#subscription;
    this.#subscription = undefined;
    if (sub !== undefined) await (await sub.catch(() => async () => undefined))();
  }

  #connect(): void {
    if (this.#subscription !== undefined || this.#control === undefined || this.#closed) return;
    this.#subscription = this.#control().subscribe((event) => this.#dispatch(event), { onGap: (gap) => this.#gap(gap) });
    this.#subscription.catch((err: unknown) => {
      this.#subscription = undefined;
      this.#log?.error({ err }, 'event subscription failed');
    });
  }

  #gap(gap: EventGap): void {
    if (this.#gapListeners.size === 0) this.#log?.warn(gap, 'events were lost while the event stream was disconnected (trimmed before they were read)');
    for (const l of this.#gapListeners) {
      try {
        l(gap);
      } catch (err) {
        this.#log?.error({ err }, 'an onGap listener threw');
      }
    }
  }

  #dispatch(event: TaskEvent): void {
    this.#call(this.#byTask.get(event.id), event);
    this.#call(this.#byType.get(event.type), event);
    this.#call(this.#byType.get('*'), event);
  }

  #call(listeners: Set<TaskEventListener> | undefined, event: TaskEvent): void {
    if (listeners === undefined) return;
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (err) {
        this.#log?.error({ err, event: event.type, taskId: event.id }, 'an event listener threw');
      }
    }
  }
}
