// The "write your own broker" example runs the same conformance suite as the shipped brokers,
// so the example in the docs cannot drift from the contract.
import { describe, expect, it } from 'vitest';
import { brokerConformance } from '../contracts/index.js';
import { QueueTasks } from '../../core/index.js';
import { MemoryBackend, memory } from '../../plugins/memory/index.js';
import { ArrayStore, PLUGIN_NAME, arrayBroker } from '../../examples/custom-broker.js';

// Apps with the same name share a store (queues) and a backend (records), as one app's producer
// and workers share servers.
const stores = new Map<string, ArrayStore>();
const backends = new Map<string, MemoryBackend>();
function shared<T>(map: Map<string, T>, name: string, make: () => T): T {
  let value = map.get(name);
  if (value === undefined) map.set(name, (value = make()));
  return value;
}

brokerConformance({
  name: 'examples/custom-broker.ts (array broker, memory storage)',
  plugins: (name) => [
    arrayBroker({ store: shared(stores, name, () => new ArrayStore()) }),
    memory({ backend: shared(backends, name, () => new MemoryBackend()), broker: false }),
  ],
  // The store carries JSON text, so a malformed message is just a bad payload on a queue.
  injectMalformed: async (name, queue, payload) => shared(stores, name, () => new ArrayStore()).put(queue, payload, 0),
  // The store itself, not the broker: what a second connection to a server would see.
  durable: async (name, id) => shared(stores, name, () => new ArrayStore()).entries.some((e) => (JSON.parse(e.payload) as { id?: unknown }).id === id),
  cleanup: async (names) => {
    for (const n of names) {
      stores.delete(n);
      backends.delete(n);
    }
  },
});

describe('examples/custom-broker.ts as a plugin', () => {
  it('is the app broker, and the kernel writes records to the separate storage', async () => {
    const app = new QueueTasks({ name: 'array-demo', plugins: [arrayBroker(), memory({ broker: false })], config: { logLevel: 'silent' }, globals: false });
    const add = app.task('add', (a: number, b: number) => a + b);
    await app.start();
    try {
      expect(app.plugins.map((p) => p.name)).toEqual([PLUGIN_NAME, 'memory']);
      expect(app.broker.name).toBe('array');
      expect(app.broker.records).toBeUndefined();
      const done = await add.addTask([2, 3], { timeout: 5_000 });
      expect([done.status, done.returning]).toEqual(['success', 5]);
      expect((await app.storage.get(done.id))?.status).toBe('success');
    } finally {
      await app.stop();
    }
  });

  it('keeps two apps apart unless they are given the same store', async () => {
    const store = new ArrayStore();
    const producer = new QueueTasks({ name: 'pair', plugins: [arrayBroker({ store }), memory({ broker: false })], config: { logLevel: 'silent' }, globals: false });
    const other = new QueueTasks({ name: 'pair', plugins: [arrayBroker(), memory({ broker: false })], config: { logLevel: 'silent' }, globals: false });
    await producer.start({ worker: false });
    await other.start({ worker: false });
    try {
      await producer.addTask('t', [1]);
      expect(store.entries).toHaveLength(1);
      await other.addTask('t', [2]);
      expect(store.entries).toHaveLength(1);
    } finally {
      await Promise.all([producer.stop(), other.stop()]);
    }
  });
});
