import { describe, expect, it } from 'vitest';
import { recordOf, TaskStatus, type TaskRecord } from '../../core/record.js';
import { Waiters } from '../../core/waiters.js';

const record = (id: string): TaskRecord =>
  recordOf({ id, name: 't', queue: 'default', args: [], priority: 0, createdAt: 1, maxDeliveries: 1 }, TaskStatus.SUCCESS, 1, 2);

describe('Waiters (the storages’ waitFinal registry)', () => {
  it('answers every caller of an id, leaves others waiting, and forgets answered ids', async () => {
    const w = new Waiters();
    const a1 = w.wait('a', 10_000);
    const a2 = w.wait('a', 10_000);
    const b = w.wait('b', 10_000);
    w.wake(record('a'));
    expect((await a1.result)?.id).toBe('a');
    expect((await a2.result)?.id).toBe('a');
    expect(w.ids()).toEqual(['b']);
    w.clear();
    expect(await b.result).toBeUndefined();
    expect(w.size).toBe(0);
  });

  it('resolves undefined at the timeout; a cancelled wait is gone and never answered', async () => {
    const w = new Waiters();
    expect(await w.wait('late', 5).result).toBeUndefined();
    const cancelled = w.wait('c', 10_000);
    let answered = false;
    void cancelled.result.then(() => (answered = true));
    cancelled.cancel();
    expect(w.size).toBe(0);
    w.wake(record('c'));
    await Promise.resolve();
    expect(answered).toBe(false);
  });
});
