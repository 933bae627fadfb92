/**
 * Names and payloads at the edges of what the kernel accepts, and durability as a second,
 * independent connection sees it.
 */
import { expect, it } from 'vitest';
import { QTasksError } from '../../core/errors.js';
import type { TaskRecord } from '../../core/record.js';
import { guide, uniqueName, waitUntil } from './helpers.js';
import type { SuiteContext } from './suite.js';

/** Every kind of character the kernel accepts in a name: NUL and controls, separators, quotes, astral, 512 long. */
const ODD = ['plain', 'nul\u0000byte', 'ctl\u0001\u001f\u007f', 'sep|:;,./\\{}[]*?#', 'quote"\'`%s%d', 'wide 名前 ✓ \u{1F600}', 'x'.repeat(512)];

export function namesAndDurability({ target, makeApp }: SuiteContext): void {
  it('carries every name the kernel accepts, or refuses one clearly without breaking the rest of its batch', async () => {
    const name = uniqueName('names');
    const producer = makeApp(name);
    let n = 0;
    const ids = new Map<number, string>();
    producer.hooks.broker.beforePublish.tap('test', (m) => {
      const id = `${ODD[n % ODD.length]}#${n}`;
      ids.set(Number((m.args as unknown[])[0]), id);
      n++;
      return { ...m, id };
    });
    const queueOf = (i: number): string => (i === 0 ? producer.config.defaultQueue : ODD[i]!);
    for (const [i, task] of ODD.entries()) producer.task({ name: task, queue: queueOf(i) }, (k: number) => k);
    await producer.start({ worker: false });
    // One tick: a broker that sends a batch at once must not let one name spoil the others.
    const settled = await Promise.allSettled(ODD.map((task, i) => producer.addTask(task, [i])));
    const carried: number[] = [];
    for (const [i, s] of settled.entries()) {
      // A refusal is a QTasksError naming the problem, at once; a plain name is never refused.
      if (s.status === 'rejected') expect(s.reason).toBeInstanceOf(QTasksError);
      else carried.push(i);
    }
    expect(carried[0]).toBe(0);
    const worker = makeApp(name, { queues: carried.map(queueOf) });
    for (const i of carried) worker.task({ name: ODD[i]!, queue: queueOf(i) }, (k: number) => k);
    await worker.start();
    for (const i of carried) {
      const rec: TaskRecord = await worker.wait(ids.get(i)!, 15_000);
      expect([rec.status, rec.returning, rec.name, rec.queue, rec.id]).toEqual(['success', i, ODD[i], queueOf(i), ids.get(i)]);
    }
  });

  it('carries a large payload unchanged', async () => {
    const app = makeApp(uniqueName('large'));
    const t = app.task('t', (s: string) => s.length);
    await app.start();
    const big = 'ü✓'.repeat(1 << 19); // about 2.5 MB of UTF-8
    expect((await t.addTask([big], { timeout: 20_000 })).returning).toBe(big.length);
  });

  if (target.durable !== undefined) {
    const durable = target.durable.bind(target);
    it('publish resolves only once the message is durable (seen through a second connection)', async () => {
      const name = uniqueName('durable');
      const app = makeApp(name);
      app.task('t', () => 1);
      await app.start({ worker: false });
      const recs = await Promise.all(Array.from({ length: 20 }, (_, i) => app.addTask('t', [i], { delay: i % 2 === 0 ? 0 : 60_000 })));
      for (const r of recs) expect(await durable(name, r.id)).toBe(true);
    });
  }

  it('stores the outcome before or with the ack: once the ack resolves, another app reads the final record', async () => {
    const name = uniqueName('ackorder');
    const worker = makeApp(name);
    const reader = makeApp(name);
    const reads: Array<Promise<TaskRecord | undefined>> = [];
    worker.task('acked', (n: number) => n + 1);
    // task.settled runs once the broker's ack (or the kernel's write, then the ack) resolved.
    worker.hooks.task.settled.tap('conformance', (record) => void reads.push(reader.get(record.id)));
    await reader.start({ worker: false });
    await worker.start();
    const recs = await Promise.all([1, 2, 3].map((n) => worker.addTask('acked', [n])));
    for (const r of recs) await worker.wait(r.id, 10_000);
    // A waiter may hear of the outcome (from the storage) before the ack resolves and fires task.settled.
    await waitUntil(() => reads.length === 3, 'task.settled for all three');
    const read = await Promise.all(reads);
    expect(
      read.map((r) => `${r?.status} ${String(r?.returning)}`).sort(),
      `ack resolved before the outcome was stored: a fused broker writes the final record in the same step as the ack, before it resolves (${guide('`records` (optional)')})`,
    ).toEqual(['success 2', 'success 3', 'success 4']);
  });
}
