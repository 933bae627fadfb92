/** The integration recipes of docs/integrations.md, each run for real. */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { QueueTasks, setAppMain } from '../../core/index.js';
import { createFetchExample } from '../../examples/fetch-handler.js';
import { sendWelcome } from '../../examples/shared-library.js';
import { createSignupApp, type Mailer } from '../../examples/signup.js';
import { createApp } from '../../examples/split-app.js';
import { startWeb } from '../../examples/split-web.js';
import { billingApp, searchApp } from '../../examples/worker-host.js';
import { runWorkers } from '../../host/index.js';
import { waitUntil } from '../contracts/helpers.js';
import { RabbitFixture } from '../plugins/rabbitmq-helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';

const root = resolve(import.meta.dirname, '..', '..');
const names: string[] = [];
let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  await deleteAppKeys(admin, names);
  admin.disconnect();
});
const unique = (prefix: string): string => {
  const name = `${prefix}-${randomUUID().slice(0, 8)}`;
  names.push(name);
  return name;
};

describe('recipe: a web app that only produces, plus a separate worker process', () => {
  it('the web process enqueues over HTTP; the task runs in the `qtasks run` process; the web process reads the result', async () => {
    const name = unique('split');
    const worker = spawn(process.execPath, [resolve(root, 'dist/bin/qtasks.js'), 'run', '-A', 'examples/split-app.ts:app'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SPLIT_APP_NAME: name, REDIS_URL, QTASKS_LOG_LEVEL: 'warn' },
    });
    let out = '';
    worker.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((done) => worker.on('exit', done));
    const { app, thumbnail } = createApp(name);
    const web = await startWeb(app, thumbnail, 0);
    try {
      await waitUntil(() => out.includes('qtasks: running'), 'worker running', 20_000);
      const posted = await fetch(`${web.url}/thumbnails`, { method: 'POST', body: JSON.stringify({ url: 'https://x/cat.png', width: 64 }) });
      expect(posted.status).toBe(202);
      const { id } = (await posted.json()) as { id: string };
      const done = await waitUntil(async () => {
        const res = (await (await fetch(`${web.url}/thumbnails/${id}`)).json()) as { status: string; result?: { pid: number } };
        return res.status === 'success' ? res : undefined;
      }, 'the task done');
      // It ran in the worker process, not in the web one.
      expect(done.result).toMatchObject({ url: 'https://x/cat.png', width: 64, pid: worker.pid });
      expect(app.tasks.has('thumbnail')).toBe(true);
    } finally {
      await web.close();
      worker.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  }, 60_000);
});

describe('recipe: one worker host serving several apps', () => {
  const rabbit = new RabbitFixture();
  afterAll(async () => {
    await rabbit.close();
  });

  it('runWorkers runs billing (Redis) and search (RabbitMQ) side by side until the signal', async () => {
    const billing = billingApp(unique('billing'));
    const searchName = unique('search');
    const search = searchApp(searchName, rabbit.plugin(searchName));
    const signals = new EventEmitter();
    let started = false;
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const running = runWorkers([billing, search], { signalSource: signals, signals: ['SIGTERM'], onStarted: () => (started = true) });
    try {
      await waitUntil(() => started, 'host started');
      expect((await billing.addTask('invoice', ['acme', 1999], { timeout: 10_000 })).returning).toEqual({ customer: 'acme', total: '19.99' });
      expect((await search.addTask('reindex', [['a', 'b', 'c']], { timeout: 10_000 })).returning).toBe(3);
      expect([billing.broker.name, search.broker.name]).toEqual(['redis', 'rabbitmq']);
    } finally {
      signals.emit('SIGTERM', 'SIGTERM');
      await running;
      vi.restoreAllMocks();
    }
    expect([billing.state, search.state]).toEqual(['stopped', 'stopped']);
    await rabbit.cleanup([searchName]);
  });
});

describe('recipe: a library that declares sharedTasks without owning an app', () => {
  it('the host’s app adopts the library’s task; the handle enqueues through appMain; an app may opt out', async () => {
    const host = new QueueTasks({ name: 'mailer-host', config: { logLevel: 'silent' } }); // globals on: appMain
    const isolated = new QueueTasks({ name: 'isolated', globals: false, sharedTasks: false, config: { logLevel: 'silent' } });
    try {
      await Promise.all([host.start(), isolated.start()]);
      expect(host.tasks.has('mailer.welcome')).toBe(true);
      expect(isolated.tasks.has('mailer.welcome')).toBe(false);
      const record = await sendWelcome.addTask(['ada@example.com', 'fr'], { timeout: 5_000 });
      expect(record.returning).toEqual({ to: 'ada@example.com', subject: 'Bienvenue' });
    } finally {
      await Promise.all([host.stop(), isolated.stop()]);
      setAppMain(undefined);
    }
  });
});

describe('recipe: tests that run tasks on the memory default', () => {
  it('no plugins, no server: the real handler runs in the test, retries included', async () => {
    const sent: string[] = [];
    const mailer: Mailer = { send: async (to) => void sent.push(to) };
    const { app, welcome } = createSignupApp(mailer);
    await app.start();
    try {
      expect(await welcome.run(['ada@example.com'], { timeout: 5_000 })).toEqual({ sent: 'ada@example.com' });
      const bad = await welcome.addTask(['nobody'], { timeout: 10_000 });
      expect(bad).toMatchObject({ status: 'error', attempts: 2 }); // retry: 1, so two attempts
      expect(sent).toEqual(['ada@example.com']);
      expect(app.broker.name).toBe('memory');
    } finally {
      await app.stop();
    }
  });
});

describe('embedding: a fetch-style handler (Hono, Bun, Deno, edge)', () => {
  it('answers a Request with the task result, 400 for a bad body', async () => {
    const { queue, handler } = createFetchExample();
    await queue.start();
    try {
      const ok = await handler(new Request('http://local/add', { method: 'POST', body: JSON.stringify({ a: 20, b: 22 }) }));
      expect(await ok.json()).toMatchObject({ status: 'success', result: 42 });
      const bad = await handler(new Request('http://local/add', { method: 'POST', body: '{"a":1}' }));
      expect(bad.status).toBe(400);
    } finally {
      await queue.stop();
    }
  });
});
