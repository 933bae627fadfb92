/**
 * The memory broker keeps a task's lost count wherever the task goes: through a retry's delay and
 * a promote, the delivery after a loss still runs alone under suspicion (its record marked).
 */
import { afterEach, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { MemoryBackend, memory } from '../../plugins/memory/index.js';
import { gate, waitUntil } from '../contracts/helpers.js';

const apps: QueueTasks[] = [];
afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
});

it('a promoted retry of a task that lost its worker still runs alone', async () => {
  const backend = new MemoryBackend();
  const make = (): QueueTasks => {
    const app = new QueueTasks({ name: 'mem-suspect', plugins: [memory({ backend })], config: { logLevel: 'silent', stopTimeoutMs: 50, leaseMs: 50 }, globals: false, sharedTasks: false });
    apps.push(app);
    return app;
  };
  const first = make();
  const started = gate();
  first.task({ name: 't', retry: 2, retryDelayMs: 600_000 }, async () => {
    started.open();
    await new Promise(() => undefined);
  });
  await first.start();
  const rec = await first.addTask('t', []);
  await started.promise;
  await first.stop(); // lost with its worker
  const second = make();
  let runs = 0;
  const marks: unknown[] = [];
  second.task({ name: 't', echo: true, retry: 2, retryDelayMs: 600_000 }, async (ctx) => {
    runs++;
    marks.push((await second.get(ctx.id))?.alone);
    if (runs === 1) throw new Error('fails once, then waits ten minutes for its retry');
    return 'ok';
  });
  await second.start();
  await waitUntil(async () => (await second.get(rec.id))?.status === 'retry', 'the retry to be scheduled');
  expect(await second.promote(rec.id)).toBe(true);
  const done = await second.wait(rec.id, 10_000);
  expect(done.status).toBe('success');
  expect(done.attempts).toBe(3);
  // Both later attempts carried the loss: each ran alone and marked its record as it started.
  expect(marks).toEqual([
    { attempt: 2, lost: 1 },
    { attempt: 3, lost: 1 },
  ]);
});
