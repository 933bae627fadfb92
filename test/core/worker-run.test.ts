import { afterEach, expect, it } from 'vitest';
import { QueueTasks, type TaskContext } from '../../core/index.js';
import { memory } from '../../plugins/memory/index.js';
import { gate, waitUntil } from '../contracts/helpers.js';

const apps: QueueTasks[] = [];
afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
});

// Records in a storage apart from the broker: the kernel writes them, progress values included. A value
// reported before the handler's first await must carry the attempt's start, like the `process` record.
it('stores a progress value reported before the first await on the running record, with its start time', async () => {
  const app = new QueueTasks({
    name: 'worker-run',
    globals: false,
    config: { logLevel: 'silent' },
    plugins: [memory({ name: 'queue', storage: false }), memory({ name: 'records', broker: false, globalConfig: false })],
  });
  apps.push(app);
  const release = gate();
  const t = app.task({ name: 'early', echo: true }, async (ctx: TaskContext) => {
    ctx.progress('started');
    await release.promise;
    return 1;
  });
  await app.start();
  const before = Date.now();
  const { id } = await t.addTask([]);
  let running;
  try {
    running = await waitUntil(async () => {
      const r = await app.get(id);
      return r?.progress === 'started' ? r : undefined;
    }, 'the progress value stored');
  } finally {
    release.open();
  }
  expect(running.status).toBe('process');
  expect(running.startedAt).toBeGreaterThanOrEqual(before);
  const done = await waitUntil(async () => {
    const r = await app.get(id);
    return r?.status === 'success' ? r : undefined;
  }, 'the outcome stored');
  expect(done.startedAt).toBe(running.startedAt);
});
