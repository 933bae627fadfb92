import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, ErrorCodes, QueueTasks, envName, resolveConfig, type QTasksError } from '../../core/index.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as QTasksError).code;
  }
  return undefined;
}

describe('config', () => {
  it('has defaults', () => {
    expect(resolveConfig({}, {})).toEqual(DEFAULT_CONFIG);
  });

  it('maps keys to QTASKS_* names', () => {
    expect(envName('leaseMs')).toBe('LEASE_MS');
    expect(envName('resultTtlMs')).toBe('RESULT_TTL_MS');
  });

  it('parses numbers, booleans-as-typed and comma-separated lists from the environment', () => {
    const config = resolveConfig({}, { QTASKS_CONCURRENCY: '32', QTASKS_QUEUES: 'emails, reports,,urgent ', QTASKS_LOG_LEVEL: 'debug', QTASKS_LEASE_MS: '1.5e4' });
    expect(config.concurrency).toBe(32);
    expect(config.queues).toEqual(['emails', 'reports', 'urgent']);
    expect(config.logLevel).toBe('debug');
    expect(config.leaseMs).toBe(15_000);
  });

  it('lets explicit options win over the environment, and honours a custom prefix', () => {
    expect(resolveConfig({ concurrency: 4 }, { QTASKS_CONCURRENCY: '32' }).concurrency).toBe(4);
    expect(resolveConfig({ envPrefix: 'JOBS_' }, { JOBS_CONCURRENCY: '3', QTASKS_CONCURRENCY: '9' }).concurrency).toBe(3);
  });

  it('names the variable that does not parse', () => {
    try {
      resolveConfig({}, { QTASKS_CONCURRENCY: 'many' });
      throw new Error('expected an error');
    } catch (err) {
      expect((err as QTasksError).code).toBe(ErrorCodes.INVALID_CONFIG);
      expect((err as Error).message).toBe('QTASKS_CONCURRENCY="many" is not a number');
    }
    expect(codeOf(() => resolveConfig({}, { QTASKS_LEASE_MS: '' }))).toBe(ErrorCodes.INVALID_CONFIG);
  });

  it('rejects unknown keys and out-of-range values', () => {
    expect(codeOf(() => resolveConfig({ concurency: 3 } as never, {}))).toBe(ErrorCodes.INVALID_CONFIG);
    expect(codeOf(() => resolveConfig({ concurrency: 0 }, {}))).toBe(ErrorCodes.INVALID_CONFIG);
    expect(codeOf(() => resolveConfig({ concurrency: 2.5 }, {}))).toBe(ErrorCodes.INVALID_CONFIG);
    expect(codeOf(() => resolveConfig({ leaseMs: -1 }, {}))).toBe(ErrorCodes.INVALID_CONFIG);
  });

  it('is per app: two apps in one process keep their own', () => {
    const a = new QueueTasks({ name: 'a', config: { concurrency: 2 }, globals: false, env: {} });
    const b = new QueueTasks({ name: 'b', env: { QTASKS_CONCURRENCY: '7' }, globals: false });
    expect([a.config.concurrency, b.config.concurrency]).toEqual([2, 7]);
    expect(Object.isFrozen(a.config)).toBe(true);
  });

  it('checks levels, formats, priorities and names, naming the variable a bad value came from', () => {
    const messageOf = (fn: () => unknown): string => {
      try {
        fn();
      } catch (err) {
        expect((err as QTasksError).code).toBe(ErrorCodes.INVALID_CONFIG);
        return (err as Error).message;
      }
      throw new Error('expected an error');
    };
    expect(messageOf(() => resolveConfig({}, { QTASKS_LOG_LEVEL: 'loud' }))).toBe('QTASKS_LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got "loud"');
    expect(messageOf(() => resolveConfig({ logFormat: 'xml' as 'text' }, {}))).toBe('config.logFormat must be text or json, got "xml"');
    expect(messageOf(() => resolveConfig({ defaultPriority: Number.NaN }, {}))).toContain('config.defaultPriority must be a finite number');
    expect(messageOf(() => resolveConfig({}, { QTASKS_EXTRA_DELIVERIES: '1.5' }))).toContain('QTASKS_EXTRA_DELIVERIES must be a whole number');
    expect(messageOf(() => resolveConfig({ queues: ['a', ''] }, {}))).toContain('config.queues');
  });

  it('does not let a variable move the prefix', () => {
    const config = resolveConfig({}, { QTASKS_ENV_PREFIX: 'OTHER_', OTHER_CONCURRENCY: '5' });
    expect([config.envPrefix, config.concurrency]).toEqual(['QTASKS_', 10]);
  });
});
