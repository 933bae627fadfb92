// Type-level tests: a task's parameter and result types flow to addTask, run and the record.
import { describe, expectTypeOf, it } from 'vitest';
import { QueueTasks, Router, sharedTask, type BulkItem, type SandboxContext, type TaskContext, type TaskHandle, type TaskRecord } from '../../core/index.js';

describe('types', () => {
  // Checked by tsc (npm test type-checks tests); the functions never run, so nothing is enqueued.
  it('flows handler parameters and results through the handle', () => {
    expectTypeOf(flows).toBeFunction();
  });
  it('types router and shared tasks the same way', () => {
    expectTypeOf(routers).toBeFunction();
  });
  it('takes the context first only when echo: true says so, never by guessing', () => {
    expectTypeOf(explicitContext).toBeFunction();
  });
  it('refuses parameters and results that do not survive JSON', () => {
    expectTypeOf(honest).toBeFunction();
  });
  it('types sandboxed tasks from their processor type', () => {
    expectTypeOf(sandboxed).toBeFunction();
  });
});

function explicitContext(): void {
  {
    const app = new QueueTasks({ name: 'types-ctx', globals: false });
    // A first parameter of type unknown, any or object is an argument like any other.
    const log = sharedTask('types-log', (m: unknown) => String(m));
    expectTypeOf(log.addTask).parameter(0).toEqualTypeOf<[m: unknown]>();
    void log.addTask(['hi']);
    const pair = app.task('pair', (x: unknown, y: number) => y);
    expectTypeOf(pair.addTask).parameter(0).toEqualTypeOf<[x: unknown, y: number]>();
    const anyFirst = app.task({ name: 'any-first' }, (x: object, y: string) => y);
    expectTypeOf(anyFirst.addTask).parameter(0).toEqualTypeOf<[x: object, y: string]>();
    const routed = new Router().task('routed', (m: unknown) => m === null);
    expectTypeOf(routed.addTask).parameter(0).toEqualTypeOf<[m: unknown]>();
    // echo: true, and only it, makes the first parameter the context (typed without annotation).
    const withCtx = sharedTask({ name: 'types-with-ctx', echo: true }, (ctx, n: number) => {
      expectTypeOf(ctx).toEqualTypeOf<TaskContext>();
      return n;
    });
    expectTypeOf(withCtx.addTask).parameter(0).toEqualTypeOf<[n: number]>();
    // @ts-expect-error a string name cannot select the context-first form
    sharedTask('types-guess', (ctx: TaskContext, n: number) => ctx.id + n);
    // @ts-expect-error echo: true needs a handler that takes the context first
    app.task({ name: 'echo-number', echo: true }, (n: number) => n);
    const flag: boolean = Math.random() > 0.5;
    // @ts-expect-error echo must be a literal: a boolean known only at run time would make the types guess
    app.task({ name: 'echo-maybe', echo: flag }, (n: number) => n);
  }
}

interface User {
  id: string;
  tags?: string[];
  address: { city: string; zip: string | null };
}
type Tree = { value: number; children: Tree[] };

function honest(): void {
  {
    const app = new QueueTasks({ name: 'types-json', globals: false });
    // Plain data passes: interfaces, optional fields and parameters, recursive types, unknown.
    const user = app.task('user', (u: User, note?: string) => ({ ...u, note: note ?? null }));
    expectTypeOf(user.addTask).parameter(0).toEqualTypeOf<[u: User, note?: string]>();
    app.task('tree', (t: Tree) => t.children.length);
    app.task('nothing', async () => undefined);
    app.task('void', async (): Promise<void> => undefined);
    app.task('records', (r: Record<string, number[]>) => Object.keys(r));

    // @ts-expect-error a Date would arrive as a string
    app.task('when', (d: Date) => d.getTime());
    // @ts-expect-error a Map would arrive as {}
    app.task('map', (m: Map<string, number>) => m.size);
    // @ts-expect-error a Set, deep inside, would arrive as {}
    app.task('set', (x: { a: { s: Set<string> } }) => x.a.s.size);
    // @ts-expect-error a function does not travel
    app.task('fn', (f: () => void) => f());
    // @ts-expect-error a class instance with methods does not travel (its methods would be lost)
    app.task('instance', (k: Counter) => k.next());
    // @ts-expect-error a Buffer would arrive as a plain object
    app.task('buffer', (b: Buffer) => b.length);
    // @ts-expect-error a bigint has no JSON form
    app.task('big', (n: bigint) => n > 0n);
    // @ts-expect-error results too: a Date result would come back as a string
    app.task('result-date', () => new Date());
    // @ts-expect-error an async result is checked once awaited
    app.task('result-map', async () => new Map<string, number>());
    // @ts-expect-error a generator's yields form the result
    app.task('yield-date', function* () {
      yield new Date();
    });
    // @ts-expect-error the echo form is checked the same way
    app.task({ name: 'echo-date', echo: true }, (ctx, d: Date) => ctx.id + d.getTime());
    // @ts-expect-error router tasks too
    new Router().task('router-date', (d: Date) => d.getTime());
    // @ts-expect-error and shared tasks
    sharedTask('types-shared-date', (d: Date) => d.getTime());
  }
}

