/**
 * Dependency injection with scopes, as QTasks' `Depends`: `app.dependency(name, { scope, deps,
 * create, dispose })` declares a value; a task gets it with `await ctx.use(dep)`.
 * - `app`: one per app, created at start (producers too), disposed at stop.
 * - `worker`: one per app running a worker, created when the worker starts, disposed at stop.
 * - `task`: one per attempt, created on first use, disposed after the attempt even when it fails.
 * Factories may be async and take other dependencies (`deps`); the graph is checked at start (a
 * cycle, an unknown dependency or a longer-lived value taking a shorter-lived one fails start).
 * Disposal: `dispose(value)` if given, else `Symbol.asyncDispose` / `Symbol.dispose` of the value,
 * in the reverse order of creation.
 */
import { ErrorCodes, QTasksError, messageOf } from '../errors.js';
import type { LoggerLike } from '../logger.js';

export type Scope = 'app' | 'worker' | 'task';

/** A declared dependency; `T` is what `ctx.use` resolves to. */
export interface Dependency<T> {
  readonly name: string;
  readonly scope: Scope;
  /** Type marker only. */
  readonly __type?: () => T;
}

type DependencyMap = Readonly<Record<string, Dependency<unknown>>>;
/** The values of a map of dependencies. */
export type Resolved<D extends DependencyMap> = { readonly [K in keyof D]: D[K] extends Dependency<infer T> ? T : never };

export interface DependencyOptions<T, D extends DependencyMap> {
  scope: Scope;
  /** What the factory takes, by the name it receives them under. */
  deps?: D;
  create: (deps: Resolved<D>) => T | Promise<T>;
  /** Runs when the value's scope ends; default: the value's Symbol.asyncDispose or Symbol.dispose. */
  dispose?: (value: T) => void | Promise<void>;
}

interface Declared {
  readonly dep: Dependency<unknown>;
  readonly deps: DependencyMap;
  readonly create: (deps: Record<string, unknown>) => unknown;
  readonly dispose: ((value: unknown) => void | Promise<void>) | undefined;
}

const LIFETIME: Record<Scope, number> = { app: 0, worker: 1, task: 2 };

/** Values of one scope instance, created once each (concurrent uses share the creation). */
export class ScopeInstance {
  readonly #values = new Map<Dependency<unknown>, Promise<unknown>>();
  readonly #created: Array<[Declared, unknown]> = [];
  readonly #container: Container;
  readonly #scope: Scope;
  readonly #parent: ScopeInstance | undefined;

  constructor(container: Container, scope: Scope, parent: ScopeInstance | undefined) {
    this.#container = container;
    this.#scope = scope;
    this.#parent = parent;
  }

  get<T>(dep: Dependency<T>): Promise<T> {
    let declared: Declared;
    try {
      declared = this.#container.declared(dep);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (LIFETIME[dep.scope] < LIFETIME[this.#scope]) {
      if (this.#parent === undefined) return Promise.reject(new QTasksError(ErrorCodes.NOT_STARTED, `dependency "${dep.name}" (${dep.scope} scope) is not available here`));
      return this.#parent.get(dep);
    }
    let value = this.#values.get(dep);
    if (value === undefined) {
      value = this.#create(declared);
      this.#values.set(dep, value);
    }
    return value as Promise<T>;
  }

  async #create(declared: Declared): Promise<unknown> {
    const deps: Record<string, unknown> = {};
    for (const [key, d] of Object.entries(declared.deps)) deps[key] = await this.get(d);
    const value = await declared.create(deps);
    this.#created.push([declared, value]);
    return value;
  }

