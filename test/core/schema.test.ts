// Standard Schema arguments and results (zod 4): inferred types, checks at addTask and in the
// worker, transforms, and schemas that throw.
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { ErrorCodes, QueueTasks, type QTasksError, type TaskRecord } from '../../core/index.js';
import { MemoryBackend, memory } from '../../plugins/memory/index.js';

const apps: QueueTasks[] = [];
function makeApp(name = `schema-${apps.length}`, backend?: MemoryBackend): QueueTasks {
  const app = new QueueTasks({
    name,
    plugins: backend === undefined ? [] : [memory({ backend })],
    config: { logLevel: 'silent', retryDelayMs: 5, retryMaxDelayMs: 20 },
    globals: false,
    sharedTasks: false,
  });
  apps.push(app);
  return app;
}
afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
});

async function rejection(p: Promise<unknown>): Promise<QTasksError> {
  try {
    await p;
  } catch (err) {
    return err as QTasksError;
  }
  throw new Error('expected a rejection');
}

const remindArgs = z.tuple([z.iso.datetime().transform((s) => new Date(s)), z.number().int().min(1)]);

describe('args schema', () => {
  it('infers the handler from the schema output and the handle from its input', () => {
    expectTypeOf(inferred).toBeFunction(); // checked by tsc; never run, so nothing is enqueued
  });

  it('checks at addTask, naming the path; nothing is enqueued', async () => {
    const app = makeApp();
    let runs = 0;
    const remind = app.task({ name: 'remind', args: remindArgs }, () => ++runs);
    const later = app.task('later', () => 'ran');
    await app.start();
    const err = await rejection(remind.addTask(['2026-01-01T00:00:00Z', 0]));
    expect(err.code).toBe(ErrorCodes.INVALID_ARGS);
    expect(err.message).toMatch(/^task "remind": args\[1\]: /);
    const bad = await rejection(remind.addTask(['not a date', 2]));
    expect(bad.message).toContain('args[0]: ');
    const bulk = await rejection(remind.addTasks([['2026-01-01T00:00:00Z', 1], ['2026-01-01T00:00:00Z', -1]]));
    expect(bulk.message).toContain('bulk add item 1');
    expect((await later.addTask([], { timeout: 5_000 })).returning).toBe('ran');
    expect(runs).toBe(0);
  });

  it('transforms on the worker side: the handler gets a Date', async () => {
    const app = makeApp();
    const remind = app.task({ name: 'remind', args: remindArgs }, (when, times) => ({ isDate: when instanceof Date, ms: when.getTime(), times }));
    await app.start();
    const rec = await remind.addTask(['1970-01-01T00:00:01Z', 2], { timeout: 5_000 });
    expect(rec.args).toEqual(['1970-01-01T00:00:01Z', 2]); // what travelled and is stored: the input
    expect(rec.returning).toEqual({ isDate: true, ms: 1_000, times: 2 });
  });

  it('a task from an older producer that no longer validates ends in error, without retries', async () => {
    const backend = new MemoryBackend();
    const producer = makeApp('schema-shared', backend);
    producer.task('remind', (_when: string, _times: number) => undefined); // no schema here
    const worker = makeApp('schema-shared', backend);
    let runs = 0;
    worker.task({ name: 'remind', args: remindArgs, retry: 3 }, () => ++runs);
    await worker.start();
    await producer.start({ worker: false });
    const sent = await producer.addTask('remind', ['yesterday', 1]);
    const rec = await worker.wait(sent.id, 5_000);
    expect(rec.status).toBe('error');
    expect(rec.error?.code).toBe(ErrorCodes.INVALID_ARGS);
    expect(rec.error?.message).toContain('args[0]: ');
    expect(rec.attempts).toBe(1);
    expect(runs).toBe(0);
  });

  it('a schema that throws is reported as invalid args, at addTask and in the worker', async () => {
    const throwing: StandardSchemaV1<[number], [number]> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: () => {
          throw new Error('validator exploded');
        },
      },
    };
    const app = makeApp();
    const t = app.task({ name: 't', args: throwing }, (n) => n);
    await app.start();
    const err = await rejection(t.addTask([1]));
    expect(err.code).toBe(ErrorCodes.INVALID_ARGS);
    expect(err.message).toBe('task "t": the args schema threw: validator exploded');
  });

  it('refuses an args or result option that is not a schema', () => {
    const app = makeApp();
    expect(() => app.task({ name: 'x', args: { parse: () => [] } as never }, () => 1)).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }));
    expect(() => app.task({ name: 'y', result: 'nope' as never }, () => 1)).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }));
  });
});

describe('result schema', () => {
  it('checks the result: a mismatch ends in error without retries; a transform changes what is stored', async () => {
    const app = makeApp();
    let runs = 0;
    const wrong = app.task({ name: 'wrong', retry: 2, result: z.object({ n: z.number() }) }, () => {
      runs++;
      return { n: 'one' };
    });
    const stamp = app.task({ name: 'stamp', result: z.date().transform((d) => d.toISOString()) }, () => new Date(0));
    expectTypeOf(stamp.run).returns.resolves.toEqualTypeOf<string>();
    await app.start();
    const rec = await wrong.addTask([], { timeout: 5_000 });
    expect(rec.status).toBe('error');
    expect(rec.error?.code).toBe(ErrorCodes.INVALID_RESULT);
    expect(rec.error?.message).toContain('result.n: ');
    expect(runs).toBe(1);
    const stamped: TaskRecord<[], string> = await stamp.addTask([], { timeout: 5_000 });
    expect(stamped.returning).toBe('1970-01-01T00:00:00.000Z');
  });
});

function inferred(): void {
  const app = new QueueTasks({ name: 'schema-types', globals: false });
  const remind = app.task({ name: 'remind', args: remindArgs }, (when, times) => {
    expectTypeOf(when).toEqualTypeOf<Date>();
    expectTypeOf(times).toEqualTypeOf<number>();
    return when.getTime() * times;
  });
  expectTypeOf(remind.addTask).parameter(0).toEqualTypeOf<[string, number]>();
  expectTypeOf(remind.addTasks).parameter(0).toEqualTypeOf<readonly [string, number][]>();
  const withCtx = app.task({ name: 'remind-ctx', echo: true, args: remindArgs }, (ctx, when) => `${ctx.id}:${when.toISOString()}`);
  expectTypeOf(withCtx.addTask).parameter(0).toEqualTypeOf<[string, number]>();
  // @ts-expect-error callers pass the schema's input (a string), not its output
  void remind.addTask([new Date(), 1]);
  // @ts-expect-error a schema whose input is not JSON cannot describe what travels
  app.task({ name: 'date-in', args: z.tuple([z.date()]) }, (d) => d.getTime());
}
