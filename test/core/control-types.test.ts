// Type-level tests of the control plane's public signatures (checked by tsc; nothing runs).
import { describe, expectTypeOf, it } from 'vitest';
import { QueueTasks, type CancelFound, type ListResult, type QueueCounts, type TaskEvent, type TaskRecord } from '../../core/index.js';

describe('control plane types', () => {
  it('types every call and refuses what cannot work', () => {
    expectTypeOf(signatures).toBeFunction();
  });
});

async function signatures(): Promise<void> {
  const app = new QueueTasks({ name: 'types-control', globals: false });
  expectTypeOf(await app.counts()).toEqualTypeOf<QueueCounts[]>();
  expectTypeOf(await app.list({ status: 'dead', limit: 10 })).toEqualTypeOf<ListResult>();
  expectTypeOf((await app.list({ status: 'error' })).records).toEqualTypeOf<TaskRecord[]>();
  expectTypeOf(await app.cancel('id', 'why')).toEqualTypeOf<CancelFound>();
  expectTypeOf(await app.retry('id')).toEqualTypeOf<number>();
  expectTypeOf(await app.retry({ status: 'dead', queue: 'q', limit: 5 })).toEqualTypeOf<number>();
  expectTypeOf(await app.promote('id')).toEqualTypeOf<boolean>();
  expectTypeOf(await app.remove('id')).toEqualTypeOf<boolean>();
  expectTypeOf(await app.clean({ status: 'success', olderThanMs: 1_000 })).toEqualTypeOf<number>();
  expectTypeOf(await app.purge('q')).toEqualTypeOf<number>();
  expectTypeOf(app.pause).returns.toEqualTypeOf<Promise<void>>();
  const off = app.events.on('completed', (e) => expectTypeOf(e).toEqualTypeOf<TaskEvent>());
  expectTypeOf(off).toEqualTypeOf<() => void>();
  app.events.on('*', () => undefined, { from: '1700000000000-0', onGap: (gap) => expectTypeOf(gap.after).toEqualTypeOf<string>() });
  await app.addTask('t', [], { timeout: 1_000, onProgress: (value) => expectTypeOf(value).toBeUnknown() });

  // @ts-expect-error not a status
  await app.list({ status: 'finished' });
  // @ts-expect-error only dead or error tasks can be retried
  await app.retry({ status: 'success' });
  // @ts-expect-error clean takes final statuses only
  await app.clean({ status: 'process', olderThanMs: 0 });
  // @ts-expect-error no such event
  app.events.on('done', () => undefined);
  // @ts-expect-error a position is the string of TaskEvent.position
  app.events.on('*', () => undefined, { from: 17 });
  // @ts-expect-error cancel takes an id, not a record
  await app.cancel({ id: 'x' });
}
