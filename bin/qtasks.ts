#!/usr/bin/env node
/**
 * `qtasks`: see bin/program.ts for the commands. Exit codes: 0 success, 1 an operation failed,
 * 2 a usage error. Errors are one line on stderr, never a stack trace.
 */
import { CommanderError } from 'commander';
import { OperationError, UsageError, oneLine } from './cli-error.js';
import { program } from './program.js';

function exitCodeOf(err: unknown): { code: number; message?: string | undefined } {
  if (err instanceof CommanderError) {
    // --help and --version end here with code 0; everything else commander rejects is usage.
    if (err.exitCode === 0) return { code: 0 };
    const message = err.message.replace(/^error: /, '').replace(/'([^']*)'/g, '"$1"');
    return { code: 2, message: err.code === 'commander.help' ? undefined : `qtasks: ${message}` };
  }
  if (err instanceof UsageError || err instanceof OperationError) return { code: err.exitCode, message: oneLine(err) };
  return { code: 1, message: `qtasks: ${oneLine(err)}` };
}

program()
  .parseAsync(process.argv)
  .then(
    () => process.exit(0),
    (err: unknown) => {
      const { code, message } = exitCodeOf(err);
      if (message !== undefined && message !== '') process.stderr.write(message + '\n');
      process.exit(code);
    },
  );
