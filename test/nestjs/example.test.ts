/**
 * examples/nestjs as a real process (run through tsx, as its header says): an HTTP request runs a
 * task on Redis, and SIGTERM (Nest's shutdown hooks) drains a running task before the exit.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { QueueTasks } from '../../core/index.js';
import { redis } from '../../plugins/redis/index.js';
import { waitUntil } from '../contracts/helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';

const root = resolve(import.meta.dirname, '..', '..');
const appName = `nest-example-${randomUUID().slice(0, 8)}`;
let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  await deleteAppKeys(admin, [appName]);
  admin.disconnect();
});

it('serves a request through the Nest app, and drains a running task on SIGTERM', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/nestjs/main.ts'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORT: '0', QTASKS_APP: appName, REDIS_URL, NO_COLOR: '1', TSX_TSCONFIG_PATH: 'examples/nestjs/tsconfig.json' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.on('exit', (code, signal) => done({ code, signal })));
  const probe = new QueueTasks({ name: appName, globals: false, config: { logLevel: 'silent' }, plugins: [redis({ url: REDIS_URL })] });
  try {
    const url = (await waitUntil(() => /listening (\S+)/.exec(stdout)?.[1], `the example listening (stderr: ${stderr})`, 40_000)).replace('[::1]', '127.0.0.1');
    const res = await fetch(`${url}/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Ada' }) });
    expect(await res.json()).toMatchObject({ status: 'success', message: 'Welcome, Ada!' });
    // Nest's logger carries qtasks' lines, with the app in the context.
    expect(stdout).toContain(`[qtasks:${appName}:QueueTasks] app started`);

    await probe.start({ worker: false });
    const { id } = await probe.addTask('welcome', ['Grace', 1_500]);
    await waitUntil(async () => (await probe.get(id))?.status === 'process', 'task running', 10_000, 20);
    child.kill('SIGTERM');
    const exit = await exited;
    // Nest re-raises the signal once closed; the task finished first.
    expect(exit.signal === 'SIGTERM' || exit.code === 0).toBe(true);
    expect(await probe.get(id)).toMatchObject({ status: 'success', returning: 'Welcome, Grace!' });
  } finally {
    child.kill('SIGKILL');
    await probe.stop();
  }
}, 90_000);
