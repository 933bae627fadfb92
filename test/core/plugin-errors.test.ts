/**
 * Whatever a plugin throws, the caller gets a QTasksError with a code: a plugin's own error is
 * wrapped (QTASKS_ERR_PLUGIN_FAILED) with the original as `cause`; a QTasksError passes unchanged.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, QTasksError, QueueTasks, type Plugin } from '../../core/index.js';
import { MemoryBackend, MemoryBroker, MemoryGlobalConfig, MemoryStorage } from '../../plugins/memory/index.js';

const apps: QueueTasks[] = [];
afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
});

const raw = new TypeError('driver exploded');

/** Memory parts with one method replaced by a throwing one. */
function broken(part: 'broker.start' | 'broker.publish' | 'storage.get' | 'storage.waitFinal' | 'globalConfig.alive'): Plugin {
  const backend = new MemoryBackend();
  const storage = new MemoryStorage(backend);
  const broker = new MemoryBroker(backend, storage);
  const globalConfig = new MemoryGlobalConfig(backend);
  const [which, method] = part.split('.') as [string, string];
  const target = ({ broker, storage, globalConfig } as Record<string, object>)[which]!;
  Object.defineProperty(target, method, { value: () => Promise.reject(raw) });
  return {
    name: 'broken',
    apply(app) {
      app.hooks.broker.provide.tap('broken', () => broker);
      app.hooks.storage.provide.tap('broken', () => storage);
      app.hooks.storage.provideGlobalConfig.tap('broken', () => globalConfig);
    },
  };
}

async function caught(p: Promise<unknown>): Promise<QTasksError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(QTasksError);
    return err as QTasksError;
  }
  throw new Error('expected a rejection');
}

function app(part: Parameters<typeof broken>[0]): QueueTasks {
  const a = new QueueTasks({ name: `broken-${part}`, globals: false, sharedTasks: false, config: { logLevel: 'silent' }, plugins: [broken(part)] });
  a.task('t', () => 1);
  apps.push(a);
  return a;
}

describe('plugin errors reach callers as QTasksErrors', () => {
  it('start, addTask, wait, get and ping wrap a plugin error with PLUGIN_FAILED, keeping it as cause', async () => {
    const cases: Array<[Parameters<typeof broken>[0], (a: QueueTasks) => Promise<unknown>]> = [
      ['broker.start', (a) => a.start()],
      ['broker.publish', async (a) => (await a.start(), a.addTask('t', []))],
      ['storage.waitFinal', async (a) => (await a.start(), a.wait('some-id', 1_000))],
      ['storage.get', async (a) => (await a.start(), a.get('some-id'))],
      ['globalConfig.alive', async (a) => (await a.start(), a.ping())],
    ];
    for (const [part, call] of cases) {
      const err = await caught(call(app(part)));
      expect(err.code, part).toBe(ErrorCodes.PLUGIN_FAILED);
      expect(err.cause, part).toBe(raw);
      expect(err.message, part).toContain('driver exploded');
    }
  });

  it('a QTasksError from a plugin passes unchanged', async () => {
    const own = new QTasksError(ErrorCodes.BROKER_UNAVAILABLE, 'redis is down');
    const a = new QueueTasks({
      name: 'own-error',
      globals: false,
      sharedTasks: false,
      config: { logLevel: 'silent' },
      plugins: [{ name: 'x', apply: (x) => x.hooks.broker.beforePublish.tapPromise('x', () => Promise.reject(own)) }],
    });
    apps.push(a);
    a.task('t', () => 1);
    await a.start();
    expect(await caught(a.addTask('t', []))).toBe(own);
  });
});
