/**
 * A sharedTask declared after its app started is refused at declaration, naming the app, instead
 * of being accepted at enqueue and failing in the worker with UNKNOWN_TASK.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes, QTasksError, sharedTask } from '../../core/index.js';
import { sharedTaskDefinitions } from '../../core/state.js';
import { appsWithCleanGlobals } from '../support/apps.js';

const makeApp = appsWithCleanGlobals();

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('sharedTask after start', () => {
  it('is refused while appMain, which adopts shared tasks, is starting or started', async () => {
    const app = makeApp({ name: 'late-shared', config: { logLevel: 'silent' } });
    const early = sharedTask('late-shared-early', () => 'early');
    const starting = app.start();
    const during = thrown(() => sharedTask('late-shared-during', () => 1));
    await starting;
    const after = thrown(() => sharedTask('late-shared-after', () => 1));
    for (const err of [during, after]) {
      expect(err).toBeInstanceOf(QTasksError);
      expect((err as QTasksError).code).toBe(ErrorCodes.ALREADY_STARTED);
      expect((err as QTasksError).message).toContain('app "late-shared"');
    }
    expect(sharedTaskDefinitions.has('late-shared-after')).toBe(false);
    // Declared in time, it runs.
    expect((await early.addTask([], { timeout: 5_000 })).returning).toBe('early');
    sharedTaskDefinitions.delete('late-shared-early');
  });

  it('is accepted when the started appMain does not adopt shared tasks, or once a new app is constructed', async () => {
    const app = makeApp({ name: 'no-shared', sharedTasks: false, config: { logLevel: 'silent' } });
    await app.start();
    expect(thrown(() => sharedTask('late-shared-ok', () => 1))).toBeUndefined();
    const next = makeApp({ name: 'next', config: { logLevel: 'silent' } });
    expect(thrown(() => sharedTask('late-shared-ok-2', () => 2))).toBeUndefined();
    next.task('own', () => 0);
    sharedTaskDefinitions.delete('late-shared-ok');
    sharedTaskDefinitions.delete('late-shared-ok-2');
  });
});
