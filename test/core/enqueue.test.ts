/**
 * addTask's input checks: whatever the caller passes, the answer is a QTasksError naming the task
 * and the place, never a raw TypeError or RangeError from deep inside a broker.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, QTasksError, QueueTasks, Router, sharedTask, type AddTaskOptions } from '../../core/index.js';

const apps: QueueTasks[] = [];
afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
});

async function started(): Promise<QueueTasks> {
  const app = new QueueTasks({ name: `enqueue-${apps.length}`, globals: false, sharedTasks: false, config: { logLevel: 'silent' } });
  apps.push(app);
  app.task('t', (..._args: unknown[]) => 'ok');
  await app.start();
  return app;
}

async function rejection(p: Promise<unknown>): Promise<QTasksError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(QTasksError);
    return err as QTasksError;
  }
  throw new Error('expected a rejection');
}

function nested(levels: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < levels; i++) v = { next: v };
  return v;
}

describe('addTask input', () => {
  it('a toJSON, a throwing getter or proxy, and 10,000 levels of nesting give INVALID_ARGS naming the place, with the original as cause', async () => {
    const app = await started();
    const original = new TypeError('Do not know how to serialize a BigInt');
    const cases: Array<[unknown, string, unknown]> = [
      // toJSON is never called: an object that has one would arrive as something else.
      [{ when: { toJSON: () => { throw original; } } }, 'args[0].when.toJSON is a function', undefined],
      [{ n: { toJSON: () => 10n } }, 'args[0].n.toJSON is a function', undefined],
      [
        {
          get secret(): string {
            throw original;
          },
        },
        'args[0].secret threw when read',
        original,
      ],
      [new Proxy({}, { ownKeys: () => { throw original; } }), 'args[0] threw when read', original],
      [nested(10_000), 'nests deeper than 1000 levels', undefined],
    ];
    for (const [value, where, cause] of cases) {
      const err = await rejection(app.addTask('t', [value]));
      expect(err.code).toBe(ErrorCodes.INVALID_ARGS);
      expect(err.message).toContain('task "t"');
      expect(err.message).toContain(where);
      expect(err.cause).toBe(cause);
    }
    const record = await app.addTask('t', [{ when: '1970-01-01T00:00:00.000Z', list: [1, null] }], { timeout: 5_000 });
    expect(record.status).toBe('success');
  });

  it('meta must be a plain object of JSON values', async () => {
    const app = await started();
    for (const meta of ['trace-1', ['a'], null, new Map(), { fn: () => 1 }, { n: Number.NaN }, { at: new Date(0) }]) {
      const err = await rejection(app.addTask('t', [], { meta: meta as Record<string, unknown> }));
      expect(err.code, String(meta)).toBe(ErrorCodes.INVALID_OPTION);
      expect(err.message).toContain('meta');
    }
    const record = await app.addTask('t', [], { meta: { trace: 'abc', tags: ['x'] }, timeout: 5_000 });
    expect(record.status).toBe('success');
    expect(record.meta).toEqual({ trace: 'abc', tags: ['x'] });
  });
});

describe('unknown option keys', () => {
  it('app.task, router.task and sharedTask refuse a key they do not know, naming it', () => {
    const app = new QueueTasks({ name: 'unknown-keys', globals: false, sharedTasks: false, config: { logLevel: 'silent' } });
    apps.push(app);
    const typo = { name: 'r', retires: 3 } as { name: string };
    const declare: Array<() => unknown> = [() => app.task(typo, () => 1), () => new Router().task(typo, () => 1), () => sharedTask({ ...typo, name: 'unknown-keys-shared' }, () => 1)];
    for (const make of declare) {
      let err: unknown;
      try {
        make();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(QTasksError);
      expect((err as QTasksError).code).toBe(ErrorCodes.INVALID_OPTION);
      expect((err as QTasksError).message).toContain('unknown option "retires" (did you mean "retry"?)');
    }
    expect(app.tasks.has('r')).toBe(false);
  });

  it('addTask refuses an option it does not know, naming it, instead of returning at once', async () => {
    const app = await started();
    const err = await rejection(app.addTask('t', [], { tmeout: 5_000 } as AddTaskOptions));
    expect(err.code).toBe(ErrorCodes.INVALID_OPTION);
    expect(err.message).toBe('addTask of task "t": unknown option "tmeout" (did you mean "timeout"?)');
    const far = await rejection(app.addTask('t', [], { colour: 'red' } as AddTaskOptions));
    expect(far.message).toBe('addTask of task "t": unknown option "colour"');
  });
});
