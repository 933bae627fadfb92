/** Injection tokens and the metadata `@Task` leaves on a method. */
import 'reflect-metadata';
import type { TaskOptions } from '../core/task.js';
import { ErrorCodes, QTasksError } from '../core/errors.js';

/** The registration name of `QtasksModule.forRoot` without one. */
export const DEFAULT_REGISTRATION = 'default';

/** Key of the metadata `@Task` puts on a method (read with `Reflect.getMetadata`). */
export const TASK_METADATA = 'qtasks:task';

export interface TaskMetadata {
  /** The task's name on the app. */
  readonly name: string;
  /** The registration (forRoot `registration`) whose app runs it. */
  readonly registration: string;
  readonly options: Readonly<TaskOptions>;
  /** Token of the handle `QtasksModule.forFeature` provides for this method. */
  readonly token: symbol;
}

/** Token of the app of a registration: `@Inject(getAppToken('billing'))`, or `@InjectApp('billing')`. */
export function getAppToken(registration: string = DEFAULT_REGISTRATION): string {
  return `qtasks:app:${registration}`;
}

export function getOptionsToken(registration: string): string {
  return `qtasks:options:${registration}`;
}

/** The `@Task` metadata of `cls.prototype[method]`, if any. */
export function taskMetadataOf(method: unknown): TaskMetadata | undefined {
  if (typeof method !== 'function') return undefined;
  return Reflect.getMetadata(TASK_METADATA, method) as TaskMetadata | undefined;
}

/** Token of the handle of task method `method` of `cls` (provided by `QtasksModule.forFeature([cls])`). */
export function getTaskToken(cls: abstract new (...args: never[]) => unknown, method: string): symbol {
  const meta = taskMetadataOf((cls.prototype as Record<string, unknown>)[method]);
  if (meta === undefined) throw new QTasksError(ErrorCodes.INVALID_OPTION, `qtasks/nestjs: ${cls.name}.${method} is not a task (decorate it with @Task())`);
  return meta.token;
}
