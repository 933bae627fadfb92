import { brokerConformance, storageConformance } from '../contracts/index.js';
import { MemoryBackend, MemoryStorage, memory } from '../../plugins/memory/index.js';
import { messageToRecord, type TaskMessage } from '../../core/record.js';

// Apps with the same name share a backend, as producer and workers of one app share a server.
const backends = new Map<string, MemoryBackend>();
const backendOf = (name: string): MemoryBackend => {
  let b = backends.get(name);
  if (b === undefined) backends.set(name, (b = new MemoryBackend()));
  return b;
};

async function injectMalformed(appName: string, queue: string, payload: string): Promise<void> {
  // The memory broker carries objects, so "malformed" is an object that is not a task message.
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    value = { raw: payload };
  }
  backendOf(appName).enqueue({ queue, priority: 0, ...(value as object) } as unknown as TaskMessage, 0);
}

brokerConformance({
  name: 'memory (broker and storage in one)',
  plugins: (name) => [memory({ backend: backendOf(name) })],
  injectMalformed,
  cleanup: async (names) => void names.forEach((n) => backends.delete(n)),
});

// The kernel's own record writes (broker without records) go through the same suite.
brokerConformance({
  name: 'memory broker with separate memory storage',
  plugins: (name) => [
    memory({ name: 'memory-broker', backend: backendOf(name), storage: false }),
    memory({ name: 'memory-storage', backend: backendOf(`${name}:records`), broker: false }),
  ],
  injectMalformed,
  cleanup: async (names) => void names.forEach((n) => (backends.delete(n), backends.delete(`${n}:records`))),
});

storageConformance({
  name: 'memory',
  create: (name) => new MemoryStorage(backendOf(name)),
  cleanup: async (names) => void names.forEach((n) => backends.delete(n)),
});

void messageToRecord;
