/**
 * Schedules across worker processes on Redis (issue 15): three real worker processes fire an
 * `every: 200` and a cron-with-seconds schedule; each fire time becomes exactly one task, none is
 * lost when one process is SIGKILLed, and an updated spec takes effect without a restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { redis } from '../../plugins/redis/index.js';
import { sleep, uniqueName } from '../contracts/helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/schedule-worker.ts', import.meta.url));
const appName = uniqueName('sched-procs');
const procs: ChildProcess[] = [];
afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  const admin = await adminClient();
  await deleteAppKeys(admin, [appName]);
  admin.disconnect();
});

interface Proc {
  readonly proc: ChildProcess;
  readonly lines: string[];
  readonly ready: Promise<void>;
}

function worker(app: string): Proc {
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE], { env: { ...process.env, QT_APP: app, QT_REDIS_URL: REDIS_URL }, stdio: ['ignore', 'pipe', 'inherit'] });
  procs.push(proc);
  const lines: string[] = [];
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  let buffer = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line === 'ready') onReady();
      else lines.push(line);
    }
  });
  return { proc, lines, ready };
}

/** The fire times of `schedule` among `ids`, sorted. */
const firesOf = (ids: readonly string[], schedule: string): number[] =>
  ids
    .filter((id) => id.startsWith(`sched:${schedule}:`))
    .map((id) => Number(id.slice(`sched:${schedule}:`.length)))
    .sort((a, b) => a - b);

function steps(times: readonly number[]): number[] {
  return times.slice(1).map((t, i) => t - times[i]!);
}

describe('schedules across three worker processes on Redis', () => {
  it('fire each time exactly once, lose none when a process is killed, and follow an updated spec', async () => {
    const workers = [worker(appName), worker(appName), worker(appName)];
    await Promise.all(workers.map((w) => w.ready));
    const client = new QueueTasks({ name: appName, plugins: [redis({ url: REDIS_URL })], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
    client.task('tick', () => undefined);
    await client.start({ worker: false });
    let updatedAt = 0;
    try {
      await client.schedule('fast', { every: 200 }, 'tick', []);
      await client.schedule('cron', { cron: '*/1 * * * * *' }, 'tick', []);
      await sleep(1_500);
      workers[0]!.proc.kill('SIGKILL');
      await sleep(1_500);
      updatedAt = (await client.schedule('fast', { every: 300 }, 'tick', [])).definedAt;
      await sleep(2_000);
      await client.unschedule('fast');
      await client.unschedule('cron');
      // Let the last fires run, then stop the survivors.
      await sleep(1_000);
      await Promise.all(
        workers.slice(1).map(
          (w) =>
            new Promise<void>((resolve) => {
              w.proc.once('exit', () => resolve());
              w.proc.kill('SIGTERM');
            }),
        ),
      );
    } finally {
      await client.stop();
    }
    const survivors = workers.slice(1).flatMap((w) => w.lines);
    const killed = workers[0]!.lines;
    const runs = [...killed, ...survivors].filter((l) => l.startsWith('run ')).map((l) => l.slice(4));
    // Each fire ran once; a second run only as the redelivery of one the killed process had.
    const seen = new Map<string, number>();
    for (const id of runs) seen.set(id, (seen.get(id) ?? 0) + 1);
    for (const [id, n] of seen) if (n > 1) expect({ id, n, inKilled: killed.includes(`run ${id}`) }).toEqual({ id, n: 2, inKilled: true });
    const ids = [...seen.keys()];

    const cron = firesOf(ids, 'cron');
    expect(cron.length).toBeGreaterThanOrEqual(4);
    expect(new Set(steps(cron))).toEqual(new Set([1_000]));

    const fast = firesOf(ids, 'fast');
    const before = fast.filter((t) => t < updatedAt);
    // A process that read the old spec just before the update may still fire one old time just after it.
    const after = fast.filter((t) => t > updatedAt + 100);
    expect(before.length).toBeGreaterThanOrEqual(10);
    expect(new Set(steps(before))).toEqual(new Set([200]));
    // The kill was mid-run: fires on both sides of it, none missing in between.
    expect(before.at(-1)! - before[0]!).toBeGreaterThan(2_000);
    expect(after.length).toBeGreaterThanOrEqual(3);
    for (const t of after) expect(t % 300).toBe(0);
    expect(new Set(steps(after))).toEqual(new Set([300]));
  }, 60_000);
});
