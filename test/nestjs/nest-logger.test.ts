/**
 * nestLogger's adapter: each qtasks level reaches the Nest method it maps to, with the context
 * `qtasks:<app>:<component>`; the app's level filters; errors pass their stack; child bindings add up.
 */
import type { LoggerService } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/index.js';
import { nestLogger } from '../../nestjs/index.js';

type Call = [method: string, ...args: unknown[]];

function recorder(withOptional: boolean): { service: LoggerService; calls: Call[] } {
  const calls: Call[] = [];
  const rec = (method: string) => (...args: unknown[]) => void calls.push([method, ...args]);
  const service: LoggerService = { log: rec('log'), error: rec('error'), warn: rec('warn') };
  if (withOptional) Object.assign(service, { debug: rec('debug'), verbose: rec('verbose'), fatal: rec('fatal') });
  return { service, calls };
}

describe('nestLogger', () => {
  it('maps the six levels onto Nest’s methods, filtered by the app’s level', () => {
    const { service, calls } = recorder(true);
    const app = new QueueTasks({ name: 'nest-levels', globals: false, plugins: [nestLogger(service)], config: { logLevel: 'trace' } });
    const log = app.logger('Worker').child({ taskId: 't1' });
    const err = new Error('boom');
    log.trace('a');
    log.debug({ n: 1 }, 'b');
    log.info('c');
    log.warn('d');
    log.error({ err }, 'e');
    log.fatal('f');
    const ctx = 'qtasks:nest-levels:Worker';
    expect(calls).toEqual([
      ['verbose', 'a {"taskId":"t1"}', ctx],
      ['debug', 'b {"taskId":"t1","n":1}', ctx],
      ['log', 'c {"taskId":"t1"}', ctx],
      ['warn', 'd {"taskId":"t1"}', ctx],
      ['error', 'e {"taskId":"t1","err":{"name":"Error","message":"boom"}}', err.stack, ctx],
      ['fatal', 'f {"taskId":"t1"}', ctx],
    ]);
    calls.length = 0;
    app.logLevel = 'warn';
    const worker = app.logger('Worker');
    worker.info('hidden');
    worker.warn('shown');
    expect(calls).toEqual([['warn', 'shown', ctx]]);
  });

  it('falls back to log and error when the service has no verbose, debug or fatal', () => {
    const { service, calls } = recorder(false);
    const app = new QueueTasks({ name: 'nest-fallback', globals: false, plugins: [nestLogger(service)], config: { logLevel: 'trace' } });
    const log = app.logger('QueueTasks');
    log.trace('a');
    log.debug('b');
    log.fatal('c');
    const ctx = 'qtasks:nest-fallback:QueueTasks';
    expect(calls).toEqual([
      ['log', 'a', ctx],
      ['log', 'b', ctx],
      ['error', 'c', ctx],
    ]);
  });
});