  /** Disposes what this scope created, newest first; failures are logged, every one gets its turn. */
  async dispose(log: LoggerLike): Promise<void> {
    // Creations still under way finish first, so nothing they make escapes disposal.
    await Promise.allSettled(this.#values.values());
    for (const [declared, value] of this.#created.splice(0).reverse()) {
      try {
        if (declared.dispose !== undefined) await declared.dispose(value);
        else if (value !== null && (typeof value === 'object' || typeof value === 'function')) {
          const v = value as { [Symbol.asyncDispose]?: () => Promise<void>; [Symbol.dispose]?: () => void };
          if (typeof v[Symbol.asyncDispose] === 'function') await v[Symbol.asyncDispose]!();
          else if (typeof v[Symbol.dispose] === 'function') v[Symbol.dispose]!();
        }
      } catch (err) {
        log.error({ err, dependency: declared.dep.name }, `disposing dependency "${declared.dep.name}" failed`);
      }
    }
    this.#values.clear();
  }
}

export class Container {
  readonly #declared = new Map<Dependency<unknown>, Declared>();
  readonly #names = new Set<string>();
  app: ScopeInstance | undefined;
  worker: ScopeInstance | undefined;

  get size(): number {
    return this.#declared.size;
  }

  declare<T, D extends DependencyMap>(name: string, options: DependencyOptions<T, D>): Dependency<T> {
    if (typeof name !== 'string' || name === '') throw new QTasksError(ErrorCodes.INVALID_OPTION, 'a dependency needs a name');
    if (this.#names.has(name)) throw new QTasksError(ErrorCodes.INVALID_OPTION, `dependency "${name}" is already declared`);
    if (!(options?.scope in LIFETIME)) throw new QTasksError(ErrorCodes.INVALID_OPTION, `dependency "${name}": scope must be 'app', 'worker' or 'task', got ${messageOf(options?.scope)}`);
    if (typeof options.create !== 'function') throw new QTasksError(ErrorCodes.INVALID_OPTION, `dependency "${name}": create must be a function`);
    const dep: Dependency<T> = Object.freeze({ name, scope: options.scope });
    this.#names.add(name);
    this.#declared.set(dep, {
      dep,
      deps: options.deps ?? {},
      create: options.create as (deps: Record<string, unknown>) => unknown,
      dispose: options.dispose as ((value: unknown) => void | Promise<void>) | undefined,
    });
    return dep;
  }

  declared(dep: Dependency<unknown>): Declared {
    const d = this.#declared.get(dep);
    if (d === undefined) throw new QTasksError(ErrorCodes.INVALID_OPTION, `dependency "${dep?.name}" is not declared on this app`);
    return d;
  }

  /** Checks the graph: known dependencies, no cycle, nothing taking a shorter-lived value. */
  check(): void {
    const state = new Map<Dependency<unknown>, 'visiting' | 'done'>();
    const visit = (d: Declared, path: string[]): void => {
      const mark = state.get(d.dep);
      if (mark === 'done') return;
      if (mark === 'visiting') {
        const from = path.indexOf(d.dep.name);
        throw new QTasksError(ErrorCodes.INVALID_OPTION, `dependency cycle: ${[...path.slice(from), d.dep.name].join(' -> ')}`);
      }
      state.set(d.dep, 'visiting');
      for (const [key, child] of Object.entries(d.deps)) {
        const target = this.#declared.get(child);
        if (target === undefined) throw new QTasksError(ErrorCodes.INVALID_OPTION, `dependency "${d.dep.name}": its dep "${key}" is not declared on this app`);
        if (LIFETIME[child.scope] > LIFETIME[d.dep.scope]) {
          throw new QTasksError(ErrorCodes.INVALID_OPTION, `dependency "${d.dep.name}" (${d.dep.scope} scope) cannot take "${child.name}" (${child.scope} scope): it would outlive it`);
        }
        visit(target, [...path, d.dep.name]);
      }
      state.set(d.dep, 'done');
    };
    for (const d of this.#declared.values()) visit(d, []);
  }

  /** Creates every value of `scope` now (app and worker scopes are eager: a failing factory fails start). */
  async open(scope: 'app' | 'worker'): Promise<void> {
    const instance = new ScopeInstance(this, scope, scope === 'worker' ? this.app : undefined);
    if (scope === 'app') this.app = instance;
    else this.worker = instance;
    for (const d of this.#declared.values()) if (d.dep.scope === scope) await instance.get(d.dep);
  }

  /** A scope for one task attempt. */
  task(): ScopeInstance {
    return new ScopeInstance(this, 'task', this.worker ?? this.app);
  }
}
