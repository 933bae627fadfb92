/**
 * `qtasks/otel`: OpenTelemetry tracing by the messaging semantic conventions, on
 * `@opentelemetry/api` (an optional peer, loaded only by this entry point).
 *
 * - `send <queue>` (PRODUCER) around addTask's publish; its context travels in the task's meta as
 *   W3C `traceparent`/`tracestate`, through every broker, retries included.
 * - `process <queue>` (CONSUMER) around each attempt, active while the handler runs (its own spans
 *   are children), linked to the producer span always and, by default, its child too.
 *
 * Telemetry never fails a task: a tracer that throws is logged once and the task goes on.
 */
import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { QueueTasks } from '../core/app.js';
import { ErrorCodes, QTasksError, messageOf } from '../core/errors.js';
import type { TaskOutcome } from '../core/executor.js';
import type { Plugin } from '../core/plugin.js';
import { STAGE_LAST } from '../core/stages.js';
import { extract, inject } from './traceparent.js';

export { extract as extractTraceContext } from './traceparent.js';

export interface OtelOptions {
  /** Where spans go (default: the global provider, `trace.getTracerProvider()`). */
  tracerProvider?: TracerProvider;
  /**
   * Start each `process` span in a new trace, linked to the producer span but not its child
   * (default false: child and link). For fan-out, where one request starts thousands of tasks
   * and a parent-based sampler would keep or drop them all, and for tasks that run long after
   * their producer's trace ended.
   */
  newTrace?: boolean;
}

/** Attribute names of the messaging conventions (semconv, messaging spans) and qtasks' own. */
const A = {
  system: 'messaging.system',
  operationName: 'messaging.operation.name',
  operationType: 'messaging.operation.type',
  destination: 'messaging.destination.name',
  messageId: 'messaging.message.id',
  errorType: 'error.type',
  app: 'qtasks.app',
  task: 'qtasks.task.name',
  attempt: 'qtasks.task.attempt',
  delay: 'qtasks.task.delay_ms',
  outcome: 'qtasks.task.outcome',
  retryDelay: 'qtasks.task.retry_delay_ms',
} as const;

export function otel(options: OtelOptions = {}): Plugin {
  if (options === null || typeof options !== 'object') throw new QTasksError(ErrorCodes.INVALID_OPTION, 'otel: options must be an object');
  const newTrace = options.newTrace ?? false;
  if (typeof newTrace !== 'boolean') throw new QTasksError(ErrorCodes.INVALID_OPTION, `otel: newTrace must be a boolean, got ${String(newTrace)}`);
  const provider = options.tracerProvider;
  return {
    name: 'otel',
    apply(app) {
      let tracer: Tracer | undefined;
      const tracerOf = (): Tracer => (tracer ??= (provider ?? trace.getTracerProvider()).getTracer('qtasks'));
      const said = new Set<string>();
      /** A telemetry failure is logged once per place, never thrown into the task's path. */
      const failed = (where: string, err: unknown): void => {
        if (said.has(where)) return;
        said.add(where);
        app.logger('OpenTelemetry').warn({ err }, `tracing failed in ${where} (the task goes on; said once): ${messageOf(err)}`);
      };
      /** Producer spans from beforePublish until the broker confirmed (or refused) the message. */
      const sending = new Map<string, Span>();

      // Last, so the span names the queue and meta that reach the broker.
      app.hooks.broker.beforePublish.tapPromise({ name: 'otel', stage: STAGE_LAST }, async (message, ctx) => {
        try {
          const attributes: Attributes = {
            ...common(ctx.app, message.queue, message.id, message.name, 'send'),
            ...(ctx.delayMs > 0 ? { [A.delay]: ctx.delayMs } : {}),
          };
          const span = tracerOf().startSpan(`send ${message.queue}`, { kind: SpanKind.PRODUCER, attributes }, context.active());
          const carrier = inject(span.spanContext());
          if (carrier === undefined) {
            span.end();
            return message;
          }
          sending.get(message.id)?.end();
          sending.set(message.id, span);
          return { ...message, meta: { ...message.meta, ...carrier } };
        } catch (err) {
          failed('broker.beforePublish', err);
          return message;
        }
      });
      app.hooks.broker.afterPublish.tap('otel', (message) => {
        const span = sending.get(message.id);
        if (span === undefined) return;
        sending.delete(message.id);
        try {
          span.end();
        } catch (err) {
          failed('broker.afterPublish', err);
        }
      });
      app.hooks.broker.publishFailed.tap('otel', (message, error) => {
        const span = sending.get(message.id);
        if (span === undefined) return;
        sending.delete(message.id);
        try {
          recordError(span, error);
          span.end();
        } catch (err) {
          failed('broker.publishFailed', err);
        }
      });

      app.hooks.task.around.tap('otel', (run, ctx, delivery) => async () => {
        let span: Span;
        let active: Context;
        try {
          const producer: SpanContext | undefined = extract(delivery.message.meta);
          const parent = producer === undefined || newTrace ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, producer);
          const attributes: Attributes = { ...common(app, ctx.queue, ctx.id, ctx.name, 'process'), [A.attempt]: ctx.attempt };
          span = tracerOf().startSpan(`process ${ctx.queue}`, { kind: SpanKind.CONSUMER, attributes, ...(producer !== undefined ? { links: [{ context: producer }] } : {}) }, parent);
          active = trace.setSpan(parent, span);
        } catch (err) {
          failed('task.around', err);
          return run();
        }
        const outcome = await context.with(active, run);
        try {
          record(span, outcome);
          span.end();
        } catch (err) {
          failed('task.around', err);
        }
        return outcome;
      });
    },
  };
}

function common(app: QueueTasks, queue: string, id: string, name: string, operation: 'send' | 'process'): Attributes {
  return {
    // The broker's name: 'rabbitmq' is a well-known value; 'redis' and 'memory' are qtasks' own.
    [A.system]: app.broker.name,
    [A.operationName]: operation,
    [A.operationType]: operation,
    [A.destination]: queue,
    [A.messageId]: id,
    [A.app]: app.name,
    [A.task]: name,
  };
}

function errorType(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code !== '' ? code : error.name || 'Error';
}

function recordError(span: Span, error: Error): void {
  span.recordException(error);
  span.setAttribute(A.errorType, errorType(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

/** The attempt's outcome on its span: failures and retries as errors with the exception; success leaves the status unset. */
function record(span: Span, outcome: TaskOutcome): void {
  span.setAttribute(A.outcome, outcome.kind);
  switch (outcome.kind) {
    case 'success':
      return;
    case 'cancel':
      span.addEvent('qtasks.task.cancelled', { 'qtasks.task.cancel_reason': outcome.reason });
      return;
    case 'retry':
      recordError(span, outcome.error);
      span.setAttribute(A.retryDelay, outcome.delayMs);
      span.addEvent('qtasks.task.retry_scheduled', { [A.retryDelay]: outcome.delayMs });
      return;
    case 'error':
      recordError(span, outcome.error);
  }
}
