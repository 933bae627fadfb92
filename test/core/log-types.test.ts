/** Log levels and formats are unions: a typo does not compile. */
import { describe, expectTypeOf, it } from 'vitest';
import { Logger, QueueTasks, type Config, type LogFormat, type LogLevel } from '../../core/index.js';

describe('log level and format types', () => {
  it('are unions, in config, on the app and on the core Logger', () => {
    expectTypeOf<Config['logLevel']>().toEqualTypeOf<LogLevel>();
    expectTypeOf<Config['logFormat']>().toEqualTypeOf<LogFormat>();
    expectTypeOf<LogLevel>().toEqualTypeOf<'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'>();
    expectTypeOf<LogFormat>().toEqualTypeOf<'text' | 'json'>();
    const ok = (): QueueTasks => new QueueTasks({ globals: false, config: { logLevel: 'debug', logFormat: 'json' } });
    // @ts-expect-error a misspelt level does not compile
    const badLevel = (): QueueTasks => new QueueTasks({ globals: false, config: { logLevel: 'debg' } });
    // @ts-expect-error an unknown format does not compile
    const badFormat = (): QueueTasks => new QueueTasks({ globals: false, config: { logFormat: 'xml' } });
    const setLevel = (app: QueueTasks): void => {
      app.logLevel = 'warn';
      // @ts-expect-error neither does assigning one to app.logLevel
      app.logLevel = 'verbose';
    };
    // @ts-expect-error nor giving one to a Logger
    const badLogger = (): Logger => new Logger({ name: 'x', level: 'loud' });
    void [ok, badLevel, badFormat, setLevel, badLogger];
  });
});
