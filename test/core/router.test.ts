import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, QueueTasks, Router, type QTasksError } from '../../core/index.js';

const apps: QueueTasks[] = [];
afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
});

describe('Router', () => {
  it('registers its tasks on the app that includes it, with router defaults under task options', async () => {
    const router = new Router({ defaults: { queue: 'mail', priority: 4 } });
    const send = router.task('send', (to: string) => `sent to ${to}`);
    const urgent = router.task({ name: 'urgent', priority: -1 }, () => 'now');
    const app = new QueueTasks({ name: 'router', config: { logLevel: 'silent' }, globals: false });
    apps.push(app);
    app.includeRouter(router);
    expect([...app.tasks.keys()]).toEqual(['send', 'urgent']);
    await app.start();
    const rec = await send.addTask(['ann'], { timeout: 5_000 });
    expect([rec.returning, rec.queue, rec.priority]).toEqual(['sent to ann', 'mail', 4]);
    expect((await urgent.addTask([], { timeout: 5_000 })).priority).toBe(-1);
  });

  it('refuses duplicate names, in the router and against the app', () => {
    const router = new Router();
    router.task('a', () => 1);
    expect(() => router.task('a', () => 2)).toThrowError(expect.objectContaining({ code: ErrorCodes.DUPLICATE_TASK }) as Error);
    const app = new QueueTasks({ name: 'router-dup', globals: false });
    app.task('a', () => 0);
    let code: string | undefined;
    try {
      app.includeRouter(router);
    } catch (err) {
      code = (err as QTasksError).code;
    }
    expect(code).toBe(ErrorCodes.DUPLICATE_TASK);
  });

  it('fails clearly when a handle of an unincluded router is used with no appMain', async () => {
    const router = new Router();
    const t = router.task('orphan', () => 1);
    let code: string | undefined;
    try {
      await t.addTask([]);
    } catch (err) {
      code = (err as QTasksError).code;
    }
    expect(code).toBe(ErrorCodes.NO_APP);
  });
});
