/**
 * `app.events`: one subscription per app to its broker's event stream, fanned out in memory to
 * every listener (and to `addTask(..., { onProgress })` callers, by task id). A listener that
 * throws is logged; it never reaches the broker, the worker or the other listeners.
 */
import type { Control, TaskEvent, TaskEventType } from '../contracts.js';
import type { LoggerLike } from '../logger.js';

export type TaskEventListener = (event: TaskEvent) => void;

export class TaskEvents {
  readonly #byType = new Map<TaskEventType | '*', Set<TaskEventListener>>();
  readonly #byTask = new Map<string, Set<TaskEventListener>>();
  #control: (() => Control) | undefined;
  #log: LoggerLike | undefined;
  #subscription: Promise<() => Promise<void>> | undefined;
  #closed = false;
  #unsupported: Error | undefined;

  /** Listens to events of `type` ('*': all) from every process; returns the function that stops it. */
  on(type: TaskEventType | '*', listener: TaskEventListener): () => void {
    if (this.#unsupported !== undefined) throw this.#unsupported;
    let set = this.#byType.get(type);
    if (set === undefined) this.#byType.set(type, (set = new Set()));
    set.add(listener);
    this.#connect();
    return () => void set.delete(listener);
  }

  /** Resolves once events from now on are delivered (the subscription is live). */
  async ready(): Promise<void> {
    if (this.#unsupported !== undefined) throw this.#unsupported;
    this.#connect();
    if (this.#subscription !== undefined) await this.#subscription;
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
      if (this.#byType.size > 0) throw control;
      return;
    }
    this.#control = () => control;
    if (this.#byType.size > 0) this.#connect();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const sub = this.#subscription;
    this.#subscription = undefined;
    if (sub !== undefined) await (await sub.catch(() => async () => undefined))();
  }

  #connect(): void {
    if (this.#subscription !== undefined || this.#control === undefined || this.#closed) return;
    this.#subscription = this.#control().subscribe((event) => this.#dispatch(event));
    this.#subscription.catch((err: unknown) => {
      this.#subscription = undefined;
      this.#log?.error({ err }, 'event subscription failed');
    });
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
