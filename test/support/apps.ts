/** Apps made by a test file are stopped after each test, with the globals reset before it. */
import { afterEach, beforeEach, vi } from 'vitest';
import { QueueTasks, setAppMain, setLoggerMain } from '../../core/index.js';

/** Registers the hooks and returns the factory; call once at the top of a test file. */
export function appsWithCleanGlobals(): (options: ConstructorParameters<typeof QueueTasks>[0]) => QueueTasks {
  const apps: QueueTasks[] = [];
  beforeEach(() => {
    setAppMain(undefined);
    setLoggerMain(undefined);
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(apps.splice(0).map((a) => a.stop()));
  });
  return (options) => {
    const app = new QueueTasks(options);
    apps.push(app);
    return app;
  };
}
