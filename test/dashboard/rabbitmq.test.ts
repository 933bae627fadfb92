/**
 * The dashboard over RabbitMQ with Redis storage, over plain HTTP: the overview's counts come from
 * the server queue and the storage indexes, and its actions (pause, retry, cancel) reach a worker
 * app of the same name (the browser flows themselves are in browser.test.ts, on Redis).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { dashboard, type DashboardHandler } from '../../dashboard/index.js';
import { redis } from '../../plugins/redis/index.js';
import { sleep, uniqueName, waitUntil } from '../contracts/helpers.js';
import { RabbitFixture } from '../plugins/rabbitmq-helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';

describe('dashboard on RabbitMQ with Redis storage', () => {
  const name = uniqueName('dash-rabbit');
  const fx = new RabbitFixture();
  const make = (): QueueTasks => new QueueTasks({ name, plugins: [fx.plugin(name), redis({ url: REDIS_URL, broker: false })], config: { logLevel: 'silent', heartbeatMs: 500, stopTimeoutMs: 2_000 }, globals: false });
  const worker = make();
  const ops = make();
  let fixed = false;
  let handler: DashboardHandler;
  let server: Server;
  let url = '';

  worker.task('flaky', (what: string) => {
    if (!fixed) throw new Error(`broken ${what}`);
    return `fixed ${what}`;
  });
  worker.task({ name: 'slow', echo: true }, async (ctx) => {
    await new Promise<void>((done) => ctx.signal.addEventListener('abort', () => done()));
  });
  worker.task('quick', (n: number) => n * 2);
  for (const task of ['flaky', 'slow', 'quick']) ops.task(task, () => undefined);

  const page = async (path: string): Promise<string> => (await fetch(`${url}${path}`)).text();
  const cell = (html: string, key: string): string | undefined => new RegExp(`data-q="default" data-k="${key}"[^>]*>([^<]*)<`).exec(html)?.[1];
  async function act(action: string, form: Record<string, string>): Promise<Response> {
    const token = /name="_csrf" value="([^"]+)"/.exec(await page('/'))![1]!;
    return fetch(`${url}/actions/${action}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ ...form, _csrf: token }).toString() });
  }

  beforeAll(async () => {
    await worker.start();
    await ops.start({ worker: false });
    handler = dashboard(ops, { auth: false });
    server = createServer(handler);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);

  afterAll(async () => {
    handler?.close();
    server?.closeAllConnections();
    await new Promise<void>((done) => (server === undefined ? done() : server.close(() => done())));
    await worker.stop();
    await ops.stop();
    await fx.cleanup([name]);
    await fx.close();
    const admin = await adminClient();
    await deleteAppKeys(admin, [name]);
    admin.disconnect();
  }, 60_000);

  it('pause from the overview stops the worker: the task waits in the server queue, counted there, until resume', async () => {
    expect((await act('pause', { queue: 'default' })).headers.get('location')).toBe('/?ok=paused');
    const record = await ops.addTask('quick', [4]);
    await waitUntil(async () => cell(await page('/'), 'waiting') === '1', 'the overview counts the waiting task');
    expect(cell(await page('/'), 'paused')).toBe('paused');
    await sleep(1_500);
    expect((await ops.get(record.id))?.status).toBe('new');
    expect((await act('resume', { queue: 'default' })).headers.get('location')).toBe('/?ok=resumed');
    expect((await ops.wait(record.id, 15_000)).returning).toBe(8);
    await waitUntil(async () => cell(await page('/'), 'success') === '1', 'the overview counts the success');
  });

  it('lists a failed task from the storage index, shows its error, and retry makes it succeed', async () => {
    const record = await ops.addTask('flaky', ['rabbit-7']);
    await waitUntil(async () => (await ops.get(record.id))?.status === 'error', 'the task fails');
    expect(await page('/tasks?status=error')).toContain(`data-id="${record.id}"`);
    expect(await page(`/tasks/${record.id}`)).toContain('broken rabbit-7');
    fixed = true;
    expect((await act('retry', { id: record.id })).headers.get('location')).toBe(`/tasks/${record.id}?ok=retried&n=1`);
    expect(await ops.wait(record.id, 15_000)).toMatchObject({ status: 'success', returning: 'fixed rabbit-7' });
    expect(await page(`/tasks/${record.id}`)).toContain('fixed rabbit-7');
  });

  it('cancel reaches the running task on the worker; the workers page lists the worker', async () => {
    const record = await ops.addTask('slow', []);
    await waitUntil(async () => (await ops.get(record.id))?.status === 'process', 'the task runs');
    expect(await page('/tasks?status=process')).toContain(`data-id="${record.id}"`);
    expect((await act('cancel', { id: record.id })).status).toBe(303);
    expect(await ops.wait(record.id, 15_000)).toMatchObject({ status: 'cancel', reason: 'cancelled from the dashboard' });
    expect(await page('/workers')).toContain(`:${process.pid}</td>`);
  });
});
