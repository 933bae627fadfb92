/**
 * App configuration: defaults, overridden by QTASKS_* environment variables, overridden by
 * what the app's constructor is given. Every value is typed by its default.
 */
import { ErrorCodes, QTasksError } from './errors.js';

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
  /** A delivery not settled within this time is given to another worker. Long tasks renew it. */
  leaseMs: number;
  /** Deliveries a task may have beyond its retries before it is dead-lettered (crashed workers). */
  extraDeliveries: number;
  /** First retry delay; doubled on each attempt, with jitter, up to retryMaxDelayMs. */
  retryDelayMs: number;
  retryMaxDelayMs: number;
  /** How long stop() waits for running tasks before abandoning them to redelivery. */
  stopTimeoutMs: number;
  /** How long each start step may take. */
  startTimeoutMs: number;
  /** Heartbeat period of a running worker; ping() sees it for three periods. */
  heartbeatMs: number;
  /** Level of loggers the app creates itself. */
  logLevel: string;
  /** Output of the core Logger: `text` (one line) or `json`. */
  logFormat: string;
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

function check(config: Config): Config {
  const positive: (keyof Config)[] = ['concurrency', 'leaseMs', 'resultTtlMs', 'heartbeatMs'];
  for (const key of positive) {
    const v = config[key];
    if (typeof v !== 'number' || !(v > 0)) {
      throw new QTasksError(ErrorCodes.INVALID_CONFIG, `config.${key} must be a positive number, got ${String(v)}`);
    }
  }
  const nonNegative: (keyof Config)[] = ['extraDeliveries', 'retryDelayMs', 'retryMaxDelayMs', 'stopTimeoutMs', 'startTimeoutMs'];
  for (const key of nonNegative) {
    const v = config[key];
    if (typeof v !== 'number' || !(v >= 0)) {
      throw new QTasksError(ErrorCodes.INVALID_CONFIG, `config.${key} must be a number >= 0, got ${String(v)}`);
    }
  }
  if (!Number.isInteger(config.concurrency)) {
    throw new QTasksError(ErrorCodes.INVALID_CONFIG, `config.concurrency must be an integer, got ${config.concurrency}`);
  }
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
  for (const key of Object.keys(DEFAULT_CONFIG) as (keyof Config)[]) {
    const variable = prefix + envName(key);
    const raw = env[variable];
    if (raw !== undefined) target[key] = parseValue(variable, raw, DEFAULT_CONFIG[key]);
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) target[key] = value;
  }
  return check(config);
}
