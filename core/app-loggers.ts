/**
 * The loggers one app hands out. Order of preference: the `logging.provide` hook (a logging
 * plugin), then a logger derived from `loggerMain`, then a local `Logger`. Per app, so one
 * app's level never changes another's.
 */
import type { QueueTasks } from './app.js';
import { Logger, levelValue, type LogLevel, type LoggerLike } from './logger.js';
import { loggerMain } from './state.js';

export class AppLoggers {
  readonly #app: QueueTasks;
  /** Component loggers handed out so far, so that a level change reaches them. */
  readonly #made = new Map<string, LoggerLike>();
  /** Set through `app.logLevel = ...`; applies to every logger handed out from then on. */
  #levelOverride: LogLevel | undefined;

  constructor(app: QueueTasks) {
    this.#app = app;
  }

  /** A logger for `component`; made once per component, or fresh when `bindings` are given (a task's). */
  get(component: string, bindings?: Record<string, unknown>): LoggerLike {
    if (bindings !== undefined) return this.#make(component, bindings);
    let made = this.#made.get(component);
    if (made === undefined) this.#made.set(component, (made = this.#make(component, undefined)));
    return made;
  }

  /** `config.logLevel` for loggers the kernel makes; the provider's level for supplied ones. */
  get level(): string {
    return this.#levelOverride ?? this.get('QueueTasks').level;
  }

  set level(level: LogLevel) {
    levelValue(level);
    this.#levelOverride = level;
    for (const logger of this.#made.values()) logger.level = level;
  }

  #make(component: string, bindings: Record<string, unknown> | undefined): LoggerLike {
    const app = this.#app;
    const provided = app.hooks.logging.provide.call({ app, component, ...(bindings !== undefined ? { bindings } : {}) });
    let made: LoggerLike;
    if (provided !== undefined) {
      made = provided;
    } else {
      const main = loggerMain();
      const level = this.#levelOverride ?? app.config.logLevel;
      if (main instanceof Logger) {
        // Same sink and format as the main logger, but this app's name and level: no app's
        // config decides another's level (QTasks' shared stdlib loggers are last-writer-wins).
        made = main.derive({ name: app.name, subname: component, level, ...(bindings !== undefined ? { bindings } : {}) });
      } else if (main !== undefined) {
        // A foreign main logger (a host's pino...) keeps its own level unless logLevel is set.
        made = main.child({ app: app.name, component, ...bindings });
      } else {
        return new Logger({ name: app.name, subname: component, level, format: app.config.logFormat, ...(bindings !== undefined ? { bindings } : {}) });
      }
    }
    if (this.#levelOverride !== undefined) made.level = this.#levelOverride;
    return made;
  }
}
