/**
 * Flow control (docs/flow-control.md): a webhook delivered twice runs once (a caller-chosen id),
 * a burst of search keystrokes runs once with the last query (debounce), a partner API is called
 * at most 5 times per 200 ms and answers one 429 (RateLimitError), exports run two at a time, and
 * the two report tasks of queue `reports` run two at a time between them (a queue-level limit).
 * Runs on the in-memory default; with `redis()` every limit holds across all worker processes.
 * `node dist/examples/flow-control.js` runs it.
 */
import { QueueTasks, RateLimitError } from '../core/index.js';

export async function main(print: (line: string) => void = console.log): Promise<number> {
  const app = new QueueTasks({ name: 'flow-control', config: { logLevel: 'silent', concurrency: 10 } });
  let payments = 0;
  const paid = app.task('paymentWebhook', (orderId: string) => `paid ${orderId} (${++payments})`);
  const queries: string[] = [];
  const search = app.task('search', (query: string) => void queries.push(query));
  const calls: number[] = [];
  let tooMany = true;
  const partner = app.task({ name: 'partner', rateLimit: { max: 5, perMs: 200 } }, (n: number) => {
    calls.push(Date.now());
    if (n === 0 && tooMany) {
      tooMany = false;
      throw new RateLimitError(50); // the partner said 429: later, without spending an attempt
    }
    return n;
  });
  let running = 0;
  let most = 0;
  const exportTable = app.task({ name: 'export', globalConcurrency: 2 }, async (table: string) => {
    most = Math.max(most, ++running);
    await new Promise((resolve) => setTimeout(resolve, 30));
    running--;
    return table;
  });

  // A queue-level limit: both report tasks together, at most 2 at once.
  app.queue('reports', { globalConcurrency: 2 });
  let reporting = 0;
  let mostReports = 0;
  const report = async (day: string): Promise<string> => {
    mostReports = Math.max(mostReports, ++reporting);
    await new Promise((resolve) => setTimeout(resolve, 30));
    reporting--;
    return day;
  };
  const sales = app.task({ name: 'salesReport', queue: 'reports' }, report);
  const stock = app.task({ name: 'stockReport', queue: 'reports' }, report);

  await app.start();
  try {
    // The provider retries its webhook: same order id, one payment.
    const first = await paid.addTask(['o-1'], { id: 'payment:o-1' });
    const again = await paid.addTask(['o-1'], { id: 'payment:o-1' });
    await app.wait(first.id, 5_000);
    print(`webhook twice: deduplicated ${again.deduplicated === true}, payments ${payments}`);

    // Keystrokes: only the last query runs, 100 ms after it.
    let id = '';
    for (const q of ['q', 'qt', 'qta', 'qtasks']) id = (await search.addTask([q], { delay: 100, dedup: { key: 'search:user-1', mode: 'debounce' } })).id;
    await app.wait(id, 5_000);
    print(`searched: ${queries.join(', ')}`);

    // 12 partner calls, at most 5 per 200 ms; the 429 costs no attempt.
    const sent = await Promise.all(Array.from({ length: 12 }, (_, n) => partner.addTask([n])));
    const done = await Promise.all(sent.map((r) => app.wait(r.id, 10_000)));
    const sorted = [...calls].sort((a, b) => a - b);
    let busiest = 0;
    for (let i = 0, j = 0; i < sorted.length; i++) {
      while (sorted[i]! - sorted[j]! >= 200) j++;
      busiest = Math.max(busiest, i - j + 1);
    }
    print(`partner: ${done.filter((r) => r.status === 'success').length} succeeded, at most ${busiest} per 200 ms, first call attempts ${done[0]!.attempts}`);

    const exports = await Promise.all(['users', 'orders', 'items', 'logs', 'events'].map((t) => exportTable.addTask([t])));
    await Promise.all(exports.map((r) => app.wait(r.id, 5_000)));
    print(`exports: at most ${most} at once`);

    const days = ['mon', 'tue', 'wed'];
    const reports = await Promise.all([...days.map((d) => sales.addTask([d])), ...days.map((d) => stock.addTask([d]))]);
    await Promise.all(reports.map((r) => app.wait(r.id, 5_000)));
    print(`reports queue: ${reports.length} reports, at most ${mostReports} at once`);
    return 0;
  } finally {
    await app.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
