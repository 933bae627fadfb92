/**
 * A plugin is `{ name, apply(app) }`: `apply` taps the app's hooks and keeps whatever it creates
 * in its own closure, so two apps never share a plugin's state unless the user passes it in.
 */
import type { QueueTasks } from './app.js';
import { ErrorCodes, QTasksError } from './errors.js';

export interface Plugin {
  /** Unique within one app; used as the tap name of every tap the plugin makes. */
  readonly name: string;
  /** Names of plugins that must be registered before this one. */
  readonly dependencies?: readonly string[];
  apply(app: QueueTasks): void;
}

/** Identity with type checking and early validation, for plugin authors. */
export function definePlugin(plugin: Plugin): Plugin {
  if (typeof plugin !== 'object' || plugin === null || typeof plugin.name !== 'string' || plugin.name.trim() === '') {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, 'a plugin needs a non-empty name');
  }
  if (typeof plugin.apply !== 'function') {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `plugin "${plugin.name}" has no apply(app) function`);
  }
  return plugin;
}