class Counter {
  #n = 0;
  next(): number {
    return ++this.#n;
  }
}

function flows(): void {
  {
    const app = new QueueTasks({ name: 'types', globals: false });
    const add = app.task('add', (a: number, b: number) => a + b);
    expectTypeOf(add).toEqualTypeOf<TaskHandle<[a: number, b: number], number>>();
    expectTypeOf(add.addTask).parameter(0).toEqualTypeOf<[a: number, b: number]>();
    expectTypeOf(add.addTask([1, 2])).resolves.toEqualTypeOf<TaskRecord<[a: number, b: number], number>>();
    expectTypeOf(add.run([1, 2], { timeout: 1 })).resolves.toEqualTypeOf<number>();

    const fetchUser = app.task('user', async (id: string) => ({ id, admin: false }));
    expectTypeOf(fetchUser.run(['x'], { timeout: 1 })).resolves.toEqualTypeOf<{ id: string; admin: boolean }>();

    const echo = app.task({ name: 'echo', echo: true }, (ctx: TaskContext, n: number) => `${ctx.id}:${n}`);
    expectTypeOf(echo.addTask).parameter(0).toEqualTypeOf<[n: number]>();

    const gen = app.task('gen', async function* (n: number) {
      yield n;
      yield String(n);
    });
    expectTypeOf(gen.run([1], { timeout: 1 })).resolves.toEqualTypeOf<(string | number)[]>();

    expectTypeOf(add.addTasks).parameter(0).toEqualTypeOf<readonly [a: number, b: number][]>();
    expectTypeOf(add.addTasks([[1, 2]])).resolves.toEqualTypeOf<TaskRecord<[a: number, b: number], number>[]>();
    expectTypeOf(app.addTasks).parameter(0).toEqualTypeOf<readonly BulkItem[]>();
    // @ts-expect-error one bad item in a bulk add
    void add.addTasks([[1, 2], ['1', 2]]);
    // @ts-expect-error no waiting in a bulk add
    void add.addTasks([[1, 2]], { timeout: 1_000 });
    // @ts-expect-error wrong argument type
    void add.addTask(['1', 2]);
    // @ts-expect-error missing argument
    void add.addTask([1]);
  }
}

function routers(): void {
  {
    const router = new Router();
    const greet = router.task('greet', (name: string) => `hi ${name}`);
    expectTypeOf(greet.run(['a'], { timeout: 1 })).resolves.toEqualTypeOf<string>();
    const shared = sharedTask('types-shared', (n: number) => n > 0);
    expectTypeOf(shared.addTask).parameter(0).toEqualTypeOf<[n: number]>();
  }
}

function sandboxed(): void {
  {
    const app = new QueueTasks({ name: 'types-sandbox', globals: false });
    const processor = new URL('./resize.js', import.meta.url);
    type Resize = (path: string, width: number) => Promise<{ width: number }>;
    const resize = app.task<Resize>({ name: 'resize', processor, sandbox: 'thread' });
    expectTypeOf(resize.addTask).parameter(0).toEqualTypeOf<[path: string, width: number]>();
    expectTypeOf(resize.run(['a.png', 10], { timeout: 1 })).resolves.toEqualTypeOf<{ width: number }>();
    const withCtx = app.task<(ctx: SandboxContext, n: number) => number>({ name: 'with-ctx', processor, sandbox: 'process', echo: true });
    expectTypeOf(withCtx.addTask).parameter(0).toEqualTypeOf<[n: number]>();
    // Without a type parameter the handle takes any JSON arguments.
    const untyped = app.task({ name: 'untyped', processor });
    expectTypeOf(untyped.addTask).parameter(0).toEqualTypeOf<unknown[]>();

    // @ts-expect-error the processor's parameters must survive JSON too
    app.task<(d: Date) => number>({ name: 'date', processor });
    // @ts-expect-error a sandboxed task takes no handler
    app.task({ name: 'both', processor }, (n: number) => n);
    // @ts-expect-error only 'thread' or 'process'
    app.task({ name: 'kind', processor, sandbox: 'fiber' });
  }
}
