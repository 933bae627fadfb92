/**
 * Several worker processes and real crashes (needs `target.process`): competing processes run
 * each task once; a worker killed with SIGKILL mid-task loses nothing and an idle survivor picks
 * its tasks up without a new publish; a worker whose lease was taken over (its event loop
 * blocked past the lease) cannot settle.
 */
import { afterEach, expect, it } from 'vitest';
import { guide, sleep, uniqueName, waitUntil } from './helpers.js';
import { unlessLacking } from './lacks.js';
import { startWorkerProcess, type WorkerProcess } from './crash-harness.js';
import type { SuiteContext } from './suite.js';

/** Ids in `lines` ('<id> ...'), counted. */
function countIds(lines: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of lines) {
    const id = line.slice(0, line.lastIndexOf(' '));
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

export function workerProcesses({ target, base, makeApp }: SuiteContext): void {
  const processTarget = target.process;
  if (processTarget === undefined) return;
  const children: WorkerProcess[] = [];
  const config = { ...base, ...target.config };
  const worker = (name: string, extra: Record<string, unknown> = {}): WorkerProcess => {
    const w = startWorkerProcess(processTarget, name, { ...config, ...extra });
    children.push(w);
    return w;
  };
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => c.kill()));
  });

  it('competing worker processes run every task exactly once', async () => {
    const name = uniqueName('procs');
    const workers = [worker(name), worker(name), worker(name)];
    await Promise.all(workers.map((w) => w.ready));
    const producer = makeApp(name);
    await producer.start({ worker: false });
    const recs = await Promise.all(Array.from({ length: 60 }, (_, i) => producer.addTask('work', [i % 3 === 0 ? 30 : 5])));
    const done = await Promise.all(recs.map((r) => producer.wait(r.id, 30_000)));
    expect(done.every((r) => r.status === 'success' && r.attempts === 1)).toBe(true);
    await sleep(config.leaseMs! * 2);
    const runs = countIds(workers.flatMap((w) => w.started));
    expect(runs.size).toBe(60);
    expect([...runs.values()].every((n) => n === 1), `a task ran in two worker processes: a take must lock the task (${guide('Leases: the one design that survives a crash')})`).toBe(true);
    expect(workers.filter((w) => w.started.length > 0).length).toBeGreaterThan(1);
  });

  it('a worker killed with SIGKILL mid-task loses nothing: an idle survivor finishes every task, each once', async () => {
    const name = uniqueName('crash');
    const victim = worker(name, { concurrency: 4 });
    await victim.ready;
    const producer = makeApp(name);
    await producer.start({ worker: false });
    // Long on their first delivery (the victim's), short on the next.
    const recs = await Promise.all(Array.from({ length: 4 }, () => producer.addTask('work', [60_000, 20])));
    await waitUntil(() => victim.started.length === 4, 'the victim to start all four tasks');
    const survivor = worker(name, { concurrency: 4 });
    await survivor.ready;
    await sleep(200); // idle now: nothing to claim until the victim's leases expire
    expect(survivor.started).toEqual([]);
    await victim.kill();
    // No publish from here on: the survivor must notice the expired leases by itself.
    const done = await Promise.all(recs.map((r) => producer.wait(r.id, 30_000)));
    expect(done.every((r) => r.status === 'success' && r.attempts === 2), `a killed worker's tasks must come back to a live worker with no new publish, not only from stop() (${guide('Leases: the one design that survives a crash')})`).toBe(true);
    // The survivor reports a settlement just after storing it.
    await waitUntil(() => survivor.settled.length >= 4, 'the survivor to report four settlements');
    await sleep(config.leaseMs! * 2);
    expect(victim.settled).toEqual([]);
    const settled = countIds(survivor.settled);
    expect(recs.map((r) => settled.get(r.id))).toEqual([1, 1, 1, 1]);
    expect(survivor.settled).toHaveLength(4);
    for (const r of recs) expect((await producer.get(r.id))?.status).toBe('success');
  });

  unlessLacking(target.lacks?.leaseTakeover)('fences a worker whose lease was taken over while its event loop was blocked: its outcome is refused', async () => {
    const name = uniqueName('fence');
    const leaseMs = config.leaseMs!;
    const blocked = makeApp(name, { concurrency: 1 });
    let taker: WorkerProcess | undefined;
    let firstAttempt = 0;
    blocked.task({ name: 'fence', echo: true }, async (ctx) => {
      firstAttempt = ctx.attempt;
      taker = worker(name);
      // CPU-bound stretches past the lease (no renewal can run), with short breaks to read the
      // other worker's output, until it has taken the task over.
      while (!taker.started.some((l) => l.startsWith(`${ctx.id} `))) {
        const until = Date.now() + leaseMs * 3;
        while (Date.now() < until) {
          /* blocked */
        }
        await sleep(5);
        if (taker.child.exitCode !== null) throw new Error('the taking worker exited');
      }
      return 'stale';
    });
    await blocked.start();
    const rec = await blocked.addTask('fence', []);
    await waitUntil(() => taker !== undefined && taker.settled.some((l) => l.startsWith(`${rec.id} `)), 'the other worker to settle the task', 30_000);
    const done = await blocked.wait(rec.id, 10_000);
    expect(firstAttempt).toBe(1);
    expect([done.status, done.returning, done.attempts]).toEqual(['success', 'child', 2]);
    await sleep(leaseMs * 2); // the stale outcome has been sent by now
    const stored = await blocked.get(rec.id);
    expect([stored?.returning, stored?.attempts], `a stale delivery settled over the newer one: ack, retry and deadLetter answer false once the lease was taken over (${guide('`ack(delivery, record, { ttlMs })`, `retry(delivery, record, delayMs)`, `deadLetter(delivery, record, { ttlMs })`')})`).toEqual(['child', 2]);
  });

  it('stores the outcome before or with the ack: a worker killed the moment its ack resolves leaves the final record', async () => {
    const name = uniqueName('ackkill');
    const victim = worker(name);
    await victim.ready;
    const producer = makeApp(name);
    await producer.start({ worker: false });
    const rec = await producer.addTask('die-after-ack', []);
    await victim.exited; // SIGKILLed by itself in task.settled, right after the ack resolved
    expect(victim.child.signalCode).toBe('SIGKILL');
    const stored = await producer.get(rec.id);
    expect(
      [stored?.status, stored?.returning],
      `the task was acked but its outcome is not stored: a worker killed after the ack lost it. Store the outcome before the ack resolves, or in the same atomic step (${guide('`records` (optional)')})`,
    ).toEqual(['success', 'acked']);
  });

  it('crash attribution: a handler that kills its worker ends dead; healthy tasks claimed with it succeed', { timeout: 90_000 }, async () => {
    const name = uniqueName('poison');
    const producer = makeApp(name);
    await producer.start({ worker: false });
    // Queued before any worker runs, so the first worker claims all four and runs them together.
    const poison = await producer.addTask('exit', [400]);
    const healthy = [];
    for (let i = 0; i < 3; i++) healthy.push(await producer.addTask('work', [1_500]));
    // One worker at a time, the next started when the previous one died (at most five).
    const chain: WorkerProcess[] = [];
    let done = false;
    const next = (): void => {
      const w = worker(name, { concurrency: 4 });
      chain.push(w);
      void w.exited.then(() => {
        if (!done && chain.length < 5) next();
      });
    };
    next();
    try {
      const finals = [];
      for (const h of healthy) finals.push(await producer.wait(h.id, 60_000));
      const dead = await producer.wait(poison.id, 60_000);
      const first = new Set(chain[0]!.started.map((l) => l.slice(0, l.lastIndexOf(' '))));
      expect(first, 'the first worker should have claimed all four tasks (concurrency 4)').toEqual(new Set([poison.id, ...healthy.map((h) => h.id)]));
      const why = `a delivery whose worker vanished comes back with lost + 1 (${guide('`stop()`')})`;
      expect(finals.map((f) => f.status), `healthy tasks that shared a worker with a poison task must succeed (${why})`).toEqual(['success', 'success', 'success']);
      expect(dead.status, `a task that takes its worker down must end dead (${why})`).toBe('dead');
      expect(dead.reason).toMatch(/lost while it ran alone/);
      // Once in company, once alone; never a third time.
      expect(chain.flatMap((w) => w.started).filter((l) => l.startsWith(`${poison.id} `))).toHaveLength(2);
    } finally {
      done = true;
    }
  });
}
