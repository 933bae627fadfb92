/**
 * The core logger. Components ask `hooks.logging.provide` for a logger; with no logging plugin
 * they get a child of `loggerMain`, and with no `loggerMain` a local `Logger` of this class.
 */

import { ErrorCodes, QTasksError } from './errors.js';

/** What every component logs through. A pino logger satisfies it, and so does `Logger`. */
export interface LoggerLike {
  level: string;
  trace(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  fatal(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): LoggerLike;
}

/** The levels qtasks knows, quietest last. A typo (`'debg'`) does not compile. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** Output of the core Logger: `text`, one human line; `json`, one JSON object a line. */
export type LogFormat = 'text' | 'json';

export const LOG_LEVELS: Readonly<Record<LogLevel, number>> = Object.freeze({
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Number.POSITIVE_INFINITY,
});

export interface LogDestination {
  write(line: string): unknown;
}

export interface LoggerOptions {
  /** Usually the app's name. */
  name: string;
  /** The component: `QueueTasks`, `Worker`, a plugin's name... */
  subname?: string;
  level?: LogLevel;
  /** `text`: one human line; `json`: one JSON object a line. */
  format?: LogFormat;
  bindings?: Record<string, unknown>;
  /** Defaults to process.stderr, so a program's own stdout stays its own. */
  destination?: LogDestination;
}

/** The numeric value of a level name; throws INVALID_OPTION for an unknown name. */
export function levelValue(level: string): number {
  const v = Object.hasOwn(LOG_LEVELS, level) ? LOG_LEVELS[level as LogLevel] : undefined;
  if (v === undefined) throw new QTasksError(ErrorCodes.INVALID_OPTION, `unknown log level "${level}" (use ${Object.keys(LOG_LEVELS).join(', ')})`);
  return v;
}

/** A level a line is written at: any but `silent`. */
export type LineLevel = Exclude<LogLevel, 'silent'>;

/**
 * The six level methods of LoggerLike, each one call of `writeLine`: a logger (Logger, the Nest
 * adapter) implements that one method, and its level filter and output, once.
 */
export abstract class LevelMethods {
  protected abstract writeLine(level: LineLevel, obj: object | string, msg?: string): void;

  trace(obj: object | string, msg?: string): void {
    this.writeLine('trace', obj, msg);
  }
  debug(obj: object | string, msg?: string): void {
    this.writeLine('debug', obj, msg);
  }
  info(obj: object | string, msg?: string): void {
    this.writeLine('info', obj, msg);
  }
  warn(obj: object | string, msg?: string): void {
    this.writeLine('warn', obj, msg);
  }
  error(obj: object | string, msg?: string): void {
    this.writeLine('error', obj, msg);
  }
  fatal(obj: object | string, msg?: string): void {
    this.writeLine('fatal', obj, msg);
  }
}

export class Logger extends LevelMethods implements LoggerLike {
  readonly name: string;
  readonly subname: string | undefined;
  readonly format: LogFormat;
  readonly bindings: Readonly<Record<string, unknown>>;
  #level: LogLevel;
  #levelValue: number;
  #destination: LogDestination;

  constructor(options: LoggerOptions) {
    super();
    this.name = options.name;
    this.subname = options.subname;
    this.format = options.format ?? 'text';
    if (this.format !== 'text' && this.format !== 'json') throw new QTasksError(ErrorCodes.INVALID_OPTION, `unknown log format "${this.format}" (use text or json)`);
    this.bindings = Object.freeze({ ...options.bindings });
    this.#level = options.level ?? 'info';
    this.#levelValue = levelValue(this.#level);
    this.#destination = options.destination ?? process.stderr;
  }

  get level(): LogLevel {
    return this.#level;
  }

  set level(level: string) {
    this.#levelValue = levelValue(level);
    this.#level = level as LogLevel; // checked by levelValue
  }

  isLevelEnabled(level: string): boolean {
    return levelValue(level) >= this.#levelValue;
  }

  /** The same logger for another component. */
  withSubname(subname: string): Logger {
    return this.derive({ subname });
  }

  child(bindings: Record<string, unknown>): Logger {
    return this.derive({ bindings });
  }

  /**
   * A new Logger on the same destination and format, with some fields replaced (`bindings` are
   * added to this logger's). An app derives from loggerMain this way, so its lines carry its own
   * name and level while sharing the main logger's sink.
   */
  derive(overrides: { name?: string; subname?: string; level?: LogLevel; bindings?: Record<string, unknown> }): Logger {
    const subname = overrides.subname ?? this.subname;
    return new Logger({
      name: overrides.name ?? this.name,
      ...(subname !== undefined ? { subname } : {}),
      level: overrides.level ?? this.#level,
      format: this.format,
      bindings: { ...this.bindings, ...overrides.bindings },
      destination: this.#destination,
    });
  }

  protected writeLine(level: LineLevel, obj: object | string, msg?: string): void {
    const value = LOG_LEVELS[level];
    if (value < this.#levelValue) return;
    const fields: Record<string, unknown> = typeof obj === 'string' ? {} : errorAware(obj);
    const message = typeof obj === 'string' ? obj : (msg ?? '');
    if (this.format === 'json') {
      const record = { level, time: Date.now(), name: this.name, subname: this.subname, ...this.bindings, ...fields, msg: message };
      this.#destination.write(JSON.stringify(record) + '\n');
      return;
    }
    const extra = { ...this.bindings, ...fields };
    const tail = Object.keys(extra).length > 0 ? ' ' + safeJson(extra) : '';
    const sub = this.subname !== undefined ? ` (${this.subname})` : '';
    this.#destination.write(`${new Date().toISOString()} [${this.name}: ${level.toUpperCase()}]${sub} ${message}${tail}\n`);
  }
}

function errorAware(obj: object): Record<string, unknown> {
  if (obj instanceof Error) return { err: { name: obj.name, message: obj.message, stack: obj.stack } };
  const out: Record<string, unknown> = { ...obj };
  const err = (obj as { err?: unknown }).err;
  if (err instanceof Error) out.err = { name: err.name, message: err.message, stack: err.stack };
  return out;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return '[unserializable]';
  }
}
