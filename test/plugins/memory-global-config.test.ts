import { globalConfigConformance } from '../contracts/index.js';
import { MemoryBackend, MemoryGlobalConfig } from '../../plugins/memory/index.js';

// Instances made for the same app name share a backend, as processes of one app share a server.
const backends = new Map<string, MemoryBackend>();

globalConfigConformance({
  name: 'memory',
  create: (name) => {
    let b = backends.get(name);
    if (b === undefined) backends.set(name, (b = new MemoryBackend()));
    return new MemoryGlobalConfig(b);
  },
  cleanup: async (names) => void names.forEach((n) => backends.delete(n)),
});
