import { controlConformance } from '../contracts/index.js';
import { MemoryBackend, memory } from '../../plugins/memory/index.js';

const backends = new Map<string, MemoryBackend>();
const backendOf = (name: string): MemoryBackend => {
  let b = backends.get(name);
  if (b === undefined) backends.set(name, (b = new MemoryBackend()));
  return b;
};

controlConformance({
  name: 'memory (broker and storage in one)',
  plugins: (name, options) => [memory({ backend: backendOf(name), ...options })],
  unsupported: ['replay'],
  cleanup: async (names) => void names.forEach((n) => backends.delete(n)),
});

// Records kept by another plugin: the memory broker offers what concerns its queues only.
controlConformance({
  name: 'memory broker with separate memory storage',
  plugins: (name, options) => [
    memory({ name: 'memory-broker', backend: backendOf(name), storage: false }),
    memory({ name: 'memory-storage', backend: backendOf(`${name}:records`), broker: false, ...options }),
  ],
  unsupported: ['counts', 'list', 'retry', 'remove', 'clean', 'purge', 'replay'],
  storageIndex: true,
  cleanup: async (names) => void names.forEach((n) => (backends.delete(n), backends.delete(`${n}:records`))),
});
