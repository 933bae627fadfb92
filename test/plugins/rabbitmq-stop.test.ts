/**
 * A graceful stop under load, RabbitMQ alone (no storage plugin, so nothing but the acks keeps a
 * finished task from running again): a worker process gets SIGINT while tasks stream through it,
 * a second worker takes over, and every task runs exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';
import { RabbitFixture, TEST_PREFIX } from './rabbitmq-helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const WORKER = join(here, '..', 'fixtures', 'rabbitmq-stop-worker.ts');

const fx = new RabbitFixture();
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(() => fx.close());

interface Worker {
  readonly proc: ChildProcess;
  readonly starts: Array<{ id: string; attempt: number }>;
  readonly ready: Promise<void>;
  /** Resolves with the exit code once every line has been read. */
  readonly closed: Promise<number | null>;
}

function startWorker(appName: string, concurrency: number): Worker {
  const proc = spawn(process.execPath, ['--import', 'tsx', WORKER, appName, TEST_PREFIX, String(concurrency)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  const starts: Array<{ id: string; attempt: number }> = [];
  let onReady!: () => void;
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    proc.once('exit', (code, signal) => reject(new Error(`worker exited before ready (${code ?? signal})`)));
  });
  const closed = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  let buffer = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const [kind, id, attempt] = buffer.slice(0, nl).split(' ');
      buffer = buffer.slice(nl + 1);
      if (kind === 'ready') onReady();
      else if (kind === 'start') starts.push({ id: id!, attempt: Number(attempt) });
    }
  });
  return { proc, starts, ready, closed };
}

it('SIGINT under load: the stopping worker flushes its acks, and every task runs exactly once (RabbitMQ alone)', { timeout: 120_000 }, async () => {
  const name = uniqueName('sigint');
  const producer = new QueueTasks({ name, plugins: [fx.plugin(name)], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
  try {
    await producer.start({ worker: false });
    const total = 2_000;
    const results = Array.from({ length: total }, (_, i) => producer.addTask('work', [i], { timeout: 90_000 }));
    // Several workers in turn, each stopped by SIGINT mid-stream: every stop is a chance for a
    // channel to close with acks not yet written.
    const workers: Worker[] = [];
    for (let round = 1; round <= 4; round++) {
      const w = startWorker(name, 20);
      workers.push(w);
      await w.ready;
      await waitUntil(() => w.starts.length >= 250, `worker ${round} under load`, 60_000, 2);
      w.proc.kill('SIGINT');
      expect(await w.closed).toBe(0);
    }
    const last = startWorker(name, 20);
    workers.push(last);
    await last.ready;
    const records = await Promise.all(results);
    expect(records.map((r) => r.status)).toEqual(Array(total).fill('success'));
    last.proc.kill('SIGINT');
    expect(await last.closed).toBe(0);
    const starts = workers.flatMap((w) => w.starts);

    const runs = new Map<string, number>();
    for (const s of starts) runs.set(s.id, (runs.get(s.id) ?? 0) + 1);
    expect([...runs.entries()].filter(([, n]) => n > 1)).toEqual([]);
    expect(runs.size).toBe(total);
    // Nothing ran twice, and no delivery the stopping worker never started cost an attempt.
    expect(starts.filter((s) => s.attempt !== 1)).toEqual([]);
  } finally {
    await producer.stop();
    await fx.cleanup([name]);
  }
});
