/**
 * `nestLogger()`: an app's components log through Nest's logger (whatever the Nest application
 * was given: its ConsoleLogger, `useLogger(...)`, nestjs-pino...), with context
 * `qtasks:<app>:<component>`. The level filter is the app's (`config.logLevel`, `app.logLevel`);
 * Nest's own `logLevels` filter on top.
 */
import { Logger, type LoggerService } from '@nestjs/common';
import { LevelMethods, levelValue, type LineLevel, type LoggerLike } from '../core/logger.js';
import { definePlugin, type Plugin } from '../core/plugin.js';

export const NEST_LOGGER_PLUGIN = 'nest-logger';

function plain(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, ...((value as { code?: unknown }).code !== undefined ? { code: (value as { code?: unknown }).code } : {}) };
  return value;
}

function stringify(fields: Record<string, unknown>): string {
  const keys = Object.keys(fields);
  if (keys.length === 0) return '';
  try {
    return ' ' + JSON.stringify(fields, (_k, v: unknown) => plain(v));
  } catch {
    return ` (${keys.join(', ')})`;
  }
}

class NestLoggerAdapter extends LevelMethods implements LoggerLike {
  readonly #nest: LoggerService;
  readonly #context: string;
  readonly #bindings: Record<string, unknown>;
  #level: string;
  #value: number;

  constructor(nest: LoggerService, context: string, bindings: Record<string, unknown>, level: string) {
    super();
    this.#nest = nest;
    this.#context = context;
    this.#bindings = bindings;
    this.#value = levelValue(level);
    this.#level = level;
  }

  get level(): string {
    return this.#level;
  }

  set level(level: string) {
    this.#value = levelValue(level);
    this.#level = level;
  }

  child(bindings: Record<string, unknown>): LoggerLike {
    return new NestLoggerAdapter(this.#nest, this.#context, { ...this.#bindings, ...bindings }, this.#level);
  }

  protected writeLine(level: LineLevel, obj: object | string, msg?: string): void {
    if (levelValue(level) < this.#value) return;
    const fields: Record<string, unknown> = typeof obj === 'string' ? { ...this.#bindings } : { ...this.#bindings, ...(obj as Record<string, unknown>) };
    const text = (typeof obj === 'string' ? obj : (msg ?? '')) + stringify(fields);
    const nest = this.#nest;
    switch (level) {
      case 'trace':
        (nest.verbose ?? nest.log).call(nest, text, this.#context);
        break;
      case 'debug':
        (nest.debug ?? nest.log).call(nest, text, this.#context);
        break;
      case 'info':
        nest.log(text, this.#context);
        break;
      case 'warn':
        nest.warn(text, this.#context);
        break;
      default: {
        const err = fields.err;
        const stack = err instanceof Error ? err.stack : undefined;
        const write = level === 'fatal' && nest.fatal !== undefined ? nest.fatal : nest.error;
        if (stack !== undefined) write.call(nest, text, stack, this.#context);
        else write.call(nest, text, this.#context);
      }
    }
  }
}

/**
 * Logs every component of the app through `logger`, by default a `Logger` of `@nestjs/common`,
 * which writes wherever the Nest application logs.
 */
export function nestLogger(logger: LoggerService = new Logger()): Plugin {
  return definePlugin({
    name: NEST_LOGGER_PLUGIN,
    apply(app) {
      app.hooks.logging.provide.tap(NEST_LOGGER_PLUGIN, (request) => new NestLoggerAdapter(logger, `qtasks:${app.name}:${request.component}`, { ...request.bindings }, app.config.logLevel));
    },
  });
}
