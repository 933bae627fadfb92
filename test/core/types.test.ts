// Type-level tests: a task's parameter and result types flow to addTask, run and the record.
import { describe, expectTypeOf, it } from 'vitest';
import { QueueTasks, Router, sharedTask, type TaskContext, type TaskHandle, type TaskRecord } from '../../core/index.js';

describe('types', () => {
  // Checked by tsc (npm test type-checks tests); the functions never run, so nothing is enqueued.
  it('flows handler parameters and results through the handle', () => {
    expectTypeOf(flows).toBeFunction();
  });
  it('types router and shared tasks the same way', () => {
    expectTypeOf(routers).toBeFunction();
  });
});

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
