/**
 * qtasks/nestjs against real Nest: @nestjs/testing modules, a real HTTP server through
 * @nestjs/platform-express, and the Redis plugin.
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { Body, Controller, Injectable, Module, Post, type DynamicModule, type INestApplication, type LoggerService, type Provider, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Redis } from 'ioredis';
import { pino as createPino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { ErrorCodes, QueueTasks, type TaskContext } from '../../core/index.js';
import { InjectApp, InjectTask, QtasksModule, Task, getAppToken, type TaskRef } from '../../nestjs/index.js';
import { redis } from '../../plugins/redis/index.js';
import { gate, waitUntil } from '../contracts/helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';
import { LogSink } from '../support/log-sink.js';

/** A dependency the task provider gets injected; the task's result shows it was used. */
@Injectable()
class Greeter {
  readonly calls: string[] = [];
  greet(name: string): string {
    this.calls.push(name);
    return `hello ${name}`;
  }
}

/** Settings a config service would hold: forRootAsync reads the app's options from it. */
class QueueSettings {
  constructor(
    readonly appName: string,
    readonly redisUrl: string,
  ) {}
}

const release = { current: gate() };

@Injectable()
class MailService {
  running = 0;
  constructor(readonly greeter: Greeter) {}

  @Task({ name: 'greet' })
  async greet(name: string): Promise<string> {
    return this.greeter.greet(name);
  }

  @Task({ name: 'slow', echo: true })
  async slow(ctx: TaskContext, label: string): Promise<string> {
    this.running++;
    await release.current.promise;
    return `${label} done in ${ctx.app.name}`;
  }
}

@Controller()
class SignupController {
  constructor(@InjectTask(MailService, 'greet') private readonly greet: TaskRef<MailService, 'greet'>) {}

  @Post('signup')
  async signup(@Body() body: { name: string }): Promise<{ id: string; status: string; result: string | undefined }> {
    const record = await this.greet.addTask([body.name], { timeout: 10_000 });
    return { id: record.id, status: record.status, result: record.returning };
  }
}

function rootModule(imports: (DynamicModule | Type)[], providers: Provider[], controllers: Type[] = []): Type {
  @Module({ imports, providers, controllers })
  class Root {}
  return Root;
}

const names: string[] = [];
let admin: Redis;
let nest: INestApplication | undefined;
beforeAll(async () => {
  admin = await adminClient();
});
afterEach(async () => {
  await nest?.close();
  nest = undefined;
  release.current = gate();
});
afterAll(async () => {
  await deleteAppKeys(admin, names);
  admin.disconnect();
});

function uniqueName(prefix: string): string {
  const name = `${prefix}-${randomUUID().slice(0, 8)}`;
  names.push(name);
  return name;
}

/** The Redis app: options from a config provider, the task on MailService, the handle in the controller. */
function redisModule(appName: string): Type {
  const settings: Provider = { provide: QueueSettings, useValue: new QueueSettings(appName, REDIS_URL) };
  @Module({ providers: [settings], exports: [QueueSettings] })
  class ConfigModule {}
  return rootModule(
    [
      QtasksModule.forRootAsync({
        imports: [ConfigModule],
        inject: [QueueSettings],
        useFactory: (s: QueueSettings) => ({ name: s.appName, plugins: [redis({ url: s.redisUrl, blockTimeoutMs: 500 })], config: { logLevel: 'silent', stopTimeoutMs: 10_000 } }),
      }),
      QtasksModule.forFeature([MailService]),
    ],
    [Greeter, MailService],
    [SignupController],
  );
}

