/**
 * The quickstart: an app on the in-memory default registers two tasks, starts a worker,
 * enqueues work, prints the results and exits 0. `npm start` runs it.
 */
import { QueueTasks, RetryLaterError } from '../core/index.js';

export async function main(print: (line: string) => void = console.log): Promise<number> {
  const app = new QueueTasks({ name: 'quickstart', config: { logLevel: 'warn', retryDelayMs: 10 } });

  const add = app.task('add', (a: number, b: number) => a + b);

  let calls = 0;
  const flaky = app.task({ name: 'flaky', retry: 2, priority: 1 }, (word: string) => {
    calls++;
    if (calls < 2) throw new RetryLaterError(5, 'not yet');
    return word.toUpperCase();
  });

  const countdown = app.task('countdown', function* (from: number) {
    for (let i = from; i > 0; i--) yield i;
  });

  await app.start();
  try {
    const sum = await add.addTask([2, 3], { timeout: 5_000 });
    print(`add(2, 3) = ${String(sum.returning)} [${sum.status}]`);

    const shout = await flaky.addTask(['hello'], { timeout: 5_000 });
    print(`flaky('hello') = ${String(shout.returning)} [${shout.status} after ${shout.attempts} attempts]`);

    const values = await countdown.run([3], { timeout: 5_000 });
    print(`countdown(3) yielded ${JSON.stringify(values)}`);

    const many = await Promise.all(Array.from({ length: 100 }, (_, i) => add.addTask([i, i], { timeout: 5_000 })));
    print(`100 tasks: ${many.filter((r) => r.status === 'success').length} succeeded`);
  } finally {
    await app.stop();
  }
  return 0;
}

// Run directly (npm start), not when imported by the tests.
if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
