// A broker learns from its start context whether it is fused (the app's storage is its records).
import { expect, expectTypeOf, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import type { ComponentContext } from '../../core/contracts.js';
import type { Plugin } from '../../core/plugin.js';
import { MemoryBackend, MemoryBroker, MemoryStorage } from '../../plugins/memory/index.js';

/** A memory broker (fused with its own storage, or not) that records the context start() got. */
function capturing(fused: boolean): { plugin: Plugin; seen: () => ComponentContext | undefined } {
  let seen: ComponentContext | undefined;
  return {
    seen: () => seen,
    plugin: {
      name: 'capture',
      apply(app) {
        const backend = new MemoryBackend();
        const storage = new MemoryStorage(backend);
        const broker = new MemoryBroker(backend, fused ? storage : undefined, {});
        const start = broker.start.bind(broker);
        broker.start = (ctx: ComponentContext) => {
          seen = ctx;
          return start(ctx);
        };
        app.hooks.broker.provide.tap('capture', () => broker);
        app.hooks.storage.provide.tap('capture', () => storage);
      },
    },
  };
}

it('passes fused: true to a broker that is the app storage, and false to one beside a separate storage', async () => {
  for (const fused of [true, false]) {
    const c = capturing(fused);
    const app = new QueueTasks({ name: 'ctx', plugins: [c.plugin], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
    await app.start({ worker: false });
    await app.stop();
    expect(c.seen()?.fused).toBe(fused);
    expect(c.seen()?.appName).toBe('ctx');
  }
});

it('exports what a fused broker needs to build records from messages', async () => {
  const { messageToRecord, recordOf, TaskStatus } = await import('../../core/index.js');
  const message = { id: 'm1', name: 't', queue: 'default', args: [1], priority: 0, createdAt: 5, maxDeliveries: 3 };
  expect(messageToRecord(message, 5)).toMatchObject({ id: 'm1', status: 'new', attempts: 0, createdAt: 5, updatedAt: 5 });
  const running = recordOf(message, TaskStatus.PROCESS, 2, 9, { startedAt: 9 });
  expect(running).toMatchObject({ status: 'process', attempts: 2, startedAt: 9, updatedAt: 9, args: [1] });
  expectTypeOf(recordOf).returns.toHaveProperty('attempts');
});
