/**
 * `qtasks/redis`: broker, storage and global config on ioredis. `redis({ url })` supplies all
 * three; `broker: false` (or `storage: false`, `globalConfig: false`) leaves a part to another
 * plugin. Everything is created per app in `apply`, so two apps never share a connection unless
 * the caller passes the same `client`.
 */
import { Cluster, type RedisOptions } from 'ioredis';
import type { Redis } from 'ioredis';
import type { Retention } from '../../core/contracts.js';
import { ErrorCodes, QTasksError } from '../../core/errors.js';
import { checkRetention } from '../../core/control/plane.js';
import type { Plugin } from '../../core/plugin.js';
import { RedisBroker } from './broker.js';
import { RedisConnection } from './connection.js';
import { RedisGlobalConfig } from './global-config.js';
import type { PlacementMode } from './placement.js';
import { RedisStorage } from './storage.js';

export const PLUGIN_NAME = 'redis';

export interface RedisPluginOptions {
  /** Plugin name (and tap name); change it to register two redis plugins on one app. */
  name?: string;
  /** `redis://host:port/db`. The plugin creates its connections from it and closes them on stop. */
  url?: string;
  /** An ioredis client (Redis or Cluster) to use. Never closed by the plugin. Not with `url`. */
  client?: Redis | Cluster;
  /** Extra ioredis options for connections the plugin creates from `url` (or the default address). */
  redisOptions?: RedisOptions;
  /** First part of every key (default `qtasks`); keys are `<prefix>:{<appName>}:...`. */
  prefix?: string;
  /** Which parts to supply (default all three). */
  broker?: boolean;
  storage?: boolean;
  globalConfig?: boolean;
  /** Longest single blocking wait of an idle worker, ms (default 5000). */
  blockTimeoutMs?: number;
  /** Finished records kept per queue and status, by count (default: all, until their TTL). */
  retention?: Retention;
  /**
   * The unit of placement on a Redis Cluster: 'app' (every key of the app on one slot) or 'queue'
   * (each queue on its own slot, so an app's queues spread over the masters). Default: 'queue'
   * when `client` is an ioredis Cluster and the plugin is the broker, else 'app'. docs/redis.md, "Placement".
   */
  placement?: PlacementMode;
}

export function redis(options: RedisPluginOptions = {}): Plugin {
  const name = options.name ?? PLUGIN_NAME;
  if (options.url !== undefined && options.client !== undefined) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, 'redis plugin: pass either `url` or `client`, not both');
  }
  if (options.client !== undefined && options.redisOptions !== undefined) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, 'redis plugin: `redisOptions` apply to connections created from `url`; configure the client you pass instead');
  }
  if (options.redisOptions?.keyPrefix !== undefined) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, 'redis plugin: use the option `prefix`, not ioredis `keyPrefix`');
  }
  if (options.url !== undefined) checkUrl(options.url);
  const prefix = options.prefix ?? 'qtasks';
  if (prefix === '' || /[{}\s]/.test(prefix)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `redis plugin: prefix must be non-empty without braces or spaces, got ${JSON.stringify(prefix)}`);
  }
  const blockMs = options.blockTimeoutMs ?? 5_000;
  if (!(blockMs >= 10)) throw new QTasksError(ErrorCodes.INVALID_OPTION, `redis plugin: blockTimeoutMs must be >= 10, got ${String(blockMs)}`);
  const retention = checkRetention(name, options.retention);
  const wantBroker = options.broker !== false;
  const wantStorage = options.storage !== false;
  const wantGlobal = options.globalConfig !== false;
  if (!wantBroker && !wantStorage && !wantGlobal) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, 'redis plugin: broker, storage and globalConfig are all off; nothing to supply');
  }
  if (options.placement !== undefined && options.placement !== 'app' && options.placement !== 'queue') {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `redis plugin: placement must be 'app' or 'queue', got ${JSON.stringify(options.placement)}`);
  }
  if (options.placement === 'queue' && !wantBroker) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, "redis plugin: placement 'queue' needs the broker (broker: true): the storage beside another broker keeps the app's layout ('app')");
  }
  const placement: PlacementMode = options.placement ?? (wantBroker && options.client instanceof Cluster ? 'queue' : 'app');
  return {
    name,
    apply(app) {
      const conn = new RedisConnection({
        prefix,
        placement,
        ...(options.url !== undefined ? { url: options.url } : {}),
        ...(options.client !== undefined ? { client: options.client } : {}),
        ...(options.redisOptions !== undefined ? { redisOptions: options.redisOptions } : {}),
      });
      const storage = wantStorage ? new RedisStorage(conn, { indexed: !wantBroker, retention }) : undefined;
      // Broker and storage in one plugin: the broker writes records in its own scripts ("fused").
      const broker = wantBroker ? new RedisBroker(conn, { blockMs, retention }, storage) : undefined;
      const globalConfig = wantGlobal ? new RedisGlobalConfig(conn) : undefined;
      if (broker !== undefined) app.hooks.broker.provide.tap(name, () => broker);
      if (storage !== undefined) app.hooks.storage.provide.tap(name, () => storage);
      if (globalConfig !== undefined) app.hooks.storage.provideGlobalConfig.tap(name, () => globalConfig);
    },
  };
}

/** A database index ioredis would send as `SELECT NaN` (and then run in database 0) is refused here. */
function checkUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return; // ioredis also takes forms URL does not (host:port): it reports those itself
  }
  const db = parsed.pathname.replace(/^\/|\/$/g, '');
  if ((parsed.protocol === 'redis:' || parsed.protocol === 'rediss:') && db !== '' && !/^\d+$/.test(db)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `redis plugin: the database in the URL must be a number, got ${JSON.stringify(db)}`);
  }
}

export { Keys } from './keys.js';
export type { PlacementMode } from './placement.js';
export { deleteAppKeys } from './admin.js';
export { RedisBroker, RedisGlobalConfig, RedisStorage };
