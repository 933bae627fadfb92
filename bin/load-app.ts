/**
 * Loads `-A file[:export]` targets: the module is imported (TypeScript through tsx) and its export
 * must be a QueueTasks app. Every command that targets an app loads it here.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { QueueTasks } from '../core/app.js';
import { UsageError, oneLine } from './cli-error.js';

export interface LoadedApp {
  /** The target as given, e.g. `src/app.ts:app`: how the CLI names this app in messages. */
  label: string;
  app: QueueTasks;
}

function isApp(value: unknown): value is QueueTasks {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return typeof v.start === 'function' && typeof v.stop === 'function' && typeof v.task === 'function' && typeof v.hooks === 'object';
}

/** Splits `file:export`; a Windows drive letter (`C:\...`) is not an export separator. */
export function splitTarget(target: string): { file: string; exportName: string } {
  const i = target.lastIndexOf(':');
  if (i > 1) return { file: target.slice(0, i), exportName: target.slice(i + 1) || 'app' };
  return { file: target, exportName: 'app' };
}

let tsxRegistered = false;

async function registerTsx(file: string): Promise<void> {
  if (tsxRegistered) return;
  let api: { register: () => unknown };
  try {
    api = (await import('tsx/esm/api')) as { register: () => unknown };
  } catch {
    throw new UsageError(`qtasks: ${file} is TypeScript; install tsx (npm install tsx) or point -A at compiled JavaScript`);
  }
  api.register();
  tsxRegistered = true;
}

export async function loadApp(target: string): Promise<LoadedApp> {
  const { file, exportName } = splitTarget(target);
  const path = resolve(process.cwd(), file);
  if (!existsSync(path)) throw new UsageError(`qtasks: no such file: ${file}`);
  if (/\.[cm]?tsx?$/.test(path)) await registerTsx(file);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`qtasks: cannot load ${file}: ${oneLine(err)}`);
  }
  if (!(exportName in mod)) {
    const names = Object.keys(mod).join(', ') || 'none';
    throw new UsageError(`qtasks: ${file} has no export "${exportName}" (exports: ${names})`);
  }
  const app = mod[exportName];
  if (!isApp(app)) throw new UsageError(`qtasks: export "${exportName}" of ${file} is not a QueueTasks app`);
  return { label: target, app };
}

/** Loads every target in order; the first that fails stops the loading (nothing has started yet). */
export async function loadApps(targets: readonly string[]): Promise<LoadedApp[]> {
  const apps: LoadedApp[] = [];
  for (const target of targets) {
    const loaded = await loadApp(target);
    const twin = apps.find((a) => a.app === loaded.app);
    if (twin !== undefined) throw new UsageError(`qtasks: ${target} and ${twin.label} are the same app`);
    apps.push(loaded);
  }
  return apps;
}
