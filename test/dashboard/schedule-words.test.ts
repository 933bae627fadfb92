/** Schedules in words (dashboard and `qtasks schedules`), and the coming fire times. */
import { describe, expect, it } from 'vitest';
import { specInWords, upcoming } from '../../dashboard/schedule-words.js';
import type { ScheduleInfo } from '../../core/schedule/spec.js';

describe('specInWords', () => {
  it.each([
    [{ every: 1_000 }, 'every 1 second'],
    [{ every: 90_000 }, 'every 1 minute 30 seconds'],
    [{ every: 7_200_000 }, 'every 2 hours'],
    [{ every: 250 }, 'every 250 milliseconds'],
    [{ cron: '* * * * *' }, 'every minute (server time)'],
    [{ cron: '*/15 * * * *', tz: 'UTC' }, 'every 15 minutes (UTC)'],
    [{ cron: '5 * * * *' }, 'every hour at minute 5 (server time)'],
    [{ cron: '30 */6 * * *' }, 'every 6 hours at minute 30 (server time)'],
    [{ cron: '0 3 * * *', tz: 'Europe/Paris' }, 'every day at 03:00 (Europe/Paris)'],
    [{ cron: '0 0 3 * * *' }, 'every day at 03:00 (server time)'],
    [{ cron: '15 9 * * 1-5' }, 'every weekday (Monday to Friday) at 09:15 (server time)'],
    [{ cron: '0 18 * * FRI' }, 'every Friday at 18:00 (server time)'],
    [{ cron: '0 12 * * 7' }, 'every Sunday at 12:00 (server time)'],
    [{ cron: '0 1 1 * *' }, 'every month on day 1 at 01:00 (server time)'],
    [{ cron: '*/10 * * * * *' }, 'cron "*/10 * * * * *" (server time)'],
    [{ cron: '0 9 1 1 *' }, 'cron "0 9 1 1 *" (server time)'],
  ])('%j reads "%s"', (spec, words) => {
    expect(specInWords(spec)).toBe(words);
  });
});

describe('upcoming', () => {
  const base: ScheduleInfo = { id: 's', spec: { every: 60_000 }, task: 't', args: [], catchUp: 'latest', definedAt: 0, next: 120_000, last: 60_000 };

  it('lists the stored next fire, then the following ones of the spec', async () => {
    expect(await upcoming(base)).toEqual([120_000, 180_000, 240_000]);
    expect(await upcoming({ ...base, spec: { cron: '0 3 * * *', tz: 'UTC' }, next: Date.UTC(2030, 0, 1, 3) }, 2)).toEqual([Date.UTC(2030, 0, 1, 3), Date.UTC(2030, 0, 2, 3)]);
  });

  it('stops at endAt, shows only next under a fire limit, and nothing when no fire is left', async () => {
    expect(await upcoming({ ...base, endAt: 180_000 })).toEqual([120_000, 180_000]);
    expect(await upcoming({ ...base, limit: 5 })).toEqual([120_000]);
    expect(await upcoming({ ...base, next: undefined })).toEqual([]);
  });
});
