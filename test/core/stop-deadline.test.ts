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

/** A memory broker whose acks wait for `held` (a slow network round trip); `acking` opens when one starts. */
class HeldAckBroker extends MemoryBroker {
  readonly acking = gate();
  readonly held = gate();
  override async ack(delivery: Delivery, record: TaskRecord, options: SaveOptions): Promise<boolean> {
    this.acking.open();
    await this.held.promise;
    return super.ack(delivery, record, options);
  }
}

describe('the stop deadline', () => {
  it('a task that finished before the deadline but is still settling is settled, not abandoned and run again', async () => {
    const backend = new MemoryBackend();
    const storage = new MemoryStorage(backend);
    const broker = new HeldAckBroker(backend, storage);
    const config = { logLevel: 'silent' as const, leaseMs: 50, stopTimeoutMs: 500 };
    const first = new QueueTasks({
      name: 'deadline',
      globals: false,
      sharedTasks: false,
      config,
      plugins: [{ name: 'held', apply: (a) => void (a.hooks.broker.provide.tap('held', () => broker), a.hooks.storage.provide.tap('held', () => storage)) }],
    });
    apps.push(first);
    let runs = 0;
    const started = gate();
    const release = gate();
    first.task('t', async () => {
      runs++;
      started.open();
      await release.promise;
      return 'done';
    });
    await first.start();
    const added = await first.addTask('t', []);
    await started.promise;
    const stopping = first.stop();
    release.open(); // the handler ends now, well before the 500 ms deadline; its ack is held past it
    await broker.acking.promise;
    await sleep(700);
    broker.held.open();
    await stopping;
    const second = new QueueTasks({ name: 'deadline', globals: false, sharedTasks: false, config, plugins: [memory({ backend })] });
    apps.push(second);
    second.task('t', async () => {
      runs++;
      return 'again';
    });
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
      await new Promise(() => undefined); // still running at the deadline, whatever the machine's speed
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
    const saved = gate();
    class SlowProcessSave extends MemoryStorage {
      override async save(record: TaskRecord, options: SaveOptions): Promise<boolean> {
        if (record.status === 'process') {
          saving.open();
          await saved.promise;
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
    saved.open(); // the save ends after the stop: before the fix the handler ran now, on a stopped app
    await sleep(100);
    expect(stoppedRuns).toBe(0);
    const second = new QueueTasks({ name: 'deadline-3', globals: false, sharedTasks: false, config, plugins: [memory({ backend, storage: false }), { name: 's', apply: (a) => void a.hooks.storage.provide.tap('s', () => storage) }] });
    apps.push(second);
    second.task('t', () => 'second');
    await second.start();
    const done = await second.wait(added.id, 5_000);
    expect(done.returning).toBe('second');
  });
});
