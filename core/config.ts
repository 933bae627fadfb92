/**
 * App configuration: defaults, overridden by QTASKS_* environment variables, overridden by
 * what the app's constructor is given. Every value is typed by its default.
 */
import { ErrorCodes, QTasksError } from './errors.js';
import { MAX_TIMER_MS } from './timers.js';
import { LOG_LEVELS, type LogFormat, type LogLevel } from './logger.js';

export interface Config {
  /** Tasks one worker runs at once (QTasks' max_tasks_process). */
  concurrency: number;
  /** Priority of tasks that set none. Lower runs first. */
  defaultPriority: number;
  /** Queue of tasks that set none. */
  defaultQueue: string;
  /** Queues this app's worker consumes; empty means the queues of its registered tasks. */
  queues: string[];
  /** How long final records are kept. */
  resultTtlMs: number;
  /** A delivery's lease: the broker renews it while its worker lives; one not renewed within this time goes to another worker. */
  leaseMs: number;
  /** Deliveries a task may have beyond its retries before it is dead-lettered (crashed workers). */
  extraDeliveries: number;
  /** First retry delay; doubled on each attempt, with jitter, up to retryMaxDelayMs. */
  retryDelayMs: number;
  retryMaxDelayMs: number;
  /** How long stop() waits for running tasks before abandoning them to redelivery; Infinity waits for them however long. */
  stopTimeoutMs: number;
  /** How long each start step (storage, global config, broker, the lifecycle.start taps) may take. */
  startTimeoutMs: number;
  /** How long each stop step (a lifecycle.stop tap, broker, global config, storage) may take. */
  stepTimeoutMs: number;
  /** Heartbeat period of a running worker; ping() sees it for three periods. */
  heartbeatMs: number;
  /** Level of loggers the app creates itself. */
  logLevel: LogLevel;
  /** Output of the core Logger: `text` (one line) or `json`. */
  logFormat: LogFormat;
  /** Where environment overrides are read from. */
  envPrefix: string;
}

export const DEFAULT_CONFIG: Readonly<Config> = Object.freeze({
  concurrency: 10,
  defaultPriority: 0,
  defaultQueue: 'default',
  queues: [],
  resultTtlMs: 24 * 60 * 60 * 1000,
  leaseMs: 30_000,
  extraDeliveries: 2,
  retryDelayMs: 1_000,
  retryMaxDelayMs: 60_000,
  stopTimeoutMs: 10_000,
  startTimeoutMs: 10_000,
  stepTimeoutMs: 10_000,
  heartbeatMs: 5_000,
  logLevel: 'info',
  logFormat: 'text',
  envPrefix: 'QTASKS_',
});

/** `leaseMs` -> `LEASE_MS` */
export function envName(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

function parseValue(variable: string, raw: string, example: unknown): unknown {
  if (typeof example === 'number') {
    const n = Number(raw.trim());
    if (raw.trim() === '' || !Number.isFinite(n)) {
      throw new QTasksError(ErrorCodes.INVALID_CONFIG, `${variable}=${JSON.stringify(raw)} is not a number`);
    }
    return n;
  }
  if (typeof example === 'boolean') {
    const v = raw.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    throw new QTasksError(ErrorCodes.INVALID_CONFIG, `${variable}=${JSON.stringify(raw)} is not a boolean`);
  }
  if (Array.isArray(example)) {
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }
  return raw;
}


/** Checks values; `where(key)` names the variable a bad value came from, or `config.key`. */
function check(config: Config, where: (key: keyof Config) => string): Config {
  const fail = (key: keyof Config, rule: string): never => {
    throw new QTasksError(ErrorCodes.INVALID_CONFIG, `${where(key)} must be ${rule}, got ${JSON.stringify(config[key]) ?? String(config[key])}`);
  };
  for (const key of ['concurrency', 'leaseMs', 'resultTtlMs', 'heartbeatMs'] as const) {
    if (typeof config[key] !== 'number' || !(config[key] > 0)) fail(key, 'a positive number');
  }
  // Periods run on repeating timers, which Node cannot stretch past 2^31-1 ms: refuse, not misfire.
  for (const key of ['leaseMs', 'heartbeatMs'] as const) {
    if (config[key] > MAX_TIMER_MS) fail(key, `at most ${MAX_TIMER_MS} ms (about 24.8 days)`);
  }
  for (const key of ['retryDelayMs', 'retryMaxDelayMs', 'stopTimeoutMs', 'startTimeoutMs', 'stepTimeoutMs'] as const) {
    if (typeof config[key] !== 'number' || !(config[key] >= 0)) fail(key, 'a number >= 0');
  }
  if (!Number.isInteger(config.concurrency)) fail('concurrency', 'a whole number');
  if (!Number.isInteger(config.extraDeliveries) || config.extraDeliveries < 0) fail('extraDeliveries', 'a whole number >= 0');
  if (typeof config.defaultPriority !== 'number' || !Number.isFinite(config.defaultPriority)) fail('defaultPriority', 'a finite number');
  if (!Object.hasOwn(LOG_LEVELS, config.logLevel)) fail('logLevel', `one of ${Object.keys(LOG_LEVELS).join(', ')}`);
  if (config.logFormat !== 'text' && config.logFormat !== 'json') fail('logFormat', 'text or json');
  if (typeof config.defaultQueue !== 'string' || config.defaultQueue === '') fail('defaultQueue', 'a non-empty string');
  if (!Array.isArray(config.queues) || config.queues.some((q) => typeof q !== 'string' || q === '')) fail('queues', 'a list of non-empty names');
  return config;
}

/**
 * Builds an app's config: defaults, then `${prefix}NAME` variables from `env`, then `overrides`.
 * Unknown override keys and unparsable variables are errors naming the key or variable.
 */
export function resolveConfig(overrides: Partial<Config> = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const config: Config = { ...DEFAULT_CONFIG, queues: [...DEFAULT_CONFIG.queues] };
  for (const key of Object.keys(overrides)) {
    if (!(key in DEFAULT_CONFIG)) {
      throw new QTasksError(ErrorCodes.INVALID_CONFIG, `unknown config key "${key}"`);
    }
  }
  const prefix = overrides.envPrefix ?? DEFAULT_CONFIG.envPrefix;
  const target = config as unknown as Record<string, unknown>;
  const fromEnv = new Map<string, string>();
  for (const key of Object.keys(DEFAULT_CONFIG) as (keyof Config)[]) {
    // The prefix itself is chosen in code: a variable cannot move where variables are read.
    if (key === 'envPrefix') continue;
    const variable = prefix + envName(key);
    const raw = env[variable];
    if (raw === undefined) continue;
    target[key] = parseValue(variable, raw, DEFAULT_CONFIG[key]);
    fromEnv.set(key, variable);
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    target[key] = value;
    fromEnv.delete(key);
  }
  return check(config, (key) => fromEnv.get(key) ?? `config.${key}`);
}
