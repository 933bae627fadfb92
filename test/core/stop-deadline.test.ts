/**
 * The stop deadline: an outcome that exists when the grace period ends is settled; abandonment
 * takes only tasks still running. Two apps share one memory backend, so a task the first one
 * abandons (or whose outcome it drops) runs again on the second.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { QueueTasks, type Delivery, type SaveOptions, type TaskRecord } from '../../core/index.js';
import { MemoryBackend, MemoryBroker, MemoryStorage, memory } from '../../plugins/memory/index.js';
import { gate, sleep } from '../contracts/helpers.js';

const apps: QueueTasks[] = [];
afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
});

/** A memory broker whose acks take `ms` (a slow network round trip). */
class SlowAckBroker extends MemoryBroker {
  readonly #ms: number;
  constructor(backend: MemoryBackend, records: MemoryStorage, ms: number) {
    super(backend, records);
    this.#ms = ms;
  }
  override async ack(delivery: Delivery, record: TaskRecord, options: SaveOptions): Promise<boolean> {
    await sleep(this.#ms);
    return super.ack(delivery, record, options);
  }
}

describe('the stop deadline', () => {
  it('a task that finished before the deadline but is still settling is settled, not abandoned and run again', async () => {
    const backend = new MemoryBackend();
    const storage = new MemoryStorage(backend);
    const broker = new SlowAckBroker(backend, storage, 300);
    const config = { logLevel: 'silent' as const, leaseMs: 50, stopTimeoutMs: 100 };
    const first = new QueueTasks({
      name: 'deadline',
      globals: false,
      sharedTasks: false,
      config,
      plugins: [{ name: 'slow', apply: (a) => void (a.hooks.broker.provide.tap('slow', () => broker), a.hooks.storage.provide.tap('slow', () => storage)) }],
    });
    apps.push(first);
    let runs = 0;
    const started = gate();
    const body = async (): Promise<string> => {
      runs++;
      started.open();
      await sleep(30);
      return 'done';
    };
    first.task('t', body);
    await first.start();
    const added = await first.addTask('t', []);
    await started.promise;
    // The handler ends at ~30 ms, its ack lands at ~330 ms, the grace period ends at 100 ms.
    await first.stop();
    const second = new QueueTasks({ name: 'deadline', globals: false, sharedTasks: false, config, plugins: [memory({ backend })] });
    apps.push(second);
    second.task('t', body);
    await second.start();
    await sleep(300); // well past the lease: an abandoned task would have come back by now
    expect(runs).toBe(1);
    expect((await second.get(added.id))?.status).toBe('success');
  });

  it('a task still running at the deadline is abandoned to redelivery and runs again elsewhere', async () => {
    const backend = new MemoryBackend();
    const config = { logLevel: 'silent' as const, leaseMs: 50, stopTimeoutMs: 50 };
    const first = new QueueTasks({ name: 'deadline-2', globals: false, sharedTasks: false, config, plugins: [memory({ backend })] });
    apps.push(first);
    let runs = 0;
    const started = gate();
    first.task('t', async (_n: number) => {
      runs++;
      started.open();
      await sleep(200);
      return runs;
    });
    await first.start();
    const added = await first.addTask('t', [0]);
    await started.promise;
    await first.stop();
    const second = new QueueTasks({ name: 'deadline-2', globals: false, sharedTasks: false, config, plugins: [memory({ backend })] });
    apps.push(second);
    second.task('t', async () => {
      runs++;
      return 'again';
    });
    await second.start();
    const done = await second.wait(added.id, 5_000);
    expect(done.status).toBe('success');
    expect(done.returning).toBe('again');
    expect(done.attempts).toBe(2);
  });

  it('a delivery still being prepared at the deadline is abandoned: the stopped worker never starts it', async () => {
    const backend = new MemoryBackend();
    const saving = gate();
    class SlowProcessSave extends MemoryStorage {
      override async save(record: TaskRecord, options: SaveOptions): Promise<boolean> {
        if (record.status === 'process') {
          saving.open();
          await sleep(200);
        }
        return super.save(record, options);
      }
    }
    const storage = new SlowProcessSave(backend);
    const config = { logLevel: 'silent' as const, leaseMs: 50, stopTimeoutMs: 50 };
    const first = new QueueTasks({
      name: 'deadline-3',
      globals: false,
      sharedTasks: false,
      config,
      plugins: [memory({ backend, storage: false }), { name: 'slow-storage', apply: (a) => void a.hooks.storage.provide.tap('slow-storage', () => storage) }],
    });
    apps.push(first);
    let stoppedRuns = 0;
    first.task('t', () => ++stoppedRuns);
    await first.start();
    const added = await first.addTask('t', []);
    await saving.promise;
    await first.stop();
    await sleep(300); // the slow save is over: before the fix the handler ran now, on a stopped app
    expect(stoppedRuns).toBe(0);
    const second = new QueueTasks({ name: 'deadline-3', globals: false, sharedTasks: false, config, plugins: [memory({ backend, storage: false }), { name: 's', apply: (a) => void a.hooks.storage.provide.tap('s', () => storage) }] });
    apps.push(second);
    second.task('t', () => 'second');
    await second.start();
    const done = await second.wait(added.id, 5_000);
    expect(done.returning).toBe('second');
  });
});
