/**
 * Settling never leaves a delivery held: when the broker's settle call throws, the worker still
 * hands the delivery back, so its slot is freed and the task runs again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { QueueTasks, type Delivery, type SaveOptions, type TaskRecord } from '../../core/index.js';
import { MemoryBackend, MemoryBroker, MemoryStorage } from '../../plugins/memory/index.js';

const apps: QueueTasks[] = [];
afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
});

/** A memory broker whose first `failures` acks throw before doing anything (as an encoding failure would). */
class FlakyAckBroker extends MemoryBroker {
  failures: number;
  constructor(backend: MemoryBackend, records: MemoryStorage, failures: number) {
    super(backend, records);
    this.failures = failures;
  }
  override ack(delivery: Delivery, record: TaskRecord, options: SaveOptions): Promise<boolean> {
    if (this.failures > 0) {
      this.failures--;
      throw new TypeError('Do not know how to serialize a BigInt');
    }
    return super.ack(delivery, record, options);
  }
}

describe('settling', () => {
  it('a broker ack that throws still gives the delivery back: the slot is freed and the task runs again', async () => {
    const backend = new MemoryBackend();
    const storage = new MemoryStorage(backend);
    const broker = new FlakyAckBroker(backend, storage, 2);
    const app = new QueueTasks({
      name: 'settle-throws',
      globals: false,
      sharedTasks: false,
      config: { concurrency: 2, logLevel: 'silent', retryDelayMs: 1 },
      plugins: [
        {
          name: 'flaky',
          apply(a) {
            a.hooks.broker.provide.tap('flaky', () => broker);
            a.hooks.storage.provide.tap('flaky', () => storage);
          },
        },
      ],
    });
    apps.push(app);
    let runs = 0;
    const t = app.task('t', (n: number) => {
      runs++;
      return n;
    });
    await app.start();
    // Both slots hit a throwing ack; before the fix neither was ever released and nothing else ran.
    const records = await Promise.all([t.addTask([1], { timeout: 5_000 }), t.addTask([2], { timeout: 5_000 })]);
    expect(records.map((r) => [r.status, r.returning, r.attempts])).toEqual([
      ['success', 1, 2],
      ['success', 2, 2],
    ]);
    expect(runs).toBe(4);
    expect((await t.addTask([3], { timeout: 5_000 })).returning).toBe(3);
  });
});
