/**
 * A worker process killed with SIGKILL mid-task. Storage is Redis (shared by the test process and
 * both worker processes, as in a deployment); the broker is RabbitMQ. RabbitMQ sees the socket
 * close, returns the dead worker's unacked messages, the next worker counts that lost delivery
 * as an attempt, and every task ends in success exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { QueueTasks } from '../../core/app.js';
import { redis } from '../../plugins/redis/index.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';
import { RabbitFixture, TEST_PREFIX } from './rabbitmq-helpers.js';
import { REDIS_URL, adminClient } from './redis-helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const WORKER = join(here, '..', 'fixtures', 'rabbitmq-crash-worker.ts');
const RESULTS_PREFIX = 'qtasks-crash-results';

const fx = new RabbitFixture();
const children: ChildProcess[] = [];
let admin: Redis | undefined;
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(async () => {
  await admin?.quit();
  await fx.close();
});

interface Worker {
  readonly proc: ChildProcess;
  readonly started: Map<string, number>;
  readonly done: Array<{ id: string; attempts: number }>;
  /** The kind of the last line read: 'start' means a batch has just begun (400 ms to run). */
  readonly last: { kind: string };
  readonly ready: Promise<void>;
}

function startWorker(appName: string): Worker {
  const proc = spawn(process.execPath, ['--import', 'tsx', WORKER, appName, RESULTS_PREFIX, TEST_PREFIX], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  const started = new Map<string, number>();
  const done: Array<{ id: string; attempts: number }> = [];
  const last = { kind: '' };
  let onReady!: () => void;
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    proc.once('exit', (code, signal) => reject(new Error(`worker exited before ready (${code ?? signal})`)));
  });
  let buffer = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const [kind, id, attempt] = buffer.slice(0, nl).split(' ');
      buffer = buffer.slice(nl + 1);
      last.kind = kind!;
      if (kind === 'ready') onReady();
      else if (kind === 'start') started.set(id!, Number(attempt));
      else if (kind === 'done') done.push({ id: id!, attempts: Number(attempt) });
    }
  });
  return { proc, started, done, last, ready };
}

it('a worker killed with SIGKILL mid-task loses nothing: every task completes exactly once in storage', { timeout: 90_000 }, async () => {
  admin = await adminClient();
  const name = uniqueName('crash');
  const producer = new QueueTasks({
    name,
    plugins: [fx.plugin(name), redis({ url: REDIS_URL, broker: false, prefix: RESULTS_PREFIX })],
    config: { logLevel: 'silent' },
    globals: false,
  });
  try {
    await producer.start({ worker: false });
    const first = startWorker(name);
    await first.ready;
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push((await producer.addTask('work', [i])).id);

    // Kill it while it has tasks running (started, not done) and some already finished: right
    // after a batch started, not as one ends (tasks of a batch finish together, and a kill that
    // lands just after their "done" lines would find none running).
    await waitUntil(() => first.done.length >= 6 && first.last.kind === 'start' && first.started.size > first.done.length, 'first worker mid-task', 30_000, 5);
    first.proc.kill('SIGKILL');
    // 'close', not 'exit': every line the process wrote before dying has been read by then.
    await new Promise((resolve) => first.proc.once('close', resolve));
    const doneInFirst = new Set(first.done.map((d) => d.id));
    const interrupted = [...first.started.keys()].filter((id) => !doneInFirst.has(id));
    expect(interrupted.length).toBeGreaterThan(0);

    const second = startWorker(name);
    await second.ready;
    const finals = await Promise.all(ids.map((id) => producer.wait(id, 60_000)));

    // Every task is in storage as a success with its own result.
    expect(finals.map((r) => r.status)).toEqual(ids.map(() => 'success'));
    expect(finals.map((r) => r.returning)).toEqual(ids.map((_, i) => i * 10));
    // Stop the second worker so every line it wrote has arrived.
    second.proc.kill('SIGTERM');
    await new Promise((resolve) => second.proc.once('close', resolve));

    // Exactly once: no task was settled (stored + acked) twice across the two processes.
    const settled = new Map<string, number>();
    for (const d of [...first.done, ...second.done]) settled.set(d.id, (settled.get(d.id) ?? 0) + 1);
    expect([...settled.values()].filter((n) => n > 1)).toEqual([]);
    // A task with no "done" line was stored by the first worker in the instant before the kill
    // (outcome stored, ack or line lost): the second worker must have dropped it, not re-run it.
    for (const id of ids.filter((i) => !settled.has(i))) {
      expect(first.started.has(id)).toBe(true);
      expect(second.started.has(id)).toBe(false);
      expect(finals[ids.indexOf(id)]!.attempts).toBe(1);
    }
    // Tasks the first worker finished were not run again.
    for (const id of doneInFirst) expect(second.started.has(id)).toBe(false);
    // The deliveries lost with the killed process were counted: a re-run is attempt 2.
    const rerun = interrupted.filter((id) => second.started.has(id));
    expect(rerun.length).toBeGreaterThan(0);
    for (const id of rerun) {
      expect(second.started.get(id)).toBe(2);
      expect(finals[ids.indexOf(id)]!.attempts).toBe(2);
    }
  } finally {
    await producer.stop();
    await fx.cleanup([name]);
    const keys = await admin.keys(`${RESULTS_PREFIX}:{${name}}:*`);
    if (keys.length > 0) await admin.del(...keys);
  }
});
