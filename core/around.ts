/**
 * `task.around`: plugins wrap an attempt (a span and its context, a timer) without being able to
 * change or lose its outcome. The attempt runs exactly once whatever the runners do.
 */
import type { Delivery } from './contracts.js';
import type { TaskOutcome } from './executor.js';
import type { AttemptRunner, KernelHooks } from './hooks.js';
import type { TaskContext } from './task.js';

export function aroundAttempt(hook: KernelHooks['task']['around'], base: AttemptRunner, ctx: TaskContext, delivery: Delivery): Promise<TaskOutcome> {
  let inner: Promise<TaskOutcome> | undefined;
  const once: AttemptRunner = () => (inner ??= base());
  const failed = (err: unknown): Promise<TaskOutcome> => {
    ctx.logger.error({ err }, 'a task.around runner failed; the attempt goes on without it');
    return once();
  };
  let wrapped: Promise<unknown>;
  try {
    const runner = hook.call(once, ctx, delivery);
    wrapped = Promise.resolve(typeof runner === 'function' ? runner() : once());
  } catch (err) {
    return failed(err);
  }
  // A runner that resolves without running the attempt has it run now; its own value is ignored.
  return wrapped.then(() => once(), failed);
}
