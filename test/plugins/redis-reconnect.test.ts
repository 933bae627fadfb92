/**
 * Connections that drop under the plugin: its own connections killed with CLIENT KILL on the
 * shared server (only those, found by name), and a private redis-server restarted mid-run.
 * Processing resumes by itself and nothing the server still holds is lost. Also: an idle worker
 * sends only a handful of commands, and one claim per wake-up (counted with MONITOR on the private server).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import type { TaskRecord } from '../../core/record.js';
import { redis } from '../../plugins/redis/index.js';
import { sleep, uniqueName, waitUntil } from '../contracts/helpers.js';
import { countingEcho } from '../support/apps.js';
import { HoldingProxy } from '../support/holding-proxy.js';
import { sparePort } from '../support/ports.js';
import { REDIS_URL, adminClient, appConnections, deleteAppKeys, waitForRedis } from './redis-helpers.js';

function makeApp(name: string, url: string, config: Record<string, unknown> = {}, apps: QueueTasks[]): QueueTasks {
  // A long blocking timeout: recovery must come from reconnect handling, not from the timeout.
  const a = new QueueTasks({
    name,
    plugins: [redis({ url, blockTimeoutMs: 60_000 })],
    config: { logLevel: 'silent', leaseMs: 2_000, ...config },
    globals: false,
    sharedTasks: false,
  });
  apps.push(a);
  return a;
}

describe('redis plugin: CLIENT KILL of its own connections', () => {
  let admin: Redis;
  const apps: QueueTasks[] = [];
  const names: string[] = [];
  beforeAll(async () => {
    admin = await adminClient();
  });
  afterAll(async () => {
    await Promise.allSettled(apps.map((a) => a.stop()));
    await deleteAppKeys(admin, names);
    await admin?.quit();
  });

  async function killAll(name: string): Promise<number> {
    const conns = await appConnections(admin, name);
    for (const c of conns) await admin.client('KILL', 'ID', c.id);
    return conns.length;
  }

  it('resumes processing after its connections are killed mid-run and while idle; nothing is lost', async () => {
    const name = uniqueName('kill');
    names.push(name);
    const worker = makeApp(name, REDIS_URL, { concurrency: 5 }, apps);
    const echo = countingEcho(worker, 20);
    await worker.start();
    const producer = makeApp(name, REDIS_URL, {}, apps);
    await producer.start({ worker: false });

    const first = await Promise.all(Array.from({ length: 60 }, (_, i) => producer.addTask('t', [i])));
    await waitUntil(() => echo.runs >= 10, 'some tasks processed');
    expect(await killAll(name)).toBeGreaterThanOrEqual(3); // cmd and block of the worker, cmd of the producer
    await waitUntil(() => echo.runs >= 30, 'processing after the first kill');
    await killAll(name);
    const done: TaskRecord[] = await Promise.all(first.map((r) => producer.wait(r.id, 20_000)));
    expect(done.every((r, i) => r.status === 'success' && r.returning === i)).toBe(true);

    // Killed while idle (blocked on its wake-up marker): new work still gets picked up. Several
    // rounds, since the reconnect's claim and the producer's marker race differently each time
    // (the race that once lost a wake-up has its own deterministic test below).
    for (let round = 0; round < 3; round++) {
      await killAll(name);
      await waitUntil(async () => (await appConnections(admin, name)).some((c) => c.name.endsWith(':block')), 'block connection back');
      const later = await Promise.all(Array.from({ length: 10 }, (_, i) => producer.addTask('t', [100 + i], { timeout: 15_000 })));
      expect(later.every((r, i) => r.status === 'success' && r.returning === 100 + i)).toBe(true);
    }
    expect(await admin.zcard(`qtasks:{${name}}:leases`)).toBe(0);
    expect(await admin.zcard(`qtasks:{${name}}:q:default`)).toBe(0);
  });

  it('does not lose a wake-up that arrives while a short claim is still in flight', async () => {
    // The race, made deterministic: a claim runs on the server before a publish, its reply is
    // held back, and the publish's marker wakes the worker meanwhile. The late "nothing to claim"
    // must not cancel that wake-up, or the worker blocks on a marker it already took.
    const proxy = await HoldingProxy.start(Number(new URL(REDIS_URL).port || 6379));
    let worker: QueueTasks | undefined;
    try {
      const name = uniqueName('race');
      names.push(name);
      worker = makeApp(name, `redis://127.0.0.1:${proxy.port}`, { heartbeatMs: 60_000 }, apps);
      worker.task('t', (n: number) => n);
      await worker.start();
      await sleep(300); // idle: blocked on its queue's marker
      proxy.hold(':cmd');
      // On reconnect the worker claims (a step whose reply is held) and sends its blocked read again.
      const block = (await appConnections(admin, name)).find((c) => c.name.endsWith(':block'));
      await admin.client('KILL', 'ID', block!.id);
      await waitUntil(() => proxy.heldBytes > 0, 'the claim to have run, its reply held');
      const producer = makeApp(name, REDIS_URL, {}, apps);
      await producer.start({ worker: false });
      const recs = await Promise.all([0, 1, 2].map((i) => producer.addTask('t', [i])));
      await waitUntil(async () => (await admin.zcard(`qtasks:{${name}}:w:default`)) === 0, 'the marker to be taken by the blocked read');
      proxy.release();
      const done = await Promise.all(recs.map((r) => producer.wait(r.id, 10_000)));
      expect(done.map((r) => r.returning)).toEqual([0, 1, 2]);
    } finally {
      // Stopped while its proxy still forwards: a stop through a closed proxy waits out each of
      // its commands' timeouts (it ran past the 30 s hook timeout once, in a full run under load).
      proxy.release();
      await worker?.stop();
      await proxy.close();
    }
  });
});

describe('redis plugin: an enqueue whose reply is lost', () => {
  // The connection drops after the server ran the enqueue script; ioredis reconnects and sends
  // the script again. The ids are the same, so the second run must enqueue none of them again.
  let admin: Redis;
  let proxy: HoldingProxy;
  const apps: QueueTasks[] = [];
  const names: string[] = [];
  beforeAll(async () => {
    admin = await adminClient();
    proxy = await HoldingProxy.start(Number(new URL(REDIS_URL).port || 6379));
  });
  afterAll(async () => {
    await Promise.allSettled(apps.map((a) => a.stop()));
    await proxy?.close();
    await deleteAppKeys(admin, names);
    await admin?.quit();
  });

  function counting(app: QueueTasks): number[] {
    const runs: number[] = [];
    app.task('t', (n: number) => {
      runs[n] = (runs[n] ?? 0) + 1;
      return n;
    });
    return runs;
  }

  async function drained(name: string): Promise<void> {
    await waitUntil(async () => (await admin.zcard(`qtasks:{${name}}:q:default`)) + (await admin.zcard(`qtasks:{${name}}:leases`)) === 0, 'queue and leases empty');
    await sleep(300); // a duplicate claimed just now would be running
  }

  it('runs every task of the batch once when the script is resent while its tasks wait', async () => {
    const name = uniqueName('resend');
    names.push(name);
    const producer = makeApp(name, `redis://127.0.0.1:${proxy.port}`, {}, apps);
    await producer.start({ worker: false });
    proxy.hold(`qtasks:${name}:cmd`);
    const sent = Promise.all(Array.from({ length: 20 }, (_, i) => producer.addTask('t', [i])));
    await waitUntil(() => proxy.heldBytes > 0, 'the enqueue to have run, its reply held');
    proxy.drop();
    const recs = await sent; // resent on the new connection, answered there
    const worker = makeApp(name, REDIS_URL, {}, apps);
    const runs = counting(worker);
    await worker.start();
    const done = await Promise.all(recs.map((r) => worker.wait(r.id, 10_000)));
    expect(done.every((r, i) => r.status === 'success' && r.returning === i)).toBe(true);
    await drained(name);
    expect(runs).toEqual(Array.from({ length: 20 }, () => 1));
  });

  it('does not enqueue again tasks that already finished when the script is resent', async () => {
    const name = uniqueName('resend');
    names.push(name);
    const worker = makeApp(name, REDIS_URL, { concurrency: 5 }, apps);
    const runs = counting(worker);
    await worker.start();
    const producer = makeApp(name, `redis://127.0.0.1:${proxy.port}`, {}, apps);
    await producer.start({ worker: false });
    proxy.hold(`qtasks:${name}:cmd`);
    const sent = Promise.all(Array.from({ length: 20 }, (_, i) => producer.addTask('t', [i])));
    await waitUntil(() => runs.reduce((a, b) => a + b, 0) >= 20, 'the batch to have run');
    await drained(name);
    proxy.drop();
    await sent;
    await drained(name);
    expect(runs).toEqual(Array.from({ length: 20 }, () => 1));
  });
});

describe('redis plugin: a private redis-server restarted mid-run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qtasks-restart-'));
  let port = 0;
  let server: ChildProcess | undefined;
  const apps: QueueTasks[] = [];

  async function startServer(): Promise<void> {
    // AOF with fsync on every write: what was acknowledged survives the restart.
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], { stdio: 'ignore' });
    await waitForRedis(port);
  }

  async function stopServer(): Promise<void> {
    const s = server;
    if (s === undefined || s.exitCode !== null) return;
    const exited = new Promise((r) => s.once('exit', r));
    s.kill('SIGTERM'); // redis-server shuts down cleanly on SIGTERM (AOF flushed)
    await exited;
  }

  beforeAll(async () => {
    port = await sparePort();
    await startServer();
  });
  afterAll(async () => {
    await Promise.allSettled(apps.map((a) => a.stop()));
    server?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps going after the server restarts: every task ends in success', async () => {
    const url = `redis://127.0.0.1:${port}`;
    const name = uniqueName('restart');
    const worker = makeApp(name, url, { concurrency: 4 }, apps);
    const echo = countingEcho(worker, 30);
    await worker.start();
    const producer = makeApp(name, url, {}, apps);
    await producer.start({ worker: false });
    const recs = await Promise.all(Array.from({ length: 40 }, (_, i) => producer.addTask('t', [i])));
    await waitUntil(() => echo.runs >= 8, 'some tasks processed');
    await stopServer();
    await sleep(300);
    await startServer();
    const done = await Promise.all(recs.map((r) => producer.wait(r.id, 30_000)));
    expect(done.every((r, i) => r.status === 'success' && r.returning === i)).toBe(true);
    const after = await producer.addTask('t', [99], { timeout: 15_000 });
    expect(after.returning).toBe(99);
  });

  it('an idle worker sends only a handful of commands per second', async () => {
    const url = `redis://127.0.0.1:${port}`;
    const name = uniqueName('idle');
    const worker = makeApp(name, url, { heartbeatMs: 1_000 }, apps);
    worker.task('t', () => 1);
    await worker.start();
    await sleep(500);
    const admin = new Redis(url);
    const list = String(await admin.client('LIST'));
    const addrs = new Set(
      list
        .split('\n')
        .filter((l) => / name=qtasks:/.test(l) && l.includes(`name=qtasks:${name}:`))
        .map((l) => /addr=(\S+)/.exec(l)?.[1]),
    );
    expect(addrs.size).toBeGreaterThanOrEqual(2);
    const monitor = await admin.monitor();
    let commands = 0;
    let steps = 0;
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (!addrs.has(source)) return;
      commands++;
      // Steps are the scripts keyed on the app's leases (heartbeats are keyed on its workers).
      if (String(args[0]).toLowerCase() === 'evalsha' && String(args[3]).endsWith(':leases')) steps++;
    });
    await sleep(3_000);
    // 3 s idle: heartbeats (1/s) and maybe one blocking read; certainly not a polling loop.
    expect(commands).toBeGreaterThan(0);
    expect(commands).toBeLessThanOrEqual(12);
    // Woken for one task at a time, the worker sends one step to claim it and one to settle it
    // (a second claim in flight would find nothing).
    const producer = makeApp(name, url, {}, apps);
    await producer.start({ worker: false });
    steps = 0;
    for (let i = 0; i < 10; i++) expect((await producer.addTask('t', [], { timeout: 10_000 })).returning).toBe(1);
    const used = steps;
    monitor.disconnect();
    admin.disconnect();
    expect(used).toBeGreaterThanOrEqual(10);
    expect(used).toBeLessThanOrEqual(20);
  });
});
