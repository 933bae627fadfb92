#!/usr/bin/env node
/**
 * `qtasks run -A path/to/app.ts:app` loads a user's module and runs its app's worker until
 * SIGINT/SIGTERM, then drains in-flight tasks and exits 0. A bad target is one line on stderr
 * and exit code 2, never a stack trace.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const USAGE = `usage: qtasks run -A <module>[:<export>]

  -A, --app <module>[:<export>]   file that exports the app (export name defaults to "app")
  -h, --help                      this text

TypeScript modules are loaded through tsx (npm install tsx).`;

class UsageError extends Error {}

interface RunnableApp {
  readonly name: string;
  runForever(): Promise<void>;
}

function isApp(value: unknown): value is RunnableApp {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return typeof v.runForever === 'function' && typeof v.task === 'function' && typeof v.hooks === 'object';
}

function parse(argv: string[]): { target: string } {
  if (argv.length === 0 || argv.includes('-h') || argv.includes('--help')) throw new UsageError(USAGE);
  const [command, ...rest] = argv;
  if (command !== 'run') throw new UsageError(`unknown command "${command ?? ''}"\n${USAGE}`);
  let target: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === '-A' || arg === '--app') target = rest[++i];
    else if (arg?.startsWith('--app=')) target = arg.slice('--app='.length);
    else throw new UsageError(`unknown argument "${arg ?? ''}"\n${USAGE}`);
  }
  if (target === undefined || target === '') throw new UsageError(`missing -A <module>[:<export>]\n${USAGE}`);
  return { target };
}

/** Splits `file:export`; a Windows drive letter (`C:\...`) is not an export separator. */
function splitTarget(target: string): { file: string; exportName: string } {
  const i = target.lastIndexOf(':');
  if (i > 1) return { file: target.slice(0, i), exportName: target.slice(i + 1) || 'app' };
  return { file: target, exportName: 'app' };
}

async function load(target: string): Promise<RunnableApp> {
  const { file, exportName } = splitTarget(target);
  const path = resolve(process.cwd(), file);
  if (!existsSync(path)) throw new UsageError(`qtasks: no such file: ${file}`);
  if (/\.[cm]?tsx?$/.test(path)) {
    let api: { register: () => unknown };
    try {
      api = (await import('tsx/esm/api')) as { register: () => unknown };
    } catch {
      throw new UsageError(`qtasks: ${file} is TypeScript; install tsx (npm install tsx) or point -A at compiled JavaScript`);
    }
    api.register();
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`qtasks: cannot load ${file}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  if (!(exportName in mod)) {
    const names = Object.keys(mod).join(', ') || 'none';
    throw new UsageError(`qtasks: ${file} has no export "${exportName}" (exports: ${names})`);
  }
  const app = mod[exportName];
  if (!isApp(app)) throw new UsageError(`qtasks: export "${exportName}" of ${file} is not a QueueTasks app`);
  return app;
}

async function main(): Promise<number> {
  const { target } = parse(process.argv.slice(2));
  const app = await load(target);
  await app.runForever();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      if (err.message === USAGE) {
        process.stdout.write(USAGE + '\n');
        process.exit(0);
      }
      process.stderr.write(err.message + '\n');
      process.exit(2);
    }
    process.stderr.write(`qtasks: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
