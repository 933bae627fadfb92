/**
 * Operating an app (docs/operations.md): a worker fails some tasks overnight; the operator counts
 * them, lists them, retries them once the cause is fixed, cancels a stuck task, pauses a queue and
 * follows progress live. Runs on the in-memory default; with `redis()` the same calls work from
 * any process. `node dist/examples/operations.js` runs it.
 */
import { QueueTasks } from '../core/index.js';

export async function main(print: (line: string) => void = console.log): Promise<number> {
  const app = new QueueTasks({ name: 'operations', config: { logLevel: 'silent' } });
  let apiDown = true;
  const charge = app.task('charge', (cents: number) => {
    if (apiDown) throw new Error('payment API unavailable');
    return `charged ${cents}`;
  });
  const stuck = app.task({ name: 'stuck', echo: true }, (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)));
  const report = app.task('report', async function* (rows: number) {
    for (let done = 1; done <= rows; done++) yield `${done}/${rows}`;
  });

  await app.start();
  try {
    // Overnight: every charge fails.
    await Promise.all([100, 200, 300].map((cents) => charge.addTask([cents], { timeout: 5_000 })));
    const [queue] = await app.counts('default');
    print(`errors: ${queue?.error ?? 0}`);
    const failed = await app.list({ status: 'error', name: 'charge' });
    print(`first error: ${failed.records[0]?.error?.message ?? 'none'}`);

    // The API is back: retry them all, with fresh attempt counts.
    apiDown = false;
    const retried = await app.retry({ status: 'error', name: 'charge' });
    const again = await Promise.all(failed.records.map((r) => app.wait(r.id, 5_000)));
    print(`retried ${retried}: ${again.filter((r) => r.status === 'success').length} succeeded`);

    // A task stuck on a slow call: cancel it; its signal aborts and it ends `cancel`.
    const hung = await stuck.addTask([]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    print(`cancel found it ${await app.cancel(hung.id, 'operator')}`);
    print(`stuck task: ${(await app.wait(hung.id, 5_000)).status}`);

    // Pause a queue: nothing starts until resume.
    await app.pause();
    const later = await charge.addTask([400]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    print(`while paused: ${(await app.get(later.id))?.status ?? 'unknown'}`);
    await app.resume();
    print(`after resume: ${(await app.wait(later.id, 5_000)).status}`);

    // Progress, live to the producer.
    const seen: unknown[] = [];
    await report.addTask([3], { timeout: 5_000, onProgress: (value) => seen.push(value) });
    print(`progress: ${seen.join(' ')}`);
    return 0;
  } finally {
    await app.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then((code) => process.exit(code));
}