describe('QtasksModule on Redis, through a real HTTP server', () => {
  it('a request enqueues a task declared on a provider method; the worker runs it with the provider’s dependency; the result comes back', async () => {
    const appName = uniqueName('nest-http');
    const moduleRef = await Test.createTestingModule({ imports: [redisModule(appName)] }).compile();
    nest = moduleRef.createNestApplication({ logger: false });
    await nest.listen(0, '127.0.0.1');
    const url = (await nest.getUrl()).replace('[::1]', '127.0.0.1');

    const res = await fetch(`${url}/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ada' }) });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { id: string; status: string; result: string };
    expect(body).toMatchObject({ status: 'success', result: 'hello ada' });
    expect(moduleRef.get(Greeter).calls).toEqual(['ada']);

    // The app is injectable, and it ran on Redis: another process's producer finds the record.
    const app = nest.get<QueueTasks>(getAppToken());
    expect(app.name).toBe(appName);
    expect(app.broker.name).toBe('redis');
    const probe = new QueueTasks({ name: appName, globals: false, config: { logLevel: 'silent' }, plugins: [redis({ url: REDIS_URL })] });
    await probe.start({ worker: false });
    try {
      expect((await probe.get(body.id))?.returning).toBe('hello ada');
    } finally {
      await probe.stop();
    }
  });

  it('app.close() drains a running task before the app stops', async () => {
    const appName = uniqueName('nest-drain');
    const moduleRef = await Test.createTestingModule({ imports: [redisModule(appName)] }).compile();
    nest = moduleRef.createNestApplication({ logger: false });
    await nest.init();
    const app = nest.get<QueueTasks>(getAppToken());
    const mail = nest.get(MailService);
    const { id } = await app.addTask('slow', ['report']);
    await waitUntil(() => mail.running === 1, 'task running');

    let closed = false;
    const closing = nest.close().then(() => (closed = true));
    nest = undefined;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(closed).toBe(false); // still draining
    release.current.open();
    await closing;
    expect(app.state).toBe('stopped');

    const probe = new QueueTasks({ name: appName, globals: false, config: { logLevel: 'silent' }, plugins: [redis({ url: REDIS_URL })] });
    await probe.start({ worker: false });
    try {
      const record = await probe.get(id);
      expect(record).toMatchObject({ status: 'success', returning: `report done in ${appName}` });
    } finally {
      await probe.stop();
    }
  });

  it('a misconfigured plugin fails bootstrap with an error naming the app and the cause', async () => {
    const appName = uniqueName('nest-bad');
    const moduleRef = await Test.createTestingModule({
      imports: [
        rootModule(
          [QtasksModule.forRoot({ name: appName, plugins: [redis({ url: 'redis://127.0.0.1:1', redisOptions: { maxRetriesPerRequest: 0 } })], config: { logLevel: 'silent', startTimeoutMs: 1_000 } })],
          [],
        ),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    const err = await app.init().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: ErrorCodes.START_FAILED });
    expect((err as Error).message).toMatch(new RegExp(`^qtasks/nestjs: app "${appName}" \\(registration "default"\\) failed to start: `));
    expect(app.get<QueueTasks>(getAppToken()).state).toBe('stopped');
    await app.close();
  });
});

// Two registrations: each provider names the app that runs its tasks.
@Injectable()
class BillingTasks {
  @Task({ name: 'who', registration: 'billing' })
  who(): string {
    return 'billing';
  }

  @Task({ name: 'invoice', registration: 'billing' })
  invoice(n: number): number {
    return n * 2;
  }
}

@Injectable()
class SearchTasks {
  @Task({ name: 'who', registration: 'search' })
  who(): string {
    return 'search';
  }
}

@Injectable()
class Both {
  constructor(
    @InjectApp('billing') readonly billing: QueueTasks,
    @InjectApp('search') readonly search: QueueTasks,
    @InjectTask(BillingTasks, 'invoice') readonly invoice: TaskRef<BillingTasks, 'invoice'>,
  ) {}
}

describe('named registrations', () => {
  it('two apps in one Nest application do not see each other’s tasks', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        rootModule(
          [
            QtasksModule.forRoot({ registration: 'billing', name: 'billing', config: { logLevel: 'silent' } }),
            QtasksModule.forRoot({ registration: 'search', name: 'search', config: { logLevel: 'silent' } }),
            QtasksModule.forFeature([BillingTasks]),
          ],
          [BillingTasks, SearchTasks, Both],
        ),
      ],
    }).compile();
    nest = moduleRef.createNestApplication({ logger: false });
    await nest.init();
    const { billing, search, invoice } = nest.get(Both);
    expect(billing).not.toBe(search);
    expect([...billing.tasks.keys()].sort()).toEqual(['invoice', 'who']);
    expect([...search.tasks.keys()]).toEqual(['who']);
    expect((await billing.addTask('who', [], { timeout: 5_000 })).returning).toBe('billing');
    expect((await search.addTask('who', [], { timeout: 5_000 })).returning).toBe('search');
    expect((await invoice.addTask([21], { timeout: 5_000 })).returning).toBe(42);
    // search's worker does not know billing's task.
    const unknown = await search.addTask('invoice', [1], { timeout: 5_000 });
    expect(unknown.status).toBe('error');
    expect(unknown.error?.code).toBe(ErrorCodes.UNKNOWN_TASK);
    expect(invoice.app).toBe(billing);
  });
});

@Injectable()
class OrphanTasks {
  @Task({ name: 'lost', registration: 'nobody' })
  lost(): string {
    return 'never';
  }
}

describe('a task for a registration that does not exist', () => {
  it('fails bootstrap, naming the task and the registration', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [rootModule([QtasksModule.forRoot({ name: 'orphans', config: { logLevel: 'silent' } })], [OrphanTasks])],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await expect(app.init()).rejects.toThrow('task "lost" is for registration "nobody", but no QtasksModule.forRoot/forRootAsync has that registration');
    await app.close();
  });
});

describe('logging', () => {
  it('goes through Nest’s logger by default, with the app and component as context', async () => {
    const lines: { level: string; message: string; context: string }[] = [];
    const record = (level: string) => (message: unknown, ...rest: unknown[]) => lines.push({ level, message: String(message), context: String(rest[rest.length - 1]) });
    const spy: LoggerService = { log: record('log'), error: record('error'), warn: record('warn'), debug: record('debug'), verbose: record('verbose') };
    const moduleRef = await Test.createTestingModule({ imports: [rootModule([QtasksModule.forRoot({ name: 'nest-logs' })], [])] }).compile();
    nest = moduleRef.createNestApplication({ logger: spy });
    await nest.init();
    const started = lines.find((l) => l.message.startsWith('app started'));
    expect(started).toMatchObject({ level: 'log', context: 'qtasks:nest-logs:QueueTasks' });
    expect(started?.message).toContain('"worker":true');
  });

  it('or through the host’s pino logger', async () => {
    const sink = new LogSink();
    const host = createPino({ level: 'info' }, sink);
    const moduleRef = await Test.createTestingModule({ imports: [rootModule([QtasksModule.forRoot({ name: 'nest-pino', logger: host })], [])] }).compile();
    nest = moduleRef.createNestApplication({ logger: false });
    await nest.init();
    expect(sink.where({ app: 'nest-pino', component: 'QueueTasks', msg: 'app started' })).toHaveLength(1);
  });
});

describe('types', () => {
  it('the injected handle has the method’s parameter and result types', () => {
    type Greet = TaskRef<MailService, 'greet'>;
    expectTypeOf<Parameters<Greet['addTask']>[0]>().toEqualTypeOf<[name: string]>();
    expectTypeOf<Awaited<ReturnType<Greet['run']>>>().toEqualTypeOf<string>();
    // An echo method's TaskContext is the worker's, not the producer's.
    expectTypeOf<Parameters<TaskRef<MailService, 'slow'>['addTask']>[0]>().toEqualTypeOf<[label: string]>();
    // @ts-expect-error no such method (and at run time, a clear error)
    expect(() => InjectTask(MailService, 'nope')).toThrow('MailService.nope is not a task');

    class Wrong {
      // @ts-expect-error a TaskContext first needs echo: true
      @Task({ name: 'x' })
      x(ctx: TaskContext): string {
        return ctx.id;
      }

      // @ts-expect-error echo: true needs a TaskContext first
      @Task({ name: 'y', echo: true })
      y(n: number): number {
        return n;
      }
    }
    expect(Wrong).toBeDefined();
  });
});
