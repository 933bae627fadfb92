/** Type tests of the observability surface: the plugins' options and the telemetry hooks. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TracerProvider } from '@opentelemetry/api';
import type { Registry } from 'prom-client';
import { describe, expectTypeOf, it } from 'vitest';
import { QueueTasks, type AttemptRunner, type Plugin, type TaskMessage, type TaskOutcome } from '../../core/index.js';
import { otel, type OtelOptions } from '../../otel/index.js';
import { prometheus, type PrometheusOptions, type PrometheusPlugin } from '../../prometheus/index.js';

describe('observability types', () => {
  it('prometheus() takes its options and returns a plugin with a registry and a node:http handler', () => {
    expectTypeOf(prometheus).parameter(0).toEqualTypeOf<PrometheusOptions | undefined>();
    expectTypeOf(prometheus).returns.toEqualTypeOf<PrometheusPlugin>();
    expectTypeOf<PrometheusPlugin>().toExtend<Plugin>();
    expectTypeOf<PrometheusPlugin['registry']>().toEqualTypeOf<Registry>();
    expectTypeOf<PrometheusPlugin['metrics']>().returns.toEqualTypeOf<Promise<string>>();
    expectTypeOf<PrometheusPlugin['handler']>().toEqualTypeOf<(req: IncomingMessage, res: ServerResponse) => void>();
    // @ts-expect-error the registry is a prom-client Registry
    expectTypeOf(prometheus).toBeCallableWith({ registry: 'default' });
    // @ts-expect-error buckets are numbers
    expectTypeOf(prometheus).toBeCallableWith({ runBuckets: ['1s'] });
  });

  it('otel() takes a tracer provider and newTrace', () => {
    expectTypeOf(otel).parameter(0).toEqualTypeOf<OtelOptions | undefined>();
    expectTypeOf<OtelOptions['tracerProvider']>().toEqualTypeOf<TracerProvider | undefined>();
    expectTypeOf(otel).returns.toEqualTypeOf<Plugin>();
    // @ts-expect-error newTrace is a boolean
    expectTypeOf(otel).toBeCallableWith({ newTrace: 'yes' });
  });

  it('task.around taps return a runner of the attempt; broker.publishFailed gets the message and the error', () => {
    const app = new QueueTasks({ name: 'types', globals: false });
    app.hooks.task.around.tap('ok', (run, ctx, delivery) => {
      expectTypeOf(run).toEqualTypeOf<AttemptRunner>();
      expectTypeOf(run).returns.toEqualTypeOf<Promise<TaskOutcome>>();
      expectTypeOf(ctx.attempt).toEqualTypeOf<number>();
      expectTypeOf(delivery.message).toEqualTypeOf<TaskMessage>();
      return async () => run();
    });
    // @ts-expect-error a tap returns a runner, not a value
    app.hooks.task.around.tap('bad', () => 42);
    app.hooks.broker.publishFailed.tap('ok', (message, error) => {
      expectTypeOf(message).toEqualTypeOf<TaskMessage>();
      expectTypeOf(error).toEqualTypeOf<Error>();
    });
    expectTypeOf<TaskOutcome['kind']>().toEqualTypeOf<'success' | 'error' | 'cancel' | 'retry'>();
  });
});
