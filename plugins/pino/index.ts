/**
 * `qtasks/pino`: an app's components log through pino. `pino({ logger })` wraps a logger the host
 * already has (a pino instance, Fastify's `app.log`...) and only ever makes children of it;
 * `pino({ level, ...pinoOptions })` creates one that this app owns. See docs/pino.md.
 */
import { createRequire } from 'node:module';
import type { DestinationStream, Logger as PinoLogger, LoggerOptions as PinoOptions } from 'pino';
import type { QueueTasks } from '../../core/app.js';
import { ErrorCodes, QTasksError, messageOf } from '../../core/errors.js';
import type { LoggerLike } from '../../core/logger.js';
import type { Plugin } from '../../core/plugin.js';

export const PLUGIN_NAME = 'pino';

/** What qtasks needs from a host logger. pino's `Logger` and Fastify's `FastifyBaseLogger` have it. */
export interface PinoLike extends LoggerLike {
  child(bindings: Record<string, unknown>, options?: { level?: string }): PinoLike;
}

/** Wrap the host's logger. Nothing else may be given: its level, streams and transports are the host's. */
export interface PinoWrapOptions {
  logger: PinoLike;
}

/** Create a pino logger for this app. `level` defaults to the app's `config.logLevel`. */
export interface PinoCreateOptions extends PinoOptions {
  logger?: undefined;
  /** Where lines go; default pino's (stdout). For transports use pino's `transport` option. */
  destination?: DestinationStream;
}

export type PinoPluginOptions = PinoWrapOptions | PinoCreateOptions;

const METHODS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'child'] as const;

type PinoFactory = (options: PinoOptions, destination?: DestinationStream) => PinoLogger;

// pino is loaded here and only when this app creates its logger: wrapping a host logger needs no
// pino package of our own (a Fastify app may only have Fastify's copy).
function loadPino(): PinoFactory {
  try {
    return createRequire(import.meta.url)('pino') as PinoFactory;
  } catch (err) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `qtasks/pino: cannot load the pino package (install it, or pass { logger }): ${messageOf(err)}`, { cause: err });
  }
}

function checkHostLogger(logger: unknown): asserts logger is PinoLike {
  if (typeof logger !== 'object' || logger === null) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, 'qtasks/pino: options.logger must be a pino-like logger object');
  }
  const missing = METHODS.filter((m) => typeof (logger as Record<string, unknown>)[m] !== 'function');
  if (missing.length > 0) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `qtasks/pino: options.logger lacks ${missing.join(', ')}; pass a pino (or pino-compatible) logger`);
  }
}

/** Logs every component of the app it is applied to through a pino child bound to `{ app, component }`. */
export function pino(options: PinoPluginOptions = {}): Plugin {
  if (typeof options !== 'object' || options === null) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, 'qtasks/pino: options must be an object');
  }
  const host = options.logger;
  if (host !== undefined) {
    checkHostLogger(host);
    const extra = Object.keys(options).filter((k) => k !== 'logger');
    if (extra.length > 0) {
      // Same rule as a client or connection options in the broker plugins: never both.
      throw new QTasksError(
        ErrorCodes.INVALID_OPTION,
        `qtasks/pino: pass either { logger } (wrap the host's) or pino options (create one), not both; got logger with ${extra.join(', ')}. To change this app's level use app.logLevel`,
      );
    }
  }

  return {
    name: PLUGIN_NAME,
    apply(app) {
      const owned = host === undefined ? create(app, options as PinoCreateOptions) : undefined;
      // One child per app: its level belongs to this app alone, and the host logger is never
      // touched (a pino child copies the parent's level at creation and keeps its own after).
      const root = (owned ?? host!).child({ app: app.name });
      app.hooks.logging.provide.tap(PLUGIN_NAME, (request) => root.child({ component: request.component, ...request.bindings }));
      if (owned !== undefined) {
        // Our logger, our buffers: flush them on stop. A host's logger is the host's to flush.
        app.hooks.lifecycle.stop.tapPromise(PLUGIN_NAME, () => new Promise<void>((resolve) => owned.flush(() => resolve())));
      }
    },
  };
}

function create(app: QueueTasks, options: PinoCreateOptions): PinoLogger {
  const { destination, logger: _none, ...pinoOptions } = options;
  const factory = loadPino();
  try {
    return factory({ ...pinoOptions, level: pinoOptions.level ?? app.config.logLevel }, destination);
  } catch (err) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `qtasks/pino: pino rejected the options for app "${app.name}": ${messageOf(err)}`, { cause: err });
  }
}
