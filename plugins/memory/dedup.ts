/**
 * Caller-chosen ids and dedup keys for the memory plugin (docs/flow-control.md). Everything runs
 * synchronously inside one call, so the check and the enqueue are atomic as on Redis.
 */
import type { DedupRequest } from '../../core/contracts.js';
import type { TaskMessage, TaskRecord } from '../../core/record.js';
import type { MemoryBackend } from './backend.js';

/** Dedup key -> the task that holds it and until when (epoch ms; Infinity: while pending). */
export class DedupKeys {
  readonly #keys = new Map<string, { id: string; until: number }>();

  holder(key: string, now: number): { id: string; until: number } | undefined {
    const entry = this.#keys.get(key);
    if (entry === undefined) return undefined;
    if (entry.until <= now) {
      this.#keys.delete(key);
      return undefined;
    }
    return entry;
  }

  take(key: string, id: string, until: number): void {
    this.#keys.set(key, { id, until });
  }
}

/** Whether the task is waiting, delayed, running or retrying. */
function pending(backend: MemoryBackend, id: string): boolean {
  return backend.live.get(id) !== undefined;
}

/**
 * The id of the task this call merges into, or undefined when it is to be enqueued (the key is
 * then taken for `id`). `records`: the backend keeps records, so a retained one holds its id too.
 * Debounce replaces the pending delayed task here (its message and, with records, its record).
 */
export function admit(
  backend: MemoryBackend,
  message: TaskMessage,
  record: TaskRecord,
  delayMs: number,
  unique: boolean,
  dedup: DedupRequest | undefined,
  records: boolean,
): string | undefined {
  const id = message.id;
  if (unique && (pending(backend, id) || (records && backend.getRecord(id) !== undefined))) return id;
  if (dedup === undefined) return undefined;
  const now = Date.now();
  const held = backend.dedup.holder(dedup.key, now);
  if (held !== undefined) {
    if (dedup.mode === 'throttle') return held.id;
    if (dedup.mode === 'simple' && pending(backend, held.id)) return held.id;
    if (dedup.mode === 'debounce') {
      const task = backend.live.get(held.id);
      if (task !== undefined && task.state === 'delayed') {
        // The last call of a burst wins: its args (and message) under the pending task's id, its delay afresh.
        const merged: TaskMessage = { ...message, id: held.id, createdAt: task.message.createdAt };
        backend.enqueue(merged, delayMs, 0, false);
        if (records) backend.replaceRecord({ ...record, id: held.id, createdAt: task.message.createdAt });
        return held.id;
      }
    }
  }
  const until = dedup.mode === 'throttle' || dedup.ttlMs > 0 ? now + dedup.ttlMs : Infinity;
  backend.dedup.take(dedup.key, id, until);
  return undefined;
}
