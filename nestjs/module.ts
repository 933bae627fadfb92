/**
 * `QtasksModule`: `forRoot` / `forRootAsync` build one app per registration from Nest's DI,
 * start it at application bootstrap and drain it at shutdown; `forFeature([Provider])` provides
 * typed handles of a provider's `@Task` methods.
 */
import type { DynamicModule, FactoryProvider, InjectionToken, ModuleMetadata, OptionalFactoryDependency, Provider } from '@nestjs/common';
import { DiscoveryModule, DiscoveryService, MetadataScanner } from '@nestjs/core';
import { QueueTasks, type QueueTasksOptions, type StartOptions } from '../core/app.js';
import { ErrorCodes, QTasksError } from '../core/errors.js';
import type { Plugin } from '../core/plugin.js';
import { TaskHandle } from '../core/task.js';
import { pino, type PinoLike } from '../plugins/pino/index.js';
import { nestLogger } from './nest-logger.js';
import { QtasksRunner } from './runner.js';
import { DEFAULT_REGISTRATION, getAppToken, getOptionsToken, taskMetadataOf } from './tokens.js';

export interface QtasksModuleOptions extends QueueTasksOptions {
  /**
   * Where the app logs: `'nest'` (default) through Nest's logger; a pino logger the host already
   * has (nestjs-pino's, Fastify's); `false` for the app's own plugins or loggerMain. A logging
   * plugin in `plugins` wins over this.
   */
  logger?: 'nest' | PinoLike | false;
  /** Run a worker in this process (default true). A web process that only enqueues passes false. */
  worker?: boolean;
  /** Worker concurrency and queues over the app's config (as `app.start()` takes them). */
  concurrency?: number | undefined;
  queues?: readonly string[] | undefined;
}

interface Registration {
  /** The name this app is known by in Nest: tokens, `@Task({ registration })`, `@InjectApp(...)`. Default `"default"`. */
  registration?: string;
}

export interface QtasksModuleAsyncOptions extends Registration, Pick<ModuleMetadata, 'imports'> {
  useFactory: (...args: never[]) => QtasksModuleOptions | Promise<QtasksModuleOptions>;
  inject?: (InjectionToken | OptionalFactoryDependency)[];
}

function buildApp(options: QtasksModuleOptions): QueueTasks {
  const { logger = 'nest', worker: _w, concurrency: _c, queues: _q, ...appOptions } = options;
  const plugins: Plugin[] = [...(appOptions.plugins ?? [])];
  // Last, so a logging plugin the user gave answers first (the logging hook is first-answer-wins).
  if (logger === 'nest') plugins.push(nestLogger());
  else if (logger !== false) plugins.push(pino({ logger }));
  // Globals off unless asked for: a module inside someone's application sets no process-wide state.
  return new QueueTasks({ ...appOptions, globals: appOptions.globals ?? false, plugins });
}

function startOptions(options: QtasksModuleOptions): StartOptions {
  return { worker: options.worker ?? true, concurrency: options.concurrency, queues: options.queues };
}

function checkRegistration(registration: unknown): string {
  if (typeof registration !== 'string' || registration === '') {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `qtasks/nestjs: registration must be a non-empty string, got ${JSON.stringify(registration)}`);
  }
  return registration;
}

export class QtasksModule {
  /** One app, built from `options`. */
  static forRoot(options: QtasksModuleOptions & Registration = {}): DynamicModule {
    const { registration: given, ...appOptions } = options;
    const registration = checkRegistration(given ?? DEFAULT_REGISTRATION);
    return QtasksModule.#module(registration, [], { provide: getOptionsToken(registration), useValue: appOptions });
  }

  /** One app, built from options a factory returns (a config service, other providers...). */
  static forRootAsync(options: QtasksModuleAsyncOptions): DynamicModule {
    const registration = checkRegistration(options.registration ?? DEFAULT_REGISTRATION);
    if (typeof options.useFactory !== 'function') throw new QTasksError(ErrorCodes.INVALID_OPTION, 'qtasks/nestjs: forRootAsync needs useFactory');
    const factory = options.useFactory as (...args: unknown[]) => QtasksModuleOptions | Promise<QtasksModuleOptions>;
    return QtasksModule.#module(registration, options.imports ?? [], { provide: getOptionsToken(registration), useFactory: factory, inject: options.inject ?? [] });
  }

  /**
   * Handles of the `@Task` methods of `providers`, injectable with `@InjectTask(Provider, 'method')`.
   * Import it where a producer needs them; the providers themselves stay where they are.
   */
  static forFeature(providers: readonly (abstract new (...args: never[]) => unknown)[]): DynamicModule {
    const handles: FactoryProvider[] = [];
    for (const cls of providers) {
      const before = handles.length;
      // Own and inherited methods; a subclass's override (first seen) wins.
      const seen = new Set<string>();
      for (let proto = cls.prototype as object | null; proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
        for (const key of Object.getOwnPropertyNames(proto)) {
          if (seen.has(key)) continue;
          seen.add(key);
          const meta = taskMetadataOf(Object.getOwnPropertyDescriptor(proto, key)?.value);
          if (meta === undefined) continue;
          handles.push({ provide: meta.token, useFactory: (app: QueueTasks) => new TaskHandle(meta.name, meta.options, () => app), inject: [getAppToken(meta.registration)] });
        }
      }
      if (handles.length === before) throw new QTasksError(ErrorCodes.INVALID_OPTION, `qtasks/nestjs: forFeature: ${cls.name} has no @Task() methods`);
    }
    return { module: QtasksFeatureModule, providers: handles, exports: handles.map((h) => h.provide) };
  }

  static #module(registration: string, imports: NonNullable<ModuleMetadata['imports']>, optionsProvider: Provider): DynamicModule {
    const optionsToken = getOptionsToken(registration);
    const appToken = getAppToken(registration);
    const runnerToken = `qtasks:runner:${registration}`;
    return {
      module: QtasksModule,
      global: true,
      imports: [DiscoveryModule, ...imports],
      providers: [
        optionsProvider,
        { provide: appToken, useFactory: buildApp, inject: [optionsToken] },
        {
          provide: runnerToken,
          useFactory: (app: QueueTasks, options: QtasksModuleOptions, discovery: DiscoveryService, scanner: MetadataScanner) =>
            new QtasksRunner(app, registration, startOptions(options), discovery, scanner),
          inject: [appToken, optionsToken, DiscoveryService, MetadataScanner],
        },
      ],
      exports: [appToken],
    };
  }
}

/** The module `forFeature` returns: handles only. */
export class QtasksFeatureModule {}
