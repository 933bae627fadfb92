/**
 * What only a broker of our own can show: a real RabbitMQ restart mid-run (durable queues and
 * persistent messages survive; the plugin re-establishes connection, channels, topology and
 * consumers; a publish made during the outage waits and lands), and a real memory alarm (the
 * server blocks publishers; the publish waits and completes once the alarm clears). The node is
 * private (test/support/rabbitmq-node.ts): the shared server is never restarted or alarmed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { ErrorCodes, QTasksError } from '../../core/errors.js';
import type { Plugin } from '../../core/plugin.js';
import type { TaskRecord } from '../../core/record.js';
import { MemoryBackend, memory } from '../../plugins/memory/index.js';
import { pino } from '../../plugins/pino/index.js';
import { rabbitmq } from '../../plugins/rabbitmq/index.js';
import { sleep, uniqueName, waitUntil } from '../contracts/helpers.js';
import { countingEcho } from '../support/apps.js';
import { LogSink } from '../support/log-sink.js';
import { PrivateRabbit } from '../support/rabbitmq-node.js';

const SERVER_MAX_BYTES = 1024 * 1024;

describe('rabbitmq plugin against a private node: restart and resource alarm', () => {
  let node: PrivateRabbit;
  const apps: QueueTasks[] = [];

  beforeAll(async () => {
    // A lower max_message_size than the plugin assumes (128 MiB): the plugin must learn it.
    node = await PrivateRabbit.create(`max_message_size = ${SERVER_MAX_BYTES}\n`);
    await node.start();
  }, 90_000);

  afterAll(async () => {
    await Promise.allSettled(apps.map((a) => a.stop()));
    await node?.dispose();
  }, 60_000);

  function makeApp(name: string, backend: MemoryBackend, extra: Plugin[] = [], config: Record<string, unknown> = {}): QueueTasks {
    const plugins = [
      rabbitmq({ url: node.url, prefix: 'qtasks-test', reconnect: { initialDelayMs: 50, maxDelayMs: 500 }, publishTimeoutMs: 60_000 }),
      memory({ broker: false, backend }),
      ...extra,
    ];
    const app = new QueueTasks({ name, plugins, config: { logLevel: 'silent', ...config }, globals: false, sharedTasks: false });
    apps.push(app);
    return app;
  }

  it('resumes after the broker restarts: queued tasks, running tasks and a publish made during the outage all end in success', async () => {
    const name = uniqueName('rmq-restart');
    const backend = new MemoryBackend();
    const worker = makeApp(name, backend, [], { concurrency: 4 });
    const echo = countingEcho(worker, 20);
    await worker.start();
    const producer = makeApp(name, backend);
    await producer.start({ worker: false });

    const queued = await Promise.all(Array.from({ length: 40 }, (_, i) => producer.addTask('t', [i])));
    await waitUntil(() => echo.runs >= 8, 'some tasks processed');
    await node.stop();
    let landed = false;
    const duringOutage = producer.addTask('t', [100]).then((r) => ((landed = true), r));
    await sleep(300);
    expect(landed).toBe(false); // no broker: the publish waits, it does not vanish or resolve
    await node.start();

    const outage = await duringOutage;
    const done: TaskRecord[] = await Promise.all([...queued, outage].map((r) => producer.wait(r.id, 60_000)));
    expect(done.map((r) => r.status)).toEqual(Array(41).fill('success'));
    expect(done.map((r) => r.returning)).toEqual([...Array.from({ length: 40 }, (_, i) => i), 100]);
    // The consumer came back by itself: new work still runs.
    expect((await producer.addTask('t', [7], { timeout: 30_000 })).returning).toBe(7);
  }, 120_000);

  it('waits while a memory alarm blocks publishing, and completes the publish once it clears', async () => {
    const name = uniqueName('rmq-alarm');
    const backend = new MemoryBackend();
    const sink = new LogSink();
    const worker = makeApp(name, backend);
    worker.task('t', (n: number) => n * 2);
    await worker.start();
    const producer = makeApp(name, backend, [pino({ level: 'info', destination: sink })]);
    producer.task('t', (n: number) => n * 2);
    await producer.start({ worker: false });
    expect((await producer.addTask('t', [1], { timeout: 30_000 })).returning).toBe(2);

    await node.ctl('set_vm_memory_high_watermark', 'absolute', '1');
    try {
      let settled = false;
      const blocked = producer.addTask('t', [21], { timeout: 60_000 }).finally(() => (settled = true));
      await waitUntil(() => sink.withMsg('rabbitmq connection blocked by the broker: publishes wait').length > 0, 'the blocked notification', 30_000, 50);
      expect(settled).toBe(false);
      await node.ctl('set_vm_memory_high_watermark', '0.4');
      expect((await blocked).returning).toBe(42);
      await waitUntil(() => sink.withMsg('rabbitmq connection unblocked').length > 0, 'the unblocked notification');
    } finally {
      await node.ctl('set_vm_memory_high_watermark', '0.4');
    }
  }, 120_000);

  it('learns a lower max_message_size from the server refusal: that publish and later ones fail with INVALID_ARGS, other work goes on', async () => {
    const name = uniqueName('rmq-size');
    const backend = new MemoryBackend();
    const sink = new LogSink();
    const app = makeApp(name, backend, [pino({ level: 'warn', destination: sink })]);
    app.task('t', (s: string) => s.length);
    await app.start();
    const big = 'x'.repeat(SERVER_MAX_BYTES + 10);
    const started = Date.now();
    const first = await app.addTask('t', [big]).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(QTasksError);
    expect((first as QTasksError).code).toBe(ErrorCodes.INVALID_ARGS);
    expect((first as QTasksError).message).toContain(`max message size of ${SERVER_MAX_BYTES} bytes`);
    expect(Date.now() - started).toBeLessThan(10_000);
    const lost = sink.withMsg('rabbitmq link lost').length;
    // Known now: refused before sending, without another round of link recovery.
    const second = await app.addTask('t', [big]).catch((e: unknown) => e);
    expect((second as QTasksError).code).toBe(ErrorCodes.INVALID_ARGS);
    expect(sink.withMsg('rabbitmq link lost').length).toBe(lost);
    expect((await app.addTask('t', ['ok'], { timeout: 30_000 })).returning).toBe(2);
  }, 60_000);

  it('after a broker crash, tasks no worker had touched come back at attempt 1 (a redelivery that never ran spends nothing)', async () => {
    const name = uniqueName('rmq-crash');
    const backend = new MemoryBackend();
    const producer = makeApp(name, backend);
    await producer.start({ worker: false });
    const ids = (await Promise.all(Array.from({ length: 200 }, (_, i) => producer.addTask('t', [i])))).map((r) => r.id);
    await producer.stop();
    await node.kill();
    await node.start();

    const worker = makeApp(name, backend, [], { concurrency: 8 });
    const attempts: number[] = [];
    worker.task({ name: 't', echo: true }, (ctx, n: number) => {
      attempts.push(ctx.attempt);
      return n;
    });
    await worker.start();
    const done = await Promise.all(ids.map((id) => worker.wait(id, 60_000)));
    expect(done.map((r) => r.status)).toEqual(Array(ids.length).fill('success'));
    expect(done.filter((r) => r.attempts !== 1).map((r) => r.attempts)).toEqual([]);
    expect(attempts.filter((a) => a !== 1)).toEqual([]);
  }, 120_000);
});
