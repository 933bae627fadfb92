/**
 * Crash suspicion: who pays for a lost worker. When a worker dies (process.exit, SIGKILL, an event
 * loop blocked past the lease), every delivery it held comes back with `lost` + 1, and nobody can
 * tell which of them took it down. So none is charged for it: a delivery with losses runs alone
 * (the Admission gate), and marks its record as it starts (`alone`). If that lone attempt is lost
 * too, its next delivery finds the mark and is dead-lettered: it took its worker down on its own.
 * Innocent losses cost no attempt (`attempt - lost` is what the delivery limit and retries count).
 */
import type { Delivery, Storage } from './contracts.js';
import { messageOf } from './errors.js';
import type { LoggerLike } from './logger.js';

/** Why a delivery must not run: a dead-letter reason, or undefined (run it). */
export async function suspicionVerdict(delivery: Delivery, limit: number, storage: Storage, log: LoggerLike): Promise<string | undefined> {
  const lost = delivery.lost ?? 0;
  const charged = delivery.attempt - lost;
  if (charged > limit) return `delivered ${charged} times without an outcome (limit ${limit})`;
  if (lost === 0) return undefined;
  let mark: { readonly attempt: number; readonly lost: number } | undefined;
  try {
    mark = (await storage.get(delivery.message.id))?.alone;
  } catch (err) {
    log.warn({ err: messageOf(err), taskId: delivery.message.id }, 'could not read the record of a suspect task; running it alone');
  }
  if (mark !== undefined && mark.attempt === delivery.attempt - 1 && mark.lost === lost - 1) {
    return `its worker was lost while it ran alone (attempt ${mark.attempt}, after ${mark.lost} earlier loss${mark.lost === 1 ? '' : 'es'}): it takes its worker down`;
  }
  // The backstop, for a storage that does not keep the mark: as many losses as the limit allows attempts.
  if (lost > limit) return `lost ${lost} times with its worker (limit ${limit})`;
  return undefined;
}

interface Waiter {
  readonly suspect: boolean;
  readonly go: (run: boolean) => void;
}

/**
 * Which deliveries of a worker may start: a suspect only when nothing else runs, and nothing
 * else while a suspect runs. First come, first served, so a suspect is not starved by a stream
 * of healthy tasks (they wait behind it). The fast path (no suspect around) allocates nothing.
 */
export class Admission {
  #running = 0;
  #solo = false;
  readonly #waiting: Waiter[] = [];

  /** True: start now. Otherwise resolves true when it may start, false if abandoned at stop. */
  enter(suspect: boolean): true | Promise<boolean> {
    if (this.#waiting.length === 0 && this.#may(suspect)) {
      this.#take(suspect);
      return true;
    }
    return new Promise<boolean>((go) => this.#waiting.push({ suspect, go }));
  }

  /** A delivery that entered has finished (settled or abandoned). */
  leave(suspect: boolean): void {
    if (suspect) this.#solo = false;
    else this.#running--;
    while (this.#waiting.length > 0 && this.#may(this.#waiting[0]!.suspect)) {
      const next = this.#waiting.shift()!;
      this.#take(next.suspect);
      next.go(true);
    }
  }

  /** At stop, past the grace period: deliveries still waiting are abandoned with the rest. */
  abandon(): void {
    for (const w of this.#waiting.splice(0)) w.go(false);
  }

  #may(suspect: boolean): boolean {
    return !this.#solo && (!suspect || this.#running === 0);
  }

  #take(suspect: boolean): void {
    if (suspect) this.#solo = true;
    else this.#running++;
  }
}
