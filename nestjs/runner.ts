/**
 * One registration's lifecycle inside Nest: at application bootstrap it registers the `@Task`
 * methods of every singleton provider on the app and starts it; before application shutdown
 * (after `onModuleDestroy`, while the providers the tasks use are still up) it drains and stops.
 */
import type { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import type { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { QueueTasks, StartOptions } from '../core/app.js';
import { ErrorCodes, QTasksError, messageOf } from '../core/errors.js';
import { getAppToken, taskMetadataOf } from './tokens.js';
import type { EchoTaskOptions, PlainTaskOptions } from '../core/task.js';

export class QtasksRunner implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly #app: QueueTasks;
  readonly #registration: string;
  readonly #start: StartOptions;
  readonly #discovery: DiscoveryService;
  readonly #scanner: MetadataScanner;

  constructor(app: QueueTasks, registration: string, start: StartOptions, discovery: DiscoveryService, scanner: MetadataScanner) {
    this.#app = app;
    this.#registration = registration;
    this.#start = start;
    this.#discovery = discovery;
    this.#scanner = scanner;
  }

  async onApplicationBootstrap(): Promise<void> {
    this.#registerTasks();
    try {
      await this.#app.start(this.#start);
    } catch (err) {
      throw new QTasksError(ErrorCodes.START_FAILED, `qtasks/nestjs: app "${this.#app.name}" (registration "${this.#registration}") failed to start: ${messageOf(err)}`, { cause: err });
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.#app.stop();
  }

  #registerTasks(): void {
    const seen = new Set<object>();
    const providers = this.#discovery.getProviders();
    const registered = new Set(providers.map((w) => w.token));
    for (const wrapper of providers) {
      const instance: unknown = wrapper.instance;
      if (instance === null || typeof instance !== 'object' || seen.has(instance)) continue;
      const proto = Object.getPrototypeOf(instance) as object | null;
      if (proto === null || proto === Object.prototype) continue;
      seen.add(instance);
      for (const method of this.#scanner.getAllMethodNames(proto)) {
        const fn = (proto as Record<string, unknown>)[method];
        const meta = taskMetadataOf(fn);
        if (meta === undefined) continue;
        if (meta.registration !== this.#registration) {
          // A task for an app nobody registered would otherwise never run, silently.
          if (!registered.has(getAppToken(meta.registration))) {
            throw new QTasksError(
              ErrorCodes.INVALID_OPTION,
              `qtasks/nestjs: task "${meta.name}" is for registration "${meta.registration}", but no QtasksModule.forRoot/forRootAsync has that registration`,
            );
          }
          continue;
        }
        if (!wrapper.isDependencyTreeStatic()) {
          throw new QTasksError(
            ErrorCodes.INVALID_OPTION,
            `qtasks/nestjs: task "${meta.name}" is declared on ${wrapper.name.toString()}, which is request-scoped or transient; declare tasks on singleton providers`,
          );
        }
        const bound = (fn as (...args: unknown[]) => unknown).bind(instance);
        const options = { ...meta.options, name: meta.name };
        // Registered from metadata: the options (an args schema included) are checked at run time.
        if (options.echo === true) this.#app.task(options as EchoTaskOptions, bound);
        else this.#app.task(options as PlainTaskOptions, bound);
      }
    }
  }
}
