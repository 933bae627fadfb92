/**
 * The operator commands, run as the built binary against a real Redis app: a worker runs in
 * another `qtasks run` process, the test produces through its own app of the same name, and each
 * command is a fresh process that loads the fixture app with its worker off.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import type { QueueCounts } from '../../core/contracts.js';
import type { TaskRecord } from '../../core/record.js';
import { redis } from '../../plugins/redis/index.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';
import { crashUntilDead, stopCrashWorkers } from './dead-letters.js';
import { AMQP_URL, RabbitFixture } from '../plugins/rabbitmq-helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';

const root = resolve(import.meta.dirname, '..', '..');
const bin = resolve(root, 'dist', 'bin', 'qtasks.js');
const TARGET = 'test/fixtures/cli-control-app.ts:app';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('qtasks operator commands (built CLI, Redis)', () => {
  let admin: Redis;
  let dir: string;
  const names: string[] = [];
  const children: ChildProcess[] = [];
  const apps: QueueTasks[] = [];
  let name = '';
  let flag = '';
  let amqp: string | undefined;
  const rabbit = new RabbitFixture();
  const rabbitApps: string[] = [];

  const env = (): NodeJS.ProcessEnv => ({ ...process.env, QT_APP: name, QT_REDIS_URL: REDIS_URL, QT_FLAG: flag, ...(amqp !== undefined ? { QT_AMQP_URL: amqp } : {}) });

  function cli(args: string[], input?: string): Promise<Run> {
    return new Promise((done) => {
      const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.stdin.end(input ?? '');
      child.on('exit', (code) => done({ code, stdout, stderr }));
    });
  }

  /** A long-running command (events, stats --watch): its output so far, and a way to stop it. */
  function tail(args: string[]): { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> } {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    return { child, out: () => stdout, err: () => stderr, exited };
  }

  /** `qtasks run` of the fixture in another process, resolved once it consumes. */
  async function worker(): Promise<ChildProcess> {
    const w = tail(['run', '-A', TARGET, '--log-level', 'info']);
    await waitUntil(() => w.out().includes('qtasks: running'), 'the worker process consumes', 30_000);
    return w.child;
  }

  async function producer(): Promise<QueueTasks> {
    const app = new QueueTasks({ name, plugins: [redis({ url: REDIS_URL })], config: { logLevel: 'silent' }, globals: false });
    apps.push(app);
    await app.start({ worker: false });
    return app;
  }

  beforeAll(async () => {
    admin = await adminClient();
    dir = mkdtempSync(join(tmpdir(), 'qtasks-cli-'));
  });
  afterEach(async () => {
    await stopCrashWorkers();
    for (const c of children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null) {
        const gone = new Promise((r) => c.once('exit', r));
        c.kill('SIGKILL');
        await gone;
      }
    }
    for (const a of apps.splice(0)) await a.stop();
  });
  afterAll(async () => {
    await deleteAppKeys(admin, names);
    admin.disconnect();
    await rabbit.cleanup(rabbitApps);
    await rabbit.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const fresh = (): void => {
    amqp = undefined;
    name = uniqueName('cli-ops');
    names.push(name);
    flag = join(dir, `${name}.fixed`);
  };

  it('tasks --status error lists a failed task, show prints its error and stack, retry re-runs it', async () => {
    fresh();
    const producing = await producer();
    await worker();
    const failed = await producing.addTask('fail', ['widget'], { timeout: 20_000 });
    expect(failed.status).toBe('error');

    const listed = await cli(['tasks', '-A', TARGET, '--status', 'error']);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^ID\s+NAME\s+QUEUE\s+STATUS\s+ATTEMPTS\s+UPDATED\s+OUTCOME/);
    expect(listed.stdout).toContain(failed.id);
    expect(listed.stdout).toContain('Error: broken widget');

    const json = await cli(['tasks', '-A', TARGET, '--status', 'error', '--json']);
    expect((JSON.parse(json.stdout) as TaskRecord[]).map((r) => r.id)).toEqual([failed.id]);
    const none = await cli(['tasks', '-A', TARGET, '--status', 'error', '--name', 'ok', '--json']);
    expect(JSON.parse(none.stdout)).toEqual([]);

    const shown = await cli(['show', '-A', TARGET, failed.id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`id:        ${failed.id}`);
    expect(shown.stdout).toContain('status:    error');
    expect(shown.stdout).toMatch(/args:\n\s+\[\n\s+"widget"\n\s+\]/);
    expect(shown.stdout).toContain('error:\n  Error: broken widget');
    expect(shown.stdout).toMatch(/stack:\n\s+Error: broken widget\n\s+at /);
    expect(shown.stdout).toMatch(/timeline:\n\s+\S+Z\s+created/);

    writeFileSync(flag, '');
    const retried = await cli(['retry', '-A', TARGET, failed.id]);
    expect(retried.stderr).toBe('');
    expect(retried.stdout).toBe(`retried ${failed.id}\n`);
    const after = await producing.wait(failed.id, 20_000);
    expect(after.status).toBe('success');
    expect(after.returning).toBe('fixed');

    const again = await cli(['retry', '-A', TARGET, failed.id]);
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split('\n')).toEqual([expect.stringContaining('only tasks in error or dead can be retried')]);
  });

  it('bulk retry refuses without --yes when nobody can answer, and with --yes retries every one with progress lines', async () => {
    fresh();
    const producing = await producer();
    await worker();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await producing.addTask('fail', [`n${i}`], { timeout: 20_000 })).id);

    const refused = await cli(['retry', '-A', TARGET, '--status', 'error']);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toEqual(['qtasks retry: retry 3 error task(s): refusing without confirmation in a non-interactive run; pass --yes']);
    expect((await producing.counts())[0]?.error).toBe(3);

    writeFileSync(flag, '');
    const done = await cli(['retry', '-A', TARGET, '--status', 'error', '--yes']);
    expect(done.code).toBe(0);
    expect(done.stdout).toBe('retried 3 task(s)\n');
    expect(done.stderr).toBe('retried 3/3\n'); // not a terminal: plain progress lines
    for (const id of ids) expect((await producing.wait(id, 20_000)).status).toBe('success');
  });

  it('dead letters (tasks that took their worker down): tasks --status dead lists them, retry ID and retry --status dead --yes run them again', async () => {
    fresh();
    const producing = await producer();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await producing.addTask('crash', [`d${i}`], { queue: 'crash' })).id);
    const statuses = async (): Promise<(string | undefined)[]> => Promise.all(ids.map(async (id) => (await producing.get(id))?.status));
    await crashUntilDead(env(), async () => (await statuses()).every((s) => s === 'dead'));

    const listed = await cli(['tasks', '-A', TARGET, '--status', 'dead', '--queue', 'crash', '--json']);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as TaskRecord[]).map((r) => r.id).sort()).toEqual([...ids].sort());
    const shown = await cli(['show', '-A', TARGET, ids[0]!]);
    expect(shown.stdout).toContain('status:    dead');
    expect(shown.stdout).toMatch(/^reason: {4}\S/m); // why it is dead, in the crash rules' words
    const stats = JSON.parse((await cli(['stats', '-A', TARGET, '--json'])).stdout) as QueueCounts[];
    expect(stats.find((c) => c.queue === 'crash')).toMatchObject({ dead: 3 });

    writeFileSync(flag, '');
    const one = await cli(['retry', '-A', TARGET, ids[0]!]);
    expect(one.stdout).toBe(`retried ${ids[0]}\n`);
    const refused = await cli(['retry', '-A', TARGET, '--status', 'dead', '--queue', 'crash']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe('qtasks retry: retry 2 dead task(s) in queue crash: refusing without confirmation in a non-interactive run; pass --yes\n');
    const all = await cli(['retry', '-A', TARGET, '--status', 'dead', '--queue', 'crash', '--yes']);
    expect(all.code).toBe(0);
    expect(all.stdout).toBe('retried 2 task(s)\n');
    expect(all.stderr).toBe('retried 2/2\n');
    // A worker with the fix in place runs all three to success.
    const w = tail(['run', '-A', 'test/fixtures/crash-app.ts:app']);
    for (const [i, id] of ids.entries()) expect(await producing.wait(id, 30_000)).toMatchObject({ status: 'success', returning: `fixed d${i}` });
    expect(w.child.exitCode).toBeNull();
  }, 120_000);

  it('on a terminal, bulk retry asks: "n" leaves the tasks, "y" retries them with a progress bar', async () => {
    fresh();
    const producing = await producer();
    await worker();
    for (let i = 0; i < 2; i++) await producing.addTask('fail', [`t${i}`], { timeout: 20_000 });
    /** The command under a pseudo-terminal (util-linux script), answering `answer` once asked. */
    const onTerminal = (answer: string): Promise<Run> =>
      new Promise((done) => {
        const command = [process.execPath, bin, 'retry', '-A', TARGET, '--status', 'error'].map((a) => `'${a}'`).join(' ');
        const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { cwd: root, env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        child.stdout.on('data', (c: Buffer) => {
          stdout += c.toString();
          if (stdout.includes('[y/N]') && !child.stdin.writableEnded) child.stdin.end(`${answer}\n`);
        });
        child.on('exit', (code) => done({ code, stdout, stderr: '' }));
      });
    const no = await onTerminal('n');
    expect(no.stdout).toContain('retry 2 error task(s)? [y/N]');
    expect(no.code).toBe(1);
    expect(no.stdout).toContain('qtasks retry: not confirmed; nothing retried');
    expect((await producing.counts())[0]?.error).toBe(2);

    writeFileSync(flag, '');
    const yes = await onTerminal('y');
    expect(yes.code).toBe(0);
    expect(yes.stdout).toContain('[##############################] 100% retried 2/2');
    expect(yes.stdout).toContain('retried 2 task(s)');
    await waitUntil(async () => (await producing.counts())[0]?.success === 2, 'both retried tasks succeed', 20_000);
  });

  it('stats --watch prints a fresh table every interval until interrupted', async () => {
    fresh();
    const producing = await producer();
    await producing.addTask('ok', [1], { delay: 3_600_000 });
    const watch = tail(['stats', '-A', TARGET, '--watch', '1']);
    await waitUntil(() => (watch.out().match(/^QUEUE/gm) ?? []).length >= 2, 'two snapshots', 20_000);
    expect(watch.out()).toMatch(/default\s+0\s+1\s+/);
    watch.child.kill('SIGINT');
    expect(await watch.exited).toBe(0);
  });

  it('stats shows counts per queue and status; pause stops the worker in another process, resume lets it go on', async () => {
    fresh();
    const producing = await producer();
    await worker();
    const paused = await cli(['pause', '-A', TARGET]);
    expect(paused.stdout).toBe('paused every queue\n');
    const waiting = await producing.addTask('ok', [7]);
    const stats = await cli(['stats', '-A', TARGET]);
    expect(stats.code).toBe(0);
    expect(stats.stdout).toMatch(/^QUEUE\s+WAITING\s+DELAYED\s+RUNNING\s+RETRYING\s+DEAD\s+SUCCESS\s+ERROR\s+CANCEL\s+PAUSED\n/);
    expect(stats.stdout).toMatch(/default\s+1\s+0\s+0\s+0\s+0\s+0\s+0\s+0\s+yes/);
    // Still waiting a while later: the worker in the other process honours the pause.
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await producing.get(waiting.id))?.status).toBe('new');

    const resumed = await cli(['resume', '-A', TARGET, '--json']);
    expect(JSON.parse(resumed.stdout)).toEqual({ queue: '*', resumed: true });
    expect((await producing.wait(waiting.id, 20_000)).returning).toBe(7);
    const counts = JSON.parse((await cli(['stats', '-A', TARGET, '--json'])).stdout) as QueueCounts[];
    expect(counts).toEqual([expect.objectContaining({ queue: 'default', waiting: 0, success: 1, paused: false })]);
  });

  it('cancel stops a running task; promote runs a delayed one; remove deletes one; purge asks, then drops what waits', async () => {
    fresh();
    const producing = await producer();
    await worker();
    const slow = await producing.addTask('slow', []);
    await waitUntil(async () => (await producing.get(slow.id))?.status === 'process', 'the slow task runs', 20_000);
    const cancelled = await cli(['cancel', '-A', TARGET, slow.id, '--reason', 'operator said so']);
    expect(cancelled.stdout).toBe(`${slow.id}: cancel requested (it was running: its worker aborts it)\n`);
    const final = await producing.wait(slow.id, 20_000);
    expect(final).toMatchObject({ status: 'cancel', reason: 'operator said so' });
    const late = await cli(['cancel', '-A', TARGET, slow.id]);
    expect(late.code).toBe(1);
    expect(late.stderr).toBe(`qtasks cancel: task ${slow.id} has already finished\n`);

    const delayed = await producing.addTask('ok', [1], { delay: 3_600_000 });
    expect((await cli(['promote', '-A', TARGET, delayed.id])).stdout).toBe(`promoted ${delayed.id}\n`);
    expect((await producing.wait(delayed.id, 20_000)).status).toBe('success');
    const twice = await cli(['promote', '-A', TARGET, delayed.id]);
    expect(twice.code).toBe(1);

    const doomed = await producing.addTask('ok', [2], { delay: 3_600_000 });
    expect((await cli(['remove', '-A', TARGET, doomed.id])).stdout).toBe(`removed ${doomed.id}\n`);
    expect(await producing.get(doomed.id)).toBeUndefined();
    const gone = await cli(['show', '-A', TARGET, doomed.id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe(`qtasks show: no task ${doomed.id} (unknown, or its record expired)\n`);

    for (let i = 0; i < 2; i++) await producing.addTask('ok', [i], { delay: 3_600_000 });
    const refused = await cli(['purge', '-A', TARGET, 'default']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('drop the 2 waiting and delayed task(s) of queue default: refusing without confirmation');
    const purged = await cli(['purge', '-A', TARGET, 'default', '--yes']);
    expect(purged.stdout).toBe('dropped 2 task(s) from queue default\n');
    expect((await producing.counts('default'))[0]).toMatchObject({ waiting: 0, delayed: 0 });
  });

  it('clean deletes old finished records after confirmation; events tails the live stream', async () => {
    fresh();
    const producing = await producer();
    await worker();
    const events = tail(['events', '-A', TARGET, '--json']);
    await waitUntil(() => events.err().includes('listening'), 'events is listening', 30_000);
    const ok = await producing.addTask('ok', [5], { timeout: 20_000 });
    await waitUntil(() => events.out().includes('"completed"'), 'the completed event is printed', 20_000);
    const seen = events.out().trim().split('\n').map((l) => JSON.parse(l) as { type: string; id: string });
    expect(seen.filter((e) => e.id === ok.id).map((e) => e.type)).toEqual(expect.arrayContaining(['added', 'active', 'completed']));
    events.child.kill('SIGINT');
    expect(await events.exited).toBe(0);

    const refused = await cli(['clean', '-A', TARGET, '--status', 'success', '--older-than', '1ms']);
    expect(refused.code).toBe(2);
    const young = await cli(['clean', '-A', TARGET, '--status', 'success', '--older-than', '1h', '--yes']);
    expect(young.stdout).toBe('deleted 0 record(s)\n');
    const cleaned = await cli(['clean', '-A', TARGET, '--status', 'success', '--older-than', '1ms', '--yes', '--json']);
    expect(JSON.parse(cleaned.stdout)).toEqual({ deleted: 1 });
    expect(await producing.get(ok.id)).toBeUndefined();
  });

  it('schedules lists what runs when, in words, with next and last fire; unschedule asks, then removes one', async () => {
    fresh();
    const defining = new QueueTasks({ name, plugins: [redis({ url: REDIS_URL })], config: { logLevel: 'silent' }, globals: false });
    apps.push(defining);
    defining.task('ok', (n: number) => n);
    await defining.start({ worker: false });
    await defining.schedule('nightly', { cron: '0 3 * * *', tz: 'UTC' }, 'ok', [1]);
    await defining.schedule('tick', { every: 1_000 }, 'ok', [2]);
    // A worker process fires `tick`: its last fire time is then stored.
    await worker();
    await waitUntil(async () => (await defining.schedules()).find((s) => s.id === 'tick')?.last !== undefined, 'tick fired once', 20_000);

    const now = Date.now();
    const day = 86_400_000;
    const nightly = Math.floor(now / day) * day + 3 * 3_600_000;
    const nextNightly = nightly > now ? nightly : nightly + day;
    const json = await cli(['schedules', '-A', TARGET, '--json']);
    expect(json.stderr).toBe('');
    const listed = JSON.parse(json.stdout) as { id: string; task: string; args: unknown[]; next?: number; last?: number; description: string }[];
    expect(listed.map((s) => s.id)).toEqual(['nightly', 'tick']);
    expect(listed[0]).toMatchObject({ id: 'nightly', task: 'ok', args: [1], spec: { cron: '0 3 * * *', tz: 'UTC' }, next: nextNightly, description: 'every day at 03:00 (UTC)' });
    expect(listed[0]!.last).toBeUndefined();
    expect(listed[1]).toMatchObject({ id: 'tick', task: 'ok', args: [2], spec: { every: 1_000 }, description: 'every 1 second' });
    expect(listed[1]!.last).toEqual(expect.any(Number));

    const shown = await cli(['schedules', '-A', TARGET]);
    expect(shown.code).toBe(0);
    const lines = shown.stdout.split('\n');
    expect(lines[0]).toMatch(/^ID\s+TASK\s+ARGS\s+WHEN\s+NEXT\s+LAST$/);
    expect(lines[1]).toMatch(new RegExp(`^nightly\\s+ok\\s+\\[1\\]\\s+every day at 03:00 \\(UTC\\)\\s+${new Date(nextNightly).toISOString().replace(/\./g, '\\.')} \\(in \\d+[smh]\\)\\s+-$`));
    expect(lines[2]).toMatch(/^tick\s+ok\s+\[2\]\s+every 1 second\s+\S+Z \(in \d+m?s\)\s+\S+Z \(\d+m?s ago\)$/);

    const refused = await cli(['unschedule', '-A', TARGET, 'nightly']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe('qtasks unschedule: remove schedule nightly (ok, every day at 03:00 (UTC)): refusing without confirmation in a non-interactive run; pass --yes\n');
    expect((await defining.schedules()).map((s) => s.id)).toContain('nightly');
    const removed = await cli(['unschedule', '-A', TARGET, 'nightly', '--yes']);
    expect(removed.stdout).toBe('removed schedule nightly\n');
    expect((await defining.schedules()).map((s) => s.id)).toEqual(['tick']);
    const unknown = await cli(['unschedule', '-A', TARGET, 'nightly', '--yes']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('qtasks unschedule: no schedule nightly\n');
    const none = await cli(['schedules', '-A', TARGET, '--json']);
    expect((JSON.parse(none.stdout) as { id: string }[]).map((s) => s.id)).toEqual(['tick']);
  }, 60_000);

  it('workers lists the worker process from its heartbeat', async () => {
    fresh();
    const w = await worker();
    const listed = await cli(['workers', '-A', TARGET, '--json']);
    expect(listed.stderr).toBe('');
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ pid: w.pid, queues: ['default'], concurrency: 10, running: 0 })]);
    const table = await cli(['workers', '-A', TARGET]);
    expect(table.stdout).toMatch(/^ID\s+HOST\s+PID\s+QUEUES\s+CONCURRENCY\s+RUNNING\s+STARTED\s+HEARTBEAT\n/);
    expect(table.stdout).toContain(` ${w.pid} `);
  });

  it('RabbitMQ with Redis storage: stats and tasks answer from the server queue and the storage indexes; pause, cancel, retry and promote reach a worker in another process', async () => {
    fresh();
    amqp = AMQP_URL;
    rabbitApps.push(name);
    // The test's own app declares what the command's and the worker's apps declare, so that cleanup finds it.
    const producing = new QueueTasks({ name, plugins: [rabbit.plugin(name), redis({ url: REDIS_URL, broker: false })], config: { logLevel: 'silent' }, globals: false });
    apps.push(producing);
    producing.task('ok', (n: number) => n);
    producing.task('slow', () => undefined);
    producing.task('fail', () => undefined);
    await producing.start({ worker: false });
    const queued = await producing.addTask('ok', [1]);
    const stats = await cli(['stats', '-A', TARGET, '--json']);
    expect(stats.stderr).toBe('');
    expect(stats.code).toBe(0);
    // waiting: the server queue's ready messages; the rest from the storage's indexes
    expect(JSON.parse(stats.stdout)).toEqual([expect.objectContaining({ queue: 'default', waiting: 1, delayed: 0, running: 0, success: 0, paused: false })]);
    const listed = await cli(['tasks', '-A', TARGET, '--status', 'new', '--json']);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as TaskRecord[]).map((r) => r.id)).toEqual([queued.id]);

    await worker();
    expect((await cli(['pause', '-A', TARGET])).stdout).toBe('paused every queue\n');
    const waiting = await producing.addTask('ok', [3]);
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await producing.get(waiting.id))?.status).toBe('new');
    expect((await cli(['resume', '-A', TARGET])).stdout).toBe('resumed every queue\n');
    expect((await producing.wait(waiting.id, 20_000)).returning).toBe(3);

    const slow = await producing.addTask('slow', []);
    await waitUntil(async () => (await producing.get(slow.id))?.status === 'process', 'the slow task runs', 20_000);
    const cancelled = await cli(['cancel', '-A', TARGET, slow.id]);
    expect(cancelled.stdout).toBe(`${slow.id}: cancel requested (it was running: its worker aborts it)\n`);
    expect((await producing.wait(slow.id, 20_000)).status).toBe('cancel');

    // retry and promote through the storage and the global config
    const failed = await producing.addTask('fail', ['rabbit'], { timeout: 20_000 });
    expect(failed.status).toBe('error');
    writeFileSync(flag, '');
    const retried = await cli(['retry', '-A', TARGET, '--status', 'error', '--yes']);
    expect(retried.stdout).toBe('retried 1 task(s)\n');
    expect(await producing.wait(failed.id, 20_000)).toMatchObject({ status: 'success', returning: 'fixed' });
    const delayed = await producing.addTask('ok', [9], { delay: 3_600_000 });
    expect((await cli(['promote', '-A', TARGET, delayed.id])).stdout).toBe(`promoted ${delayed.id}\n`);
    expect((await producing.wait(delayed.id, 20_000)).returning).toBe(9);
  });

  it.each([
    [['tasks', '-A', TARGET], 'required option "-s, --status <status>" not specified'],
    [['tasks', '-A', TARGET, '--status', 'lost'], 'argument "lost" is invalid'],
    [['retry', '-A', TARGET], 'give a task id or --status dead|error, not both'],
    [['retry', '-A', TARGET, 'some-id', '--queue', 'q'], '--queue, --name and --limit go with --status'],
    [['clean', '-A', TARGET, '--status', 'success', '--older-than', 'soon'], 'argument "soon" is invalid'],
    [['stats'], 'missing -A'],
    [['show', '-A', TARGET], 'missing required argument "id"'],
  ])('exits 2 with one line for a usage error: %j', async (args, message) => {
    fresh();
    const result = await cli(args);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it('--help per command and --version', async () => {
    const help = await cli(['retry', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--status <status>');
    expect(help.stdout).toContain('--yes');
    const version = await cli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
