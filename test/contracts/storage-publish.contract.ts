/**
 * The optional unconfirmed-publish capability of a storage (`Storage.reservePublish`,
 * `Storage.confirmPublish`), part of the storage conformance suite: registered by
 * `storageConformance` for a target that offers both.
 */
import { expect, it } from 'vitest';
import type { PublishReservation, Storage } from '../../core/contracts.js';
import { TaskStatus, type TaskRecord } from '../../core/record.js';
import { guide, sleep, uniqueName } from './helpers.js';

type Make = (appName?: string) => Promise<Storage>;

function fresh(id: string, args: unknown[] = []): TaskRecord {
  const now = Date.now();
  return { id, name: 'published', queue: 'default', args, priority: 0, status: TaskStatus.NEW, attempts: 0, createdAt: now, updatedAt: now };
}

/** Long enough that a call made right after the reservation is well inside it, on a loaded machine too. */
const LONG = 60_000;
/** Short enough to wait out in a test. */
const SHORT = 300;

export function storagePublishTests(probe: Storage, make: Make): void {
  if (probe.reservePublish === undefined || probe.confirmPublish === undefined) return;
  const where = guide('Storage: `reservePublish` and `confirmPublish` (optional)');
  const opts = (publishMs: number): { ttlMs: number; publishMs: number } => ({ ttlMs: 60_000, publishMs });

  it('reservePublish stores the record; before its deadline another caller of the id is told to wait, not that the id is taken', async () => {
    const name = uniqueName('st');
    const a = await make(name);
    const b = await make(name);
    const id = uniqueName('rp');
    expect(await a.reservePublish!(fresh(id, ['mine']), opts(LONG))).toEqual({ kind: 'reserved' });
    expect((await b.get(id))?.args, `the reservation stores the record as reserve does (${where})`).toEqual(['mine']);
    const second = await b.reservePublish!(fresh(id, ['theirs']), opts(LONG));
    expect(second.kind, `an unconfirmed reservation within its deadline answers 'publishing' (${where})`).toBe('publishing');
    const retryMs = (second as Extract<PublishReservation, { kind: 'publishing' }>).retryMs;
    expect(retryMs).toBeGreaterThan(0);
    expect(retryMs).toBeLessThanOrEqual(LONG);
    expect((await b.get(id))?.args, 'a caller told to wait stores nothing').toEqual(['mine']);
    // A plain reserve (the kernel's, without the capability in use) still finds the id taken.
    expect(await b.reserve?.(fresh(id), { ttlMs: 60_000 })).toBe(b.reserve === undefined ? undefined : id);
  });

  it('a confirmed reservation holds the id as reserve does, past its deadline too', async () => {
    const s = await make();
    const id = uniqueName('rp');
    expect(await s.reservePublish!(fresh(id), opts(SHORT))).toEqual({ kind: 'reserved' });
    await s.confirmPublish!(id, true);
    expect(await s.reservePublish!(fresh(id), opts(SHORT))).toEqual({ kind: 'existing', id });
    await sleep(SHORT + 200);
    expect(await s.reservePublish!(fresh(id, ['late']), opts(SHORT)), `a confirmed publish is never taken over (${where})`).toEqual({ kind: 'existing', id });
    expect((await s.get(id))?.args).toEqual([]);
  });

  it('past its deadline an unconfirmed reservation is taken over, once, with a new deadline', async () => {
    const name = uniqueName('st');
    const dead = await make(name);
    const callers = await Promise.all([make(name), make(name), make(name)]);
    const id = uniqueName('rp');
    expect(await dead.reservePublish!(fresh(id, ['dead']), opts(SHORT))).toEqual({ kind: 'reserved' });
    // The publisher "died": never confirms. Wait out its deadline, then several callers at once.
    await sleep(SHORT + 200);
    const answers = await Promise.all(callers.map((c, i) => c.reservePublish!(fresh(id, [`caller ${i}`]), opts(LONG))));
    const winners = answers.flatMap((a, i) => (a.kind === 'reserved' ? [i] : []));
    expect(winners, `exactly one caller takes an expired reservation over (${where})`).toHaveLength(1);
    expect(answers.filter((a) => a.kind === 'publishing'), 'the others wait for the new deadline').toHaveLength(callers.length - 1);
    expect((await dead.get(id))?.args, 'the taker-over stored its own record').toEqual([`caller ${winners[0]}`]);
    expect((await dead.reservePublish!(fresh(id), opts(SHORT))).kind, 'the new deadline holds').toBe('publishing');
    await callers[winners[0]!]!.confirmPublish!(id, true);
    expect(await dead.reservePublish!(fresh(id), opts(SHORT))).toEqual({ kind: 'existing', id });
  });

  it('a failed publish (confirmPublish false) is taken over at once', async () => {
    const s = await make();
    const id = uniqueName('rp');
    expect(await s.reservePublish!(fresh(id), opts(LONG))).toEqual({ kind: 'reserved' });
    await s.confirmPublish!(id, false);
    expect(await s.reservePublish!(fresh(id, ['retry']), opts(LONG)), `a failed publish is taken over without waiting (${where})`).toEqual({ kind: 'reserved' });
    expect((await s.get(id))?.args).toEqual(['retry']);
    // Confirming an id that has no mark changes nothing.
    await s.confirmPublish!(uniqueName('none'), false);
    await s.confirmPublish!(uniqueName('none'), true);
  });

  it('a record saved over the reservation (a worker ran the task, or a cancel took the id) holds the id past the deadline', async () => {
    const s = await make();
    const ran = uniqueName('rp');
    const cancelled = uniqueName('rp');
    await s.reservePublish!(fresh(ran), opts(SHORT));
    await s.reservePublish!(fresh(cancelled), opts(SHORT));
    expect(await s.save({ ...fresh(ran), status: TaskStatus.PROCESS, attempts: 1 }, { ttlMs: 60_000 })).toBe(true);
    expect(await s.save({ ...fresh(cancelled), status: TaskStatus.CANCEL, finishedAt: Date.now() }, { ttlMs: 60_000 })).toBe(true);
    expect(await s.reservePublish!(fresh(ran), opts(SHORT)), `a record past 'new' is a holder, mark or not (${where})`).toEqual({ kind: 'existing', id: ran });
    await sleep(SHORT + 200);
    expect(await s.reservePublish!(fresh(ran), opts(SHORT))).toEqual({ kind: 'existing', id: ran });
    expect(await s.reservePublish!(fresh(cancelled), opts(SHORT)), 'a cancel record (0 attempts) saved over the reservation holds the id').toEqual({ kind: 'existing', id: cancelled });
    expect((await s.get(ran))?.status).toBe(TaskStatus.PROCESS);
  });

  it('a dedup key held by an unconfirmed reservation: wait before its deadline, taken over after it', async () => {
    const s = await make();
    for (const mode of ['simple', 'throttle'] as const) {
      const key = uniqueName('key');
      const dedup = { key, mode, ttlMs: 60_000 };
      const first = uniqueName('rp');
      const second = uniqueName('rp');
      expect(await s.reservePublish!(fresh(first), { ...opts(SHORT), dedup })).toEqual({ kind: 'reserved' });
      expect((await s.reservePublish!(fresh(second), { ...opts(SHORT), dedup })).kind, `${mode}: a key held by an unconfirmed reservation answers 'publishing' (${where})`).toBe('publishing');
      expect(await s.get(second)).toBeUndefined();
      await sleep(SHORT + 200);
      expect(await s.reservePublish!(fresh(second), { ...opts(LONG), dedup }), `${mode}: a key whose holder was never published is taken over (${where})`).toEqual({ kind: 'reserved' });
      await s.confirmPublish!(second, true);
      expect(await s.reservePublish!(fresh(uniqueName('rp')), { ...opts(SHORT), dedup }), `${mode}: the key is now held by the caller that took it over`).toEqual({ kind: 'existing', id: second });
      // Confirmed holders keep their key as with reserve.
      const third = uniqueName('rp');
      const key2 = { ...dedup, key: uniqueName('key') };
      expect(await s.reservePublish!(fresh(third), { ...opts(SHORT), dedup: key2 })).toEqual({ kind: 'reserved' });
      await s.confirmPublish!(third, true);
      await sleep(SHORT + 200);
      expect(await s.reservePublish!(fresh(uniqueName('rp')), { ...opts(SHORT), dedup: key2 })).toEqual({ kind: 'existing', id: third });
    }
  });
}
