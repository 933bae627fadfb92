/** Apps made by a test file are stopped after each test, with the globals reset before it. */
import { afterEach, beforeEach, vi } from 'vitest';
import { QueueTasks, setAppMain, setLoggerMain } from '../../core/index.js';
import { sleep } from '../contracts/helpers.js';

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

/**
 * Registers task `name` on `app`: it counts its runs, takes `ms` and returns its argument. The
 * outage tests use it to cut the server while tasks are running.
 */
export function countingEcho(app: QueueTasks, ms: number, name = 't'): { readonly runs: number } {
  const counter = { runs: 0 };
  app.task(name, async (n: number) => {
    counter.runs++;
    await sleep(ms);
    return n;
  });
  return counter;
}
