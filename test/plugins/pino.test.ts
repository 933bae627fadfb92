import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino as createPino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, QueueTasks, type TaskContext } from '../../core/index.js';
import { pino, type PinoLike } from '../../plugins/pino/index.js';
import { LogSink } from '../support/log-sink.js';

const apps: QueueTasks[] = [];
function track(app: QueueTasks): QueueTasks {
  apps.push(app);
  return app;
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop()));
});

function hostLogger(level = 'info'): { sink: LogSink; host: ReturnType<typeof createPino> } {
  const sink = new LogSink();
  return { sink, host: createPino({ level, base: { service: 'host' } }, sink) };
}

describe('pino({ logger }): wrapping the host logger', () => {
  it('answers components with a child bound to { app, component }, keeping the host bindings', () => {
    const { sink, host } = hostLogger();
    const app = track(new QueueTasks({ name: 'wrap', globals: false, plugins: [pino({ logger: host })] }));
    app.logger('Worker').info({ queue: 'default' }, 'consuming');
    const [rec] = sink.withMsg('consuming');
    expect(rec).toMatchObject({ app: 'wrap', component: 'Worker', service: 'host', queue: 'default', level: 30 });
  });

  it('never mutates the host logger: level and bindings stay as the host set them', () => {
    const { host } = hostLogger('warn');
    const before = host.bindings();
    const app = track(new QueueTasks({ name: 'nomut', globals: false, plugins: [pino({ logger: host })] }));
    app.logLevel = 'trace';
    app.logger('Worker').info('x');
    expect(host.level).toBe('warn');
    expect(host.bindings()).toEqual(before);
  });

  it('binds { taskId, task, attempt } to ctx.logger inside a task', async () => {
    const { sink, host } = hostLogger();
    const app = track(new QueueTasks({ name: 'tasklog', globals: false, plugins: [pino({ logger: host })] }));
    const hello = app.task({ name: 'hello', echo: true }, (ctx: TaskContext, who: string) => {
      ctx.logger.info({ who }, 'hello from task');
      return who;
    });
    await app.start();
    const record = await hello.addTask(['ada'], { timeout: 5_000 });
    expect(record.status).toBe('success');
    const [rec] = sink.withMsg('hello from task');
    expect(rec).toMatchObject({ app: 'tasklog', component: 'Task', taskId: record.id, task: 'hello', attempt: 1, who: 'ada' });
    // The kernel's own lines go through the plugin too.
    expect(sink.where({ app: 'tasklog', component: 'QueueTasks', msg: 'app started' })).toHaveLength(1);
    // Quiet by default: one info line at start (the worker's own is debug), one after stop.
    expect(sink.where({ app: 'tasklog', component: 'Worker', msg: 'worker consuming' })).toHaveLength(0);
    expect(sink.where({ app: 'tasklog', component: 'QueueTasks', msg: 'app started' })[0]).toMatchObject({ worker: true, queues: ['default'], concurrency: 10 });
    await app.stop();
    expect(sink.where({ app: 'tasklog', component: 'QueueTasks', msg: 'app stopped' })).toHaveLength(1);
    expect(sink.records.filter((r) => r.level === 30 && r.component !== 'Task').map((r) => r.msg)).toEqual(['app started', 'app stopped']);
  });

  it('works with a logger typed as Fastify declares it (a Pick of pino plus child)', () => {
    const { sink, host } = hostLogger();
    const narrow: PinoLike = host.child({ reqId: 'r-1' });
    const app = track(new QueueTasks({ name: 'narrow', globals: false, plugins: [pino({ logger: narrow })] }));
    app.logger('Broker').warn('careful');
    expect(sink.withMsg('careful')[0]).toMatchObject({ reqId: 'r-1', app: 'narrow', component: 'Broker', level: 40 });
  });
});

