/**
 * Timers of any length. Node's setTimeout takes at most 2^31-1 ms (about 24.8 days) and fires a
 * longer one after 1 ms; every kernel timer a user can lengthen (maxTime, waits, the stop grace
 * period, start and stop step limits, the memory broker's delays) goes through here instead.
 */

/** The longest delay one Node timer takes: 2^31-1 ms, about 24.8 days. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LongTimer {
  /** Stops the timer; `fn` will not be called. */
  cancel(): void;
  /** Lets the process exit while only this timer is pending. */
  unref(): LongTimer;
}

const NEVER: LongTimer = Object.freeze({ cancel: () => undefined, unref: () => NEVER });

/**
 * Calls `fn` once after `ms`: one Node timer up to MAX_TIMER_MS, a chain of them beyond (each
 * link waits at most MAX_TIMER_MS, counted down without reading the clock). `Infinity` never fires.
 */
export function setLongTimeout(fn: () => void, ms: number): LongTimer {
  if (ms === Infinity) return NEVER;
  let remaining = Math.max(0, ms);
  let unref = false;
  let timer: NodeJS.Timeout;
  const arm = (): void => {
    const step = Math.min(remaining, MAX_TIMER_MS);
    remaining -= step;
    timer = setTimeout(remaining > 0 ? arm : fn, step);
    if (unref) timer.unref();
  };
  arm();
  const handle: LongTimer = {
    cancel: () => clearTimeout(timer),
    unref: () => {
      unref = true;
      timer.unref();
      return handle;
    },
  };
  return handle;
}
