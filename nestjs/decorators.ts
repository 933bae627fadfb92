/**
 * `@Task()` declares a task on a provider's method; `@InjectApp()` and `@InjectTask()` inject
 * the app and a typed handle. Legacy (experimentalDecorators) signatures, as NestJS uses.
 */
import { Inject } from '@nestjs/common';
import { checkTaskName, checkTaskOptions, type TaskContext, type TaskHandle, type TaskOptions } from '../core/task.js';
import { DEFAULT_REGISTRATION, TASK_METADATA, getAppToken, getTaskToken, type TaskMetadata } from './tokens.js';

/** `@Task` options: a task's options, plus the registration whose app runs it. */
export interface NestTaskOptions extends Omit<TaskOptions, 'generateHandler'> {
  /** Default `ClassName.method`; set it (class names do not survive minifiers). */
  name?: string;
  /** The `forRoot` registration whose app runs this task (default `"default"`). */
  registration?: string;
}

type AnyMethod = (...args: never[]) => unknown;
type FirstIsContext<F> = F extends (...args: infer P) => unknown ? (P extends [TaskContext, ...unknown[]] ? true : false) : false;

/** The method names of `C`. */
export type MethodKeys<C> = { [K in keyof C]: C[K] extends AnyMethod ? K : never }[keyof C] & string;

/** A task method's arguments as a producer passes them (the TaskContext of an `echo` method is the worker's). */
export type TaskArgs<F> = F extends (...args: infer P) => unknown ? (P extends [TaskContext, ...infer A] ? A : P) : never;

/** The handle of task method `K` of provider `C`: `addTask` takes the method's parameters and yields its result. */
export type TaskRef<C, K extends MethodKeys<C>> = C[K] extends (...args: never[]) => infer R ? TaskHandle<TaskArgs<C[K]>, R> : never;

type MethodDecorator<F> = (target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<F>) => void;

/** A method whose first parameter is a TaskContext needs `echo: true`, and only such a method may have it. */
export function Task(options: NestTaskOptions & { echo: true }): <F extends (ctx: TaskContext, ...args: never[]) => unknown>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<F>) => void;
export function Task(
  options?: string | (NestTaskOptions & { echo?: false }),
): <F extends AnyMethod>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<F> & (FirstIsContext<F> extends true ? { 'a method taking a TaskContext first needs @Task({ echo: true })': never } : unknown)) => void;
export function Task(options: string | NestTaskOptions = {}): unknown {
  const opts: NestTaskOptions = typeof options === 'string' ? { name: options } : { ...options };
  const decorator: MethodDecorator<AnyMethod> = (target, key, descriptor) => {
    const method = descriptor.value;
    const owner = (target as { constructor?: { name?: string } }).constructor?.name ?? 'Provider';
    if (typeof method !== 'function') throw new TypeError(`@Task() on ${owner}.${String(key)}: not a method`);
    const { registration = DEFAULT_REGISTRATION, ...taskOptions } = opts;
    const name = checkTaskName(taskOptions.name ?? `${owner}.${String(key)}`);
    checkTaskOptions(name, taskOptions);
    const meta: TaskMetadata = {
      name,
      registration,
      options: Object.freeze({ ...taskOptions, name }),
      token: Symbol(`qtasks:task:${registration}:${name}`),
    };
    Reflect.defineMetadata(TASK_METADATA, meta, method);
  };
  return decorator;
}

/** Injects the app of a registration (default `"default"`). */
export function InjectApp(registration: string = DEFAULT_REGISTRATION): PropertyDecorator & ParameterDecorator {
  return Inject(getAppToken(registration));
}

/**
 * Injects the handle of task method `method` of `cls`; type the parameter `TaskRef<typeof cls, method>`.
 * The handle is provided by `QtasksModule.forFeature([cls])` in the injecting module's imports.
 */
export function InjectTask<C, K extends MethodKeys<C>>(cls: abstract new (...args: never[]) => C, method: K): PropertyDecorator & ParameterDecorator {
  return Inject(getTaskToken(cls, method));
}
