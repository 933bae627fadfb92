/**
 * Lifecycle helpers: the interceptor that closes hooks after start and names failing plugins,
 * the stop runner that gives every tap its turn, and start-step time limits.
 */
import { ErrorCodes, HookError, NoRetryError, QTasksError, RetryLaterError } from './errors.js';
import { listHooks, type KernelHooks } from './hooks.js';
import { setLongTimeout, type LongTimer } from './timers.js';

interface TapLike {
  name: string;
  type: 'sync' | 'async' | 'promise';
  fn: (...args: unknown[]) => unknown;
}

/** Signal errors and our own errors pass through taps unchanged; anything else is wrapped with hook and plugin. */
function wrap(hook: string, plugin: string, err: unknown): unknown {
  if (err instanceof QTasksError || err instanceof NoRetryError || err instanceof RetryLaterError) return err;
  return new HookError(hook, plugin, err);
}

/**
 * Puts a register interceptor on every kernel hook: taps after start are refused (this also keeps
 * tapable from recompiling a hook on the hot path), and errors thrown by a tap are wrapped in a
 * HookError naming the hook and the plugin.
 */
export function guardHooks(hooks: KernelHooks, started: () => boolean): void {
  for (const [hookName, hook] of listHooks(hooks)) {
    // tapable counts interceptors as use: with this register-only one on every hook, isUsed()
    // would always be true and the hot path would call hooks nobody tapped.
    (hook as unknown as { isUsed(): boolean }).isUsed = () => hook.taps.length > 0;
    hook.intercept({
      register: (tap: TapLike): TapLike => {
        if (started()) {
          throw new QTasksError(ErrorCodes.ALREADY_STARTED, `cannot tap ${hookName} as "${tap.name}": the app is already started`);
        }
        const fn = tap.fn;
        if (tap.type === 'sync') {
          tap.fn = (...args) => {
            try {
              return fn(...args);
            } catch (err) {
              throw wrap(hookName, tap.name, err);
            }
          };
        } else if (tap.type === 'promise') {
          tap.fn = async (...args) => {
            try {
              return await fn(...args);
            } catch (err) {
              throw wrap(hookName, tap.name, err);
            }
          };
        }
        return tap;
      },
    });
  }
}

/**
 * Runs the taps of `lifecycle.stop` in reverse order (the reverse of start's stage order), each
 * one even when an earlier one failed. Returns the failures.
 */
export async function runStopTaps<C>(hook: { taps: unknown[] }, ctx: C, limitMs: number): Promise<unknown[]> {
  const errors: unknown[] = [];
  for (const tap of [...(hook.taps as TapLike[])].reverse()) {
    try {
      const run =
        tap.type === 'async'
          ? new Promise<void>((resolve, reject) => tap.fn(ctx, (err: unknown) => (err ? reject(err) : resolve())))
          : Promise.resolve().then(() => tap.fn(ctx));
      await withTimeout(run, limitMs, `lifecycle.stop tap "${tap.name}"`);
    } catch (err) {
      errors.push(err);
    }
  }
  return errors;
}

/** Rejects with LIFECYCLE_TIMEOUT if `work` takes longer than `ms` (any length; Infinity: no limit). */
export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  if (ms === Infinity) return work;
  let timer: LongTimer | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setLongTimeout(() => reject(new QTasksError(ErrorCodes.LIFECYCLE_TIMEOUT, `${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    timer?.cancel();
  }
}
