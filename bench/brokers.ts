/**
 * The brokers `npm run bench -- --broker NAME` knows. Each entry builds the plugins for one app
 * name (producer and worker apps of a run share that name) and may report server-side costs.
 */
import type { Plugin } from '../core/plugin.js';
import { MemoryBackend, memory } from '../plugins/memory/index.js';

export interface BenchTarget {
  /** Plugins for an app; apps of one run share `appName`. */
  plugins(appName: string): Plugin[];
  /** Server-side counters read before and after the run; the bench reports the difference per task. */
  counters?(): Promise<Record<string, number>>;
  /** Removes what the run left on the server. */
  cleanup?(appName: string): Promise<void>;
  close?(): Promise<void>;
}

export const benchTargets: Record<string, () => Promise<BenchTarget>> = {
  memory: async () => {
    const backends = new Map<string, MemoryBackend>();
    return {
      plugins: (name) => {
        let backend = backends.get(name);
        if (backend === undefined) backends.set(name, (backend = new MemoryBackend()));
        return [memory({ backend })];
      },
    };
  },
};
