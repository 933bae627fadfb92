/**
 * `qtasks/memory`: the embedded default. An app with no broker plugin uses it; pass
 * `memory({ backend })` to let several apps in one process share a queue.
 */
import type { Broker, GlobalConfig, Retention, Storage } from '../../core/contracts.js';
import { checkRetention } from '../../core/control/plane.js';
import type { Plugin } from '../../core/plugin.js';
import { MemoryBackend } from './backend.js';
import { MemoryBroker } from './broker.js';
import { MemoryGlobalConfig, MemoryStorage } from './storage.js';

export const PLUGIN_NAME = 'memory';

export interface MemoryOptions {
  /** Plugin name, for apps that use two memory plugins (for example one as broker, one as storage). */
  name?: string;
  /** Shared data; apps given the same backend see the same queues and records. Default: a new one. */
  backend?: MemoryBackend;
  /** Which parts to supply (default all three). */
  broker?: boolean;
  storage?: boolean;
  globalConfig?: boolean;
  /** Finished records kept per queue and status, by count (default: all, until their TTL). */
  retention?: Retention;
}

export interface MemoryParts {
  readonly broker: Broker;
  readonly storage: Storage;
  readonly globalConfig: GlobalConfig;
}

/** Broker, storage and global config over one backend; the broker keeps the storage in step. */
export function createMemoryParts(backend: MemoryBackend = new MemoryBackend(), fused = true, retention: Retention = {}): MemoryParts {
  // Beside another broker the storage keeps retention and offers its status indexes (Storage.index).
  const storage = new MemoryStorage(backend, fused ? undefined : retention);
  return { broker: new MemoryBroker(backend, fused ? storage : undefined, retention), storage, globalConfig: new MemoryGlobalConfig(backend) };
}


export function memory(options: MemoryOptions = {}): Plugin {
  const name = options.name ?? PLUGIN_NAME;
  const retention = checkRetention(name, options.retention);
  return {
    name,
    apply(app) {
      // Created per app at apply time: nothing is shared unless the caller passed a backend.
      // The broker writes records itself only when this plugin is also the storage.
      const parts = createMemoryParts(options.backend, options.broker !== false && options.storage !== false, retention);
      if (options.broker !== false) app.hooks.broker.provide.tap(name, () => parts.broker);
      if (options.storage !== false) app.hooks.storage.provide.tap(name, () => parts.storage);
      if (options.globalConfig !== false) app.hooks.storage.provideGlobalConfig.tap(name, () => parts.globalConfig);
    },
  };
}

export { MemoryBackend, MemoryBroker, MemoryStorage, MemoryGlobalConfig };
