/** Memory storage and global config over a MemoryBackend. */
import type { ComponentContext, GlobalConfig, SaveOptions, Storage } from '../../core/contracts.js';
import type { TaskRecord } from '../../core/record.js';
import type { MemoryBackend } from './backend.js';

export class MemoryStorage implements Storage {
  readonly name = 'memory';
  readonly #backend: MemoryBackend;

  constructor(backend: MemoryBackend) {
    this.#backend = backend;
  }

  async start(_ctx: ComponentContext): Promise<void> {}

  async save(record: TaskRecord, options: SaveOptions): Promise<boolean> {
    return this.#backend.saveRecord(record, options.ttlMs);
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    return this.#backend.getRecord(id);
  }

  waitFinal(id: string, timeoutMs: number): Promise<TaskRecord | undefined> {
    return this.#backend.waitFinal(id, timeoutMs);
  }

  async stop(): Promise<void> {}
}

export class MemoryGlobalConfig implements GlobalConfig {
  readonly name = 'memory';
  readonly #backend: MemoryBackend;

  constructor(backend: MemoryBackend) {
    this.#backend = backend;
  }

  async start(_ctx: ComponentContext): Promise<void> {}

  async set(key: string, value: string): Promise<void> {
    this.#backend.kv.set(key, value);
  }

  async get(key: string): Promise<string | undefined> {
    return this.#backend.kv.get(key);
  }

  async heartbeat(workerId: string, ttlMs: number): Promise<void> {
    this.#backend.heartbeats.set(workerId, Date.now() + ttlMs);
  }

  async alive(): Promise<boolean> {
    const now = Date.now();
    for (const [id, until] of this.#backend.heartbeats) {
      if (until > now) return true;
      this.#backend.heartbeats.delete(id);
    }
    return false;
  }

  async stop(): Promise<void> {}
}
