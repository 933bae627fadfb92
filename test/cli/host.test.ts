/**
 * The worker host as a real child process: `qtasks run` with two apps, one on Redis and one on
 * RabbitMQ (with Redis records), drained by SIGTERM; and hosts whose apps cannot load or start.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/index.js';
import { redis } from '../../plugins/redis/index.js';
import { RabbitFixture } from '../plugins/rabbitmq-helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';

const root = resolve(import.meta.dirname, '..', '..');
const bin = resolve(root, 'dist', 'bin', 'qtasks.js');
const fixture = 'test/fixtures/host-apps.ts';

interface Host {
  pid: number;
  lines: string[];
  stderr: () => string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** Resolves when `count` stdout lines match. */
  seen(match: (line: string) => boolean, count?: number): Promise<string[]>;
}

function host(args: string[], id: string): Host {
  const child = spawn(process.execPath, [bin, 'run', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, QT_HOST_ID: id } });
  const lines: string[] = [];
  let stderr = '';
  const waiters: (() => void)[] = [];
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts.filter((l) => l !== ''));
    for (const w of [...waiters]) w();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  return {
    pid: child.pid!,
    lines,
    stderr: () => stderr,
    exited,
    seen: (match, count = 1) =>
      new Promise((done, fail) => {
        const check = (): void => {
          const hits = lines.filter(match);
          if (hits.length >= count) done(hits);
        };
        waiters.push(check);
        check();
        void exited.then(() => setTimeout(() => fail(new Error(`host exited before ${count} matching line(s); stdout: ${lines.join(' | ')}; stderr: ${stderr}`)), 50));
      }),
  };
}

const rabbit = new RabbitFixture();
let admin: Redis;
const names: string[] = [];
const namesOf = (id: string): { redis: string; rabbit: string; broken: string } => ({ redis: `host-redis-${id}`, rabbit: `host-rabbit-${id}`, broken: `host-broken-${id}` });

beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  await deleteAppKeys(admin, names);
  await rabbit.cleanup(names);
  await rabbit.close();
  admin.disconnect();
});

/** Producers in this process for the hosted apps (same names, same brokers, no worker). */
async function producers(id: string): Promise<{ redis: QueueTasks; rabbit: QueueTasks; stop: () => Promise<void> }> {
  const n = namesOf(id);
  names.push(n.redis, n.rabbit, n.broken);
  const r = new QueueTasks({ name: n.redis, globals: false, config: { logLevel: 'silent' }, plugins: [redis({ url: REDIS_URL })] });
  const q = new QueueTasks({ name: n.rabbit, globals: false, config: { logLevel: 'silent' }, plugins: [rabbit.plugin(n.rabbit), redis({ url: REDIS_URL, broker: false })] });
  await Promise.all([r.start({ worker: false }), q.start({ worker: false })]);
  return { redis: r, rabbit: q, stop: async () => void (await Promise.all([r.stop(), q.stop()])) };
}

describe('qtasks run with several apps (real child process)', () => {
  it('prints its pid, runs a Redis app and a RabbitMQ app, and drains both on SIGTERM: nothing lost, exit 0', async () => {
    const id = randomUUID().slice(0, 8);
    const n = namesOf(id);
    const p = await producers(id);
    try {
      const h = host(['-A', `${fixture}:redisApp`, '-A', `${fixture}:rabbitApp`], id);
      const [pidLine] = await h.seen((l) => l.startsWith('qtasks: pid '));
      expect(pidLine).toBe(`qtasks: pid ${h.pid}`);
      await h.seen((l) => l.startsWith('qtasks: running '));

      // Three tasks per app (each app's concurrency): all running when the signal comes.
      const ids = [
        ...(await Promise.all([1, 2, 3].map(() => p.redis.addTask('work', [1_500])))).map((r) => r.id),
        ...(await Promise.all([1, 2, 3].map(() => p.rabbit.addTask('work', [1_500])))).map((r) => r.id),
      ];
      await h.seen((l) => l.startsWith(`start ${n.redis} `), 3);
      await h.seen((l) => l.startsWith(`start ${n.rabbit} `), 3);
      process.kill(h.pid, 'SIGTERM');

      expect(await h.exited).toBe(0);
      expect(h.stderr()).toBe('');
      expect(h.lines).toContain('qtasks: SIGTERM: draining');
      expect(h.lines).toContain(`stopped ${n.redis}`);
      expect(h.lines).toContain(`stopped ${n.rabbit}`);
      // Every task finished in the host before it exited, each in its own app.
      const records = await Promise.all(ids.map((taskId, i) => (i < 3 ? p.redis : p.rabbit).get(taskId)));
      expect(records.map((r) => r?.status)).toEqual(Array(6).fill('success'));
      expect(records.map((r) => r?.returning)).toEqual([...Array(3).fill(`${n.redis}:1500`), ...Array(3).fill(`${n.rabbit}:1500`)]);
      // Each task ran once: one start line per id.
      expect(ids.every((taskId) => h.lines.filter((l) => l.endsWith(` ${taskId}`)).length === 1)).toBe(true);
    } finally {
      await p.stop();
    }
  }, 60_000);

  it('an app that fails to start is named, the other apps are stopped, exit 1', async () => {
    const id = randomUUID().slice(0, 8);
    const n = namesOf(id);
    names.push(n.redis, n.broken);
    const h = host(['-A', `${fixture}:redisApp`, '-A', `${fixture}:brokenApp`], id);
    expect(await h.exited).toBe(1);
    expect(h.stderr().trim().split('\n')).toEqual([`qtasks: app failed to start: ${fixture}:brokenApp: hook lifecycle.start failed in plugin "needs-secret": PAYMENT_API_KEY is not set`]);
    expect(h.lines.some((l) => l.startsWith('qtasks: running'))).toBe(false);
    // The Redis app had started its worker; the host stopped it before exiting.
    expect(h.lines).toContain(`stopped ${n.redis}`);
  });

  it('a module that throws is reported by file; no app of the host starts, exit 2', async () => {
    const id = randomUUID().slice(0, 8);
    const n = namesOf(id);
    names.push(n.redis);
    const h = host(['-A', `${fixture}:redisApp`, '-A', 'test/fixtures/host-throws.ts'], id);
    expect(await h.exited).toBe(2);
    expect(h.stderr().trim().split('\n')).toEqual(['qtasks: cannot load test/fixtures/host-throws.ts: config/tenants.json is missing']);
    expect(h.lines.some((l) => l.startsWith('qtasks: running'))).toBe(false);
    // No worker of the Redis app ever beat.
    const probe = new QueueTasks({ name: n.redis, globals: false, config: { logLevel: 'silent' }, plugins: [redis({ url: REDIS_URL })] });
    await probe.start({ worker: false });
    try {
      expect(await probe.ping()).toBe(false);
    } finally {
      await probe.stop();
    }
  });
});
