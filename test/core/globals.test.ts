import { pino as createPino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import {
  ErrorCodes,
  Logger,
  Router,
  appMain,
  loggerMain,
  setLoggerMain,
  sharedTask,
} from '../../core/index.js';
import { appsWithCleanGlobals } from '../support/apps.js';
import { LogSink } from '../support/log-sink.js';

const make = appsWithCleanGlobals();

describe('appMain', () => {
  it('is the last app constructed with globals on, and is cleared when that app stops', async () => {
    const a = make({ name: 'g-a' });
    const b = make({ name: 'g-b' });
    expect(appMain()).toBe(b);
    await a.stop();
    expect(appMain()).toBe(b);
    await b.stop();
    expect(appMain()).toBeUndefined();
  });

  it('is left alone by apps built with globals: false', () => {
    make({ name: 'quiet', globals: false });
    expect(appMain()).toBeUndefined();
    expect(loggerMain()).toBeUndefined();
  });

  it('app.task handles always use their own app, not appMain', async () => {
    const a = make({ name: 'own-a' });
    const double = a.task('double', (n: number) => n * 2);
    const b = make({ name: 'own-b' });
    expect(appMain()).toBe(b);
    expect(double.app).toBe(a);
    await a.start();
    expect((await double.addTask([21], { timeout: 5_000 })).returning).toBe(42);
  });

  it('router handles use the app that included the router', async () => {
    const router = new Router();
    const echo = router.task('echo', (s: string) => s);
    const a = make({ name: 'router-a', globals: false });
    a.includeRouter(router);
    make({ name: 'router-b' }); // becomes appMain; must not capture the router's handles
    expect(echo.app).toBe(a);
    await a.start();
    expect((await echo.addTask(['hi'], { timeout: 5_000 })).returning).toBe('hi');
  });
});

describe('with no app anywhere: NO_APP, not undefined', () => {
  it('a sharedTask rejects addTask and throws on .app', async () => {
    const ping = sharedTask('globals-ping', () => 'pong');
    await expect(ping.addTask([])).rejects.toMatchObject({ code: ErrorCodes.NO_APP });
    expect(() => ping.app).toThrow(expect.objectContaining({ code: ErrorCodes.NO_APP }));
  });

  it('a router no app included rejects addTask', async () => {
    const router = new Router();
    const orphan = router.task('orphan', () => 1);
    await expect(orphan.addTask([])).rejects.toMatchObject({ code: ErrorCodes.NO_APP });
  });

  it('a sharedTask resolves appMain at call time, so an app made later runs it', async () => {
    const shout = sharedTask('globals-shout', (s: string) => s.toUpperCase());
    const app = make({ name: 'shared-late' });
    await app.start();
    expect((await shout.addTask(['hey'], { timeout: 5_000 })).returning).toBe('HEY');
  });

  it('an app with sharedTasks: false does not adopt shared definitions', async () => {
    sharedTask('globals-skipped', () => 1);
    const app = make({ name: 'no-shared', globals: false, sharedTasks: false });
    await app.start({ worker: false });
    expect(app.tasks.has('globals-skipped')).toBe(false);
  });
});

describe('loggerMain', () => {
  it('is set by the first app with globals on and not replaced by later ones or over a host’s own', () => {
    const first = make({ name: 'first' });
    const main = loggerMain();
    expect(main).toBeInstanceOf(Logger);
    expect((main as Logger).name).toBe('first');
    make({ name: 'second' });
    expect(loggerMain()).toBe(main);

    const hostOwn = new Logger({ name: 'host', destination: new LogSink() });
    setLoggerMain(hostOwn);
    make({ name: 'third' });
    expect(loggerMain()).toBe(hostOwn);
    void first;
  });

  it('without a logging plugin, apps derive from it: its sink and format, their own name and level', () => {
    const sink = new LogSink();
    setLoggerMain(new Logger({ name: 'main', format: 'json', level: 'error', destination: sink }));
    const chatty = make({ name: 'chatty', globals: false, config: { logLevel: 'debug' } });
    const terse = make({ name: 'terse', globals: false, config: { logLevel: 'warn' } });
    chatty.logger('Worker').debug('chatty debug');
    terse.logger('Worker').info('terse info');
    terse.logger('Task', { taskId: 't1', task: 'x', attempt: 2 }).warn('terse warn');
    expect(sink.records.map((r) => r.msg)).toEqual(['chatty debug', 'terse warn']);
    expect(sink.records[0]).toMatchObject({ name: 'chatty', subname: 'Worker', level: 'debug' });
    expect(sink.records[1]).toMatchObject({ name: 'terse', subname: 'Task', taskId: 't1', task: 'x', attempt: 2 });
  });

  it('a foreign loggerMain (a host pino) gets children bound to { app, component } at its own level', () => {
    const sink = new LogSink();
    setLoggerMain(createPino({ level: 'warn' }, sink));
    const app = make({ name: 'foreign', globals: false });
    app.logger('Storage').info('dropped at host level');
    app.logger('Storage').warn('kept');
    expect(sink.records).toHaveLength(1);
    expect(sink.records[0]).toMatchObject({ app: 'foreign', component: 'Storage', msg: 'kept' });
  });
});

describe('local fallback: no plugin, no loggerMain', () => {
  it('each app makes its own Logger of the core class, at its own config level', () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const a = make({ name: 'local-a', globals: false, config: { logLevel: 'debug', logFormat: 'json' } });
    const b = make({ name: 'local-b', globals: false, config: { logLevel: 'info', logFormat: 'json' } });
    const la = a.logger('Worker');
    expect(la).toBeInstanceOf(Logger);
    la.debug('a debug');
    b.logger('Worker').debug('b debug');
    a.logLevel = 'error';
    la.warn('a warn after error level');
    b.logger('Worker').warn('b warn');
    const records = written.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => r.msg)).toEqual(['a debug', 'b warn']);
    expect(records[0]).toMatchObject({ name: 'local-a', subname: 'Worker' });
    expect(loggerMain()).toBeUndefined();
  });
});
