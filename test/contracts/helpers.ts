/** Small helpers for tests that run against real servers. */
import { randomUUID } from 'node:crypto';
import type { QueueTasks } from '../../core/app.js';

/**
 * Where a failing check's rule is explained: a section of the plugin guide, which ships in the
 * package (docs/ is in its "files"), unlike these test sources' own paths. A test keeps the
 * sections named here in step with the guide's headings.
 */
export function guide(section: string): string {
  return `see docs/writing-a-broker-plugin.md, section "${section}" (shipped in the qtasks package under docs/)`;
}

/** A unique, readable name per test: apps, queues and keys never collide between runs or files. */
export function uniqueName(prefix = 't'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs` with `what`. */
export async function waitUntil<T>(check: () => T | Promise<T>, what: string, timeoutMs = 10_000, everyMs = 10): Promise<Exclude<T, false | undefined>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as Exclude<T, false | undefined>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A promise with its resolve function, for handlers that block until a test releases them. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/**
 * Registers task `name` on `app`: it never finishes, so its worker can only abandon it (stop past
 * stopTimeoutMs, or die). Resolves once a delivery of it has started.
 */
export function hangingTask(app: QueueTasks, name = 't'): Promise<void> {
  const started = gate();
  app.task(name, async () => {
    started.open();
    await new Promise(() => undefined);
  });
  return started.promise;
}
