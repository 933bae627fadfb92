/**
 * A pool of sandboxes for one processor, at most `size` of them (the worker's concurrency), so
 * a task waits for a free sandbox rather than failing. Sandboxes are reused while healthy and
 * replaced after any fault.
 */
import { Sandbox, type SandboxSpec } from './sandbox.js';

export class SandboxPool {
  readonly spec: SandboxSpec;
  readonly #idle: Sandbox[] = [];
  readonly #all = new Set<Sandbox>();
  readonly #waiting: Array<() => void> = [];
  #size = 1;
  #closed = false;

  constructor(spec: SandboxSpec) {
    this.spec = spec;
  }

  /** Starts one sandbox and waits until it loaded the processor: a bad processor fails here, at start. */
  async warm(size: number): Promise<void> {
    this.#size = Math.max(1, size);
    this.#closed = false;
    const sandbox = this.#spawn();
    await sandbox.ready;
    this.#release(sandbox);
  }

  /** A ready sandbox for one task; waits while all `size` are busy. Rejects if `signal` aborts first. */
  async acquire(signal: AbortSignal): Promise<Sandbox> {
    for (;;) {
      signal.throwIfAborted();
      const idle = this.#idle.pop();
      if (idle !== undefined) {
        if (idle.alive) return idle;
        continue;
      }
      if (this.#all.size < this.#size && !this.#closed) {
        const sandbox = this.#spawn();
        await sandbox.ready;
        return sandbox;
      }
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason as Error);
        signal.addEventListener('abort', onAbort, { once: true });
        this.#waiting.push(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    }
  }

  /** Back to the pool after a task, or killed if it misbehaved (or the pool is closing). */
  release(sandbox: Sandbox, healthy: boolean): void {
    if (!healthy || this.#closed) sandbox.kill();
    else this.#release(sandbox);
  }

  #release(sandbox: Sandbox): void {
    if (!sandbox.alive) return;
    sandbox.idle();
    this.#idle.push(sandbox);
    this.#waiting.shift()?.();
  }

  #spawn(): Sandbox {
    const sandbox = new Sandbox(this.spec);
    this.#all.add(sandbox);
    sandbox.onEnd(() => {
      this.#all.delete(sandbox);
      const at = this.#idle.indexOf(sandbox);
      if (at >= 0) this.#idle.splice(at, 1);
      this.#waiting.shift()?.(); // a slot is free: a waiter may start a replacement
    });
    return sandbox;
  }

  /** Kills every sandbox (app stop). */
  close(): void {
    this.#closed = true;
    for (const sandbox of this.#all) sandbox.kill();
    this.#idle.length = 0;
  }
}
