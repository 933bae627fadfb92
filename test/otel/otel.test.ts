/**
 * qtasks/otel with the SDK's in-memory exporter: real tasks on memory, Redis and RabbitMQ; the
 * producer span's context travels in the task's meta and the process span is its child and
 * linked (or only linked, with newTrace); failures and retries are on the spans; a broken tracer
 * never fails a task.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, type Context, type ContextManager, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { QueueTasks, type Plugin } from '../../core/index.js';
import { memory } from '../../plugins/memory/index.js';
import { redis } from '../../plugins/redis/index.js';
import { extractTraceContext, otel, type OtelOptions } from '../../otel/index.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';
import { RabbitFixture } from '../plugins/rabbitmq-helpers.js';
import { refusingBroker } from '../support/refusing-broker.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';

/** What @opentelemetry/context-async-hooks does, in a few lines: the active context follows async calls. */
class AsyncContextManager implements ContextManager {
  readonly #store = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.#store.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return this.#store.run(ctx, () => fn.apply(thisArg, args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#store.disable();
    return this;
  }
}

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer('test');
const apps: QueueTasks[] = [];

beforeAll(() => void context.setGlobalContextManager(new AsyncContextManager()));
afterAll(() => context.disable());
beforeEach(() => exporter.reset());
afterEach(async () => {
  for (const a of apps.splice(0)) await a.stop();
});

function makeApp(name: string, broker: Plugin[], options: OtelOptions = { tracerProvider: provider }): QueueTasks {
  const app = new QueueTasks({ name, plugins: [...broker, otel(options)], config: { logLevel: 'silent', retryDelayMs: 5, retryMaxDelayMs: 5 }, globals: false });
  apps.push(app);
  return app;
}

const spans = (name: string): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => s.name === name);
const one = (name: string): ReadableSpan => {
  const found = spans(name);
  expect(found, name).toHaveLength(1);
  return found[0]!;
};

