/**
 * qtasks/prometheus: real tasks run on memory, on Redis and on RabbitMQ with Redis storage, then the `/metrics` handler is scraped
 * over HTTP and the exposition read back: counters per outcome, histograms per attempt, the running
 * gauge while a task runs, and the queue gauges from the broker at scrape time.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks, type Plugin } from '../../core/index.js';
import { arrayBroker, ArrayStore } from '../../examples/custom-broker.js';
import { memory } from '../../plugins/memory/index.js';
import { redis } from '../../plugins/redis/index.js';
import { prometheus, type PrometheusPlugin } from '../../prometheus/index.js';
import { gate, uniqueName, waitUntil } from '../contracts/helpers.js';
import { RabbitFixture } from '../plugins/rabbitmq-helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample of `name` whose labels include `labels` (undefined if none). */
function value(samples: readonly Sample[], name: string, labels: Record<string, string>): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

const servers: Server[] = [];
async function serve(plugin: PrometheusPlugin): Promise<string> {
  const server = createServer((req, res) => (req.url === '/metrics' ? plugin.handler(req, res) : res.writeHead(404).end()));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
}

async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return parse(await res.text());
}

const apps: QueueTasks[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.stop();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** Refuses deliveries whose first argument is 'poison': they are dead-lettered without running. */
const guard: Plugin = { name: 'guard', apply: (a) => a.hooks.broker.receive.tap('guard', (d) => (d.message.args[0] === 'poison' ? 'poisoned' : undefined)) };

async function scenario(name: string, broker: Plugin | Plugin[]): Promise<void> {
  const plugin = prometheus({ registry: new Registry() });
  const app = new QueueTasks({ name, plugins: [...[broker].flat(), guard, plugin], config: { logLevel: 'silent', retryDelayMs: 5, retryMaxDelayMs: 5 }, globals: false });
  apps.push(app);
  let flakes = 0;
  const hold = gate();
  const ok = app.task('ok', (s: string) => s);
  const flaky = app.task({ name: 'flaky', retry: 1 }, () => {
    if (++flakes === 1) throw new Error('first attempt fails');
    return 'second works';
  });
  const bad = app.task('bad', () => {
    throw new Error('always');
  });
  const quit = app.task({ name: 'quit', echo: true }, (ctx) => ctx.cancel('not today'));
  const slow = app.task({ name: 'slow', queue: 'slow' }, async () => hold.promise);
  await app.start();
  const url = await serve(plugin);

  expect((await ok.addTask(['a'], { timeout: 10_000 })).status).toBe('success');
  expect((await ok.addTask(['poison'], { timeout: 10_000 })).status).toBe('dead');
  expect((await flaky.addTask([], { timeout: 10_000 })).status).toBe('success');
  expect((await bad.addTask([], { timeout: 10_000 })).status).toBe('error');
  expect((await quit.addTask([], { timeout: 10_000 })).status).toBe('cancel');
  await ok.addTask(['later'], { delay: 3_600_000 });
  const running = await slow.addTask([]);
  await waitUntil(async () => (await app.get(running.id))?.status === 'process', 'slow runs');
  await app.pause('slow');

  const s = await scrape(url);
  const t = (task: string, queue = 'default'): Record<string, string> => ({ app: name, queue, task });
  expect(value(s, 'qtasks_tasks_completed_total', t('ok'))).toBe(1);
  expect(value(s, 'qtasks_tasks_completed_total', t('flaky'))).toBe(1);
  expect(value(s, 'qtasks_tasks_retried_total', t('flaky'))).toBe(1);
  expect(value(s, 'qtasks_tasks_failed_total', t('bad'))).toBe(1);
  expect(value(s, 'qtasks_tasks_dead_total', t('ok'))).toBe(1);
  expect(value(s, 'qtasks_tasks_cancelled_total', t('quit'))).toBe(1);
  // One observation per attempt; the wait only for first attempts (the poisoned one never ran).
  expect(value(s, 'qtasks_task_run_duration_seconds_count', t('flaky'))).toBe(2);
  expect(value(s, 'qtasks_task_run_duration_seconds_count', t('ok'))).toBe(1);
  expect(value(s, 'qtasks_task_wait_duration_seconds_count', t('flaky'))).toBe(1);
  expect(value(s, 'qtasks_task_run_duration_seconds_bucket', { ...t('ok'), le: '+Inf' })).toBe(1);
  expect(value(s, 'qtasks_tasks_running', t('slow', 'slow'))).toBe(1);
  expect(value(s, 'qtasks_tasks_running', t('ok'))).toBe(0);
  // From the broker at scrape time.
  expect(value(s, 'qtasks_queue_tasks', { app: name, queue: 'default', status: 'delayed' })).toBe(1);
  expect(value(s, 'qtasks_queue_tasks', { app: name, queue: 'default', status: 'success' })).toBe(2);
  expect(value(s, 'qtasks_queue_tasks', { app: name, queue: 'default', status: 'dead' })).toBe(1);
  expect(value(s, 'qtasks_queue_tasks', { app: name, queue: 'slow', status: 'running' })).toBe(1);
  expect(value(s, 'qtasks_queue_paused', { app: name, queue: 'slow' })).toBe(1);
  expect(value(s, 'qtasks_queue_paused', { app: name, queue: 'default' })).toBe(0);

  hold.open();
  await app.wait(running.id, 10_000);
  const after = await scrape(url);
  expect(value(after, 'qtasks_tasks_running', t('slow', 'slow'))).toBe(0);
  expect(value(after, 'qtasks_tasks_completed_total', t('slow', 'slow'))).toBe(1);
}

describe('qtasks/prometheus', () => {
  it('on memory: counters, histograms, the running gauge and the queue gauges', async () => {
    await scenario(uniqueName('prom-mem'), memory());
  });

  describe('on Redis', () => {
    let admin: Redis;
    const names: string[] = [];
    beforeAll(async () => (admin = await adminClient()));
    afterAll(async () => {
      await deleteAppKeys(admin, names);
      admin.disconnect();
    });

    it('counters, histograms, the running gauge and the queue gauges', async () => {
      const name = uniqueName('prom-redis');
      names.push(name);
      await scenario(name, redis({ url: REDIS_URL }));
    });

    describe('RabbitMQ with Redis storage', () => {
      const fx = new RabbitFixture();
      const rabbitNames: string[] = [];
      afterAll(async () => {
        await fx.cleanup(rabbitNames);
        await fx.close();
      });

      it('the same counters and gauges: waiting from the server queue, the rest from the storage indexes', async () => {
        const name = uniqueName('prom-rabbit');
        names.push(name);
        rabbitNames.push(name);
        await scenario(name, [fx.plugin(name), redis({ url: REDIS_URL, broker: false })]);
      });
    });
  });

  it('a broker without counts leaves the queue gauges out and the scrape still answers; the handler refuses POST', async () => {
    const plugin = prometheus({ registry: new Registry() });
    const app = new QueueTasks({ name: uniqueName('prom-array'), plugins: [arrayBroker({ store: new ArrayStore() }), memory({ broker: false }), plugin], config: { logLevel: 'silent' }, globals: false });
    apps.push(app);
    const ok = app.task('ok', () => 1);
    await app.start();
    await ok.addTask([], { timeout: 10_000 });
    const url = await serve(plugin);
    const s = await scrape(url);
    expect(value(s, 'qtasks_tasks_completed_total', { task: 'ok' })).toBe(1);
    expect(s.filter((x) => x.name === 'qtasks_queue_tasks')).toEqual([]);
    expect((await fetch(url, { method: 'POST' })).status).toBe(405);
  });

  it('one plugin serves several apps (label app); a second plugin on the same registry is refused clearly', async () => {
    const registry = new Registry();
    const plugin = prometheus({ registry });
    const a = new QueueTasks({ name: uniqueName('prom-a'), plugins: [plugin], config: { logLevel: 'silent' }, globals: false });
    const b = new QueueTasks({ name: uniqueName('prom-b'), plugins: [plugin], config: { logLevel: 'silent' }, globals: false });
    apps.push(a, b);
    const ta = a.task('t', () => 1);
    const tb = b.task('t', () => 2);
    await a.start();
    await b.start();
    await ta.addTask([], { timeout: 10_000 });
    await tb.addTask([], { timeout: 10_000 });
    const s = parse(await plugin.metrics());
    expect(value(s, 'qtasks_tasks_completed_total', { app: a.name })).toBe(1);
    expect(value(s, 'qtasks_tasks_completed_total', { app: b.name })).toBe(1);
    expect(value(s, 'qtasks_queue_tasks', { app: b.name, status: 'success' })).toBe(1);
    expect(() => prometheus({ registry })).toThrow(/QTASKS_ERR_INVALID_OPTION|one prometheus\(\) plugin per registry/);
    expect(() => prometheus({ registry: new Registry(), runBuckets: [1, 0.5] })).toThrow('runBuckets must be increasing');
  });
});