describe('levels are per app', () => {
  it('changing one app’s level leaves another app on the same host logger alone', async () => {
    const { sink, host } = hostLogger('info');
    const a = track(new QueueTasks({ name: 'lvl-a', globals: false, plugins: [pino({ logger: host })] }));
    const b = track(new QueueTasks({ name: 'lvl-b', globals: false, plugins: [pino({ logger: host })] }));
    const aWorker = a.logger('Worker'); // handed out before the change: must follow it
    a.logLevel = 'debug';
    aWorker.debug('a early');
    a.logger('Task', { taskId: 't' }).debug('a task');
    b.logger('Worker').debug('b dropped');
    b.logger('Worker').info('b kept');
    expect(sink.withMsg('a early')).toHaveLength(1);
    expect(sink.withMsg('a task')[0]).toMatchObject({ app: 'lvl-a', taskId: 't', level: 20 });
    expect(sink.withMsg('b dropped')).toHaveLength(0);
    expect(sink.withMsg('b kept')).toHaveLength(1);
    expect(a.logLevel).toBe('debug');
    expect(b.logLevel).toBe('info');
    expect(host.level).toBe('info');
  });

  it('apps follow the host’s level (pino children inherit it live) until app.logLevel detaches that app only', () => {
    const { sink, host } = hostLogger('info');
    const a = track(new QueueTasks({ name: 'follow-a', globals: false, plugins: [pino({ logger: host })] }));
    const b = track(new QueueTasks({ name: 'follow-b', globals: false, plugins: [pino({ logger: host })] }));
    const aWorker = a.logger('Worker');
    const bWorker = b.logger('Worker');
    host.level = 'error'; // the host's choice reaches apps that have no level of their own
    aWorker.info('a while host at error');
    bWorker.info('b while host at error');
    a.logLevel = 'info';
    aWorker.info('a after own level');
    bWorker.info('b still following host');
    host.level = 'debug';
    aWorker.debug('a ignores host debug');
    bWorker.debug('b follows host debug');
    expect(sink.records.map((r) => r.msg)).toEqual(['a after own level', 'b follows host debug']);
  });

  it('rejects an unknown level with INVALID_OPTION', () => {
    const { host } = hostLogger();
    const app = track(new QueueTasks({ name: 'badlvl', globals: false, plugins: [pino({ logger: host })] }));
    // @ts-expect-error a level qtasks does not know does not compile; JavaScript callers get the error
    expect(() => (app.logLevel = 'loud')).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }));
  });
});

describe('pino({ level, ...options }): creating a logger', () => {
  it('creates one logger per app, at the given level, writing to the given destination', () => {
    const sink = new LogSink();
    const plugin = pino({ level: 'debug', destination: sink, base: undefined });
    const a = track(new QueueTasks({ name: 'own-a', globals: false, plugins: [plugin] }));
    const b = track(new QueueTasks({ name: 'own-b', globals: false, plugins: [plugin] }));
    a.logLevel = 'error';
    a.logger('Worker').debug('a debug');
    b.logger('Worker').debug('b debug');
    expect(sink.withMsg('a debug')).toHaveLength(0);
    expect(sink.withMsg('b debug')[0]).toMatchObject({ app: 'own-b', component: 'Worker', level: 20 });
  });

  it('flushes the logger it created when the app stops, and never a wrapped one', async () => {
    class FlushingSink extends LogSink {
      flushes = 0;
      flush(cb: () => void): void {
        this.flushes++;
        cb();
      }
    }
    const owned = new FlushingSink();
    const hosted = new FlushingSink();
    const a = track(new QueueTasks({ name: 'flush-own', globals: false, plugins: [pino({ destination: owned })] }));
    const b = track(new QueueTasks({ name: 'flush-host', globals: false, plugins: [pino({ logger: createPino({}, hosted) })] }));
    await Promise.all([a.start({ worker: false }), b.start({ worker: false })]);
    await Promise.all([a.stop(), b.stop()]);
    expect(owned.flushes).toBe(1);
    expect(hosted.flushes).toBe(0);
  });

  it('defaults to the app’s config.logLevel', () => {
    const sink = new LogSink();
    const app = track(new QueueTasks({ name: 'cfg', globals: false, config: { logLevel: 'warn' }, plugins: [pino({ destination: sink })] }));
    app.logger('Worker').info('dropped');
    app.logger('Worker').warn('kept');
    expect(sink.records.map((r) => r.msg)).toEqual(['kept']);
  });

  it('reports options pino rejects as INVALID_OPTION when the app is built', () => {
    expect(() => new QueueTasks({ name: 'bad', globals: false, plugins: [pino({ level: 'loudest' })] })).toThrow(
      expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }),
    );
  });
});

describe('option errors', () => {
  it('logger together with pino options is INVALID_OPTION', () => {
    const { host } = hostLogger();
    expect(() => pino({ logger: host, level: 'debug' } as never)).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }));
  });

  it('a logger without the pino methods is INVALID_OPTION naming what is missing', () => {
    const notALogger = { info() {}, level: 'info' };
    expect(() => pino({ logger: notALogger as never })).toThrow(/lacks trace, debug, warn, error, fatal, child/);
    expect(() => pino({ logger: notALogger as never })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }));
  });
});

describe('pino is the plugin’s dependency only', () => {
  it('no file in core/ imports pino', () => {
    const dir = fileURLToPath(new URL('../../core/', import.meta.url));
    const offenders = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .filter((f) => /from\s+['"]pino['"]|import\(\s*['"]pino['"]|require\(\s*['"]pino['"]/.test(readFileSync(dir + f, 'utf8')));
    expect(offenders).toEqual([]);
  });
});