/** addTask inside a request span; the handler opens a span of its own. */
async function producerAndConsumer(app: QueueTasks, system: string): Promise<void> {
  const t = app.task('resize', (w: number) => {
    tracer.startSpan('handler work').end(); // parented by the active context: the process span
    return w * 2;
  });
  await app.start();
  const record = await tracer.startActiveSpan('request', async (request) => {
    try {
      return await t.addTask([21], { timeout: 20_000 });
    } finally {
      request.end();
    }
  });
  expect(record.returning).toBe(42);
  await waitUntil(() => spans('handler work').length === 1, 'the handler span ends');
  const request = one('request');
  const send = one('send default');
  const process = one('process default');
  const work = one('handler work');

  expect(send.kind).toBe(SpanKind.PRODUCER);
  expect(send.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
  expect(send.attributes).toMatchObject({
    'messaging.system': system,
    'messaging.operation.name': 'send',
    'messaging.operation.type': 'send',
    'messaging.destination.name': 'default',
    'messaging.message.id': record.id,
    'qtasks.task.name': 'resize',
    'qtasks.app': app.name,
  });
  // The creation context, in the task's meta, as W3C trace context.
  expect(record.meta?.traceparent).toBe(`00-${send.spanContext().traceId}-${send.spanContext().spanId}-01`);

  expect(process.kind).toBe(SpanKind.CONSUMER);
  expect(process.spanContext().traceId).toBe(send.spanContext().traceId);
  expect(process.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
  expect(process.links.map((l) => l.context.spanId)).toEqual([send.spanContext().spanId]);
  expect(process.attributes).toMatchObject({
    'messaging.system': system,
    'messaging.operation.name': 'process',
    'messaging.operation.type': 'process',
    'messaging.destination.name': 'default',
    'messaging.message.id': record.id,
    'qtasks.task.attempt': 1,
    'qtasks.task.outcome': 'success',
  });
  expect(process.status.code).toBe(SpanStatusCode.UNSET);
  expect(work.parentSpanContext?.spanId).toBe(process.spanContext().spanId);
}

describe('qtasks/otel', () => {
  it('memory: a producer span whose context travels in meta, a process span that is its child and linked', async () => {
    await producerAndConsumer(makeApp(uniqueName('otel-mem'), [memory()]), 'memory');
  });

  describe('Redis', () => {
    let admin: Redis;
    const names: string[] = [];
    beforeAll(async () => (admin = await adminClient()));
    afterAll(async () => {
      await deleteAppKeys(admin, names);
      admin.disconnect();
    });
    it('the same through Redis', async () => {
      const name = uniqueName('otel-redis');
      names.push(name);
      await producerAndConsumer(makeApp(name, [redis({ url: REDIS_URL })]), 'redis');
    });
  });

  describe('RabbitMQ', () => {
    const fx = new RabbitFixture();
    const names: string[] = [];
    afterAll(async () => {
      await fx.cleanup(names);
      await fx.close();
    });
    it('the same through RabbitMQ (the meta rides in the message)', async () => {
      const name = uniqueName('otel-rabbit');
      names.push(name);
      await producerAndConsumer(makeApp(name, [fx.plugin(name)]), 'rabbitmq');
    });
  });

  it('records a retried attempt and a failure on their spans, each attempt linked to the one producer span', async () => {
    const app = makeApp(uniqueName('otel-fail'), [memory()]);
    let calls = 0;
    const flaky = app.task({ name: 'flaky', retry: 1 }, () => {
      if (++calls === 1) throw new TypeError('first attempt fails');
      return 'ok';
    });
    const bad = app.task({ name: 'bad', queue: 'bad' }, () => {
      throw new RangeError('never works');
    });
    await app.start();
    expect((await flaky.addTask([], { timeout: 10_000 })).status).toBe('success');
    expect((await bad.addTask([], { timeout: 10_000 })).status).toBe('error');

    const send = one('send default');
    const attempts = spans('process default').sort((a, b) => Number(a.attributes['qtasks.task.attempt']) - Number(b.attributes['qtasks.task.attempt']));
    expect(attempts.map((s) => [s.attributes['qtasks.task.attempt'], s.attributes['qtasks.task.outcome'], s.status.code])).toEqual([
      [1, 'retry', SpanStatusCode.ERROR],
      [2, 'success', SpanStatusCode.UNSET],
    ]);
    for (const s of attempts) expect(s.links[0]?.context.spanId).toBe(send.spanContext().spanId);
    const first = attempts[0]!;
    expect(first.attributes['error.type']).toBe('TypeError');
    expect(first.events.map((e) => e.name)).toEqual(['exception', 'qtasks.task.retry_scheduled']);
    expect(first.events[0]?.attributes?.['exception.message']).toBe('first attempt fails');

    const failed = one('process bad');
    expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'never works' });
    expect(failed.attributes).toMatchObject({ 'error.type': 'RangeError', 'qtasks.task.outcome': 'error' });
  });

  it('newTrace: the process span starts a new trace, linked to the producer span only', async () => {
    const app = makeApp(uniqueName('otel-new'), [memory()], { tracerProvider: provider, newTrace: true });
    const t = app.task('t', () => 1);
    await app.start();
    await t.addTask([], { timeout: 10_000 });
    const send = one('send default');
    const process = one('process default');
    expect(process.spanContext().traceId).not.toBe(send.spanContext().traceId);
    expect(process.parentSpanContext).toBeUndefined();
    expect(process.links.map((l) => l.context)).toEqual([expect.objectContaining({ traceId: send.spanContext().traceId, spanId: send.spanContext().spanId })]);
  });

  it('a tracer that throws never fails a task', async () => {
    const broken: TracerProvider = {
      getTracer: () =>
        ({
          startSpan: () => {
            throw new Error('tracer bug');
          },
        }) as unknown as Tracer,
    };
    const app = makeApp(uniqueName('otel-broken'), [memory()], { tracerProvider: broken });
    const t = app.task('t', (n: number) => n + 1);
    await app.start();
    for (let i = 0; i < 3; i++) expect((await t.addTask([i], { timeout: 10_000 })).returning).toBe(i + 1);
  });

  it('a publish the broker refuses ends its producer span in error', async () => {
    const app = makeApp(uniqueName('otel-refused'), [refusingBroker(), memory({ broker: false })]);
    app.task('t', () => 1);
    await app.start({ worker: false });
    await expect(app.addTask('t', [])).rejects.toThrow('the server said no');
    const send = one('send default');
    expect(send.status).toEqual({ code: SpanStatusCode.ERROR, message: 'the server said no' });
    expect(send.attributes).toMatchObject({ 'messaging.system': 'refusing', 'error.type': 'Error' });
  });

  it('reads only well-formed W3C trace context from meta', () => {
    const good = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    expect(extractTraceContext({ traceparent: good, tracestate: 'vendor=x' })).toMatchObject({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, isRemote: true });
    expect(extractTraceContext({ traceparent: good, tracestate: 'vendor=x' })?.traceState?.get('vendor')).toBe('x');
    for (const bad of ['garbage', 42, 'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', '00-00000000000000000000000000000000-b7ad6b7169203331-01', '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01', `${good}-extra`]) {
      expect(extractTraceContext({ traceparent: bad }), String(bad)).toBeUndefined();
    }
    expect(extractTraceContext(undefined)).toBeUndefined();
  });
});
