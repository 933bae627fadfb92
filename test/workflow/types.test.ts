// Type-level tests of deferred calls and chains (checked by tsc; the functions never run).
import { describe, expectTypeOf, it } from 'vitest';
import { QueueTasks, chain, chord, group, type TaskCall, type TaskRecord } from '../../core/index.js';

describe('workflow types', () => {
  it('types handle.with like addTask and chains step by step', () => {
    expectTypeOf(typed).toBeFunction();
  });
});

function typed(): void {
  const app = new QueueTasks({ name: 'wf-types', globals: false });
  const add = app.task('add', (a: number, b: number) => a + b);
  const words = app.task('words', (n: number) => Array.from({ length: n }, () => 'w'));
  const count = app.task('count', (list: string[]) => list.length);
  const gen = app.task('gen', function* (n: number) {
    yield String(n);
  });

  const call = add.with([1, 2], { priority: 2 });
  expectTypeOf(call).toEqualTypeOf<TaskCall<[a: number, b: number], number>>();
  expectTypeOf(call.addTask()).resolves.toEqualTypeOf<TaskRecord<[a: number, b: number], number>>();
  // @ts-expect-error args are typed as in addTask
  add.with(['1', 2]);
  // @ts-expect-error options are addTask's
  add.with([1, 2], { nope: true });

  const c = chain(add.with([1, 2]), words, count);
  expectTypeOf(c.addTask()).resolves.toEqualTypeOf<TaskRecord<readonly unknown[], number>>();
  // A generator's yields arrive as a list.
  const g = chain(gen.with([3]), count);
  expectTypeOf(g.addTask()).resolves.toEqualTypeOf<TaskRecord<readonly unknown[], number>>();
  // A one-step chain is its call.
  expectTypeOf(chain(add.with([1, 2])).addTask()).resolves.toEqualTypeOf<TaskRecord<readonly unknown[], number>>();

  // @ts-expect-error count takes string[], add returns number
  chain(add.with([1, 2]), count);
  // @ts-expect-error the third step cannot take words' string[]
  chain(add.with([1, 2]), words, words);
  // @ts-expect-error add needs two arguments; a chain step gets one
  chain(add.with([1, 2]), add);

  const g2 = group([add.with([1, 2]), words.with([3])]);
  expectTypeOf(g2.addTask()).resolves.toEqualTypeOf<TaskRecord<readonly unknown[], [number, string[]]>>();
  const many = group([1, 2, 3].map((n) => add.with([n, n])));
  expectTypeOf(many.addTask()).resolves.toEqualTypeOf<TaskRecord<readonly unknown[], number[]>>();
  const sum = app.task('sum', (ns: number[]) => ns.reduce((a, b) => a + b, 0));
  expectTypeOf(chord(many, sum).addTask()).resolves.toEqualTypeOf<TaskRecord<readonly unknown[], number>>();
  // @ts-expect-error sum takes number[], the group yields string[][]
  chord(group([words.with([1])]), sum);
  // @ts-expect-error a callback must take the list as its argument
  chord(many, add);
}

function chainsWithGroups(): void {
  const app = new QueueTasks({ name: 'wf-types-cg', globals: false });
  const prepare = app.task('prepare', (n: number) => n);
  const resize = app.task('resize', (url: string, width: number) => ({ url, width }));
  const zip = app.task('zip', (files: Array<{ url: string; width: number }>) => files.length);
  const label = app.task('label', (s: string) => s);
  const g = group([resize.with(['a', 1]), resize.with(['b', 2])]);
  expectTypeOf(chain(prepare.with([1]), g, zip).addTask()).resolves.toEqualTypeOf<TaskRecord<readonly unknown[], number>>();
  // A group last: the chain's result is the list of results.
  expectTypeOf(chain(prepare.with([1]), g).addTask()).resolves.toEqualTypeOf<Awaited<ReturnType<typeof g.addTask>>>();
  expectTypeOf<Awaited<ReturnType<typeof g.addTask>>['returning']>().toMatchTypeOf<[{ url: string; width: number }, { url: string; width: number }] | undefined>();
  // @ts-expect-error label takes a string, the group yields a list
  chain(prepare.with([1]), g, label);
  // @ts-expect-error a group member must be a call, not a handle
  group([resize]);
  // A group first: the next step takes its list of results.
  expectTypeOf(chain(g, zip).addTask()).resolves.toEqualTypeOf<TaskRecord<readonly unknown[], number>>();
  expectTypeOf(chain(g, zip, prepare).addTask()).resolves.toEqualTypeOf<TaskRecord<readonly unknown[], number>>();
  expectTypeOf(chain(g).addTask()).resolves.toEqualTypeOf<Awaited<ReturnType<typeof g.addTask>>>();
  // @ts-expect-error label takes a string, the first group yields a list
  chain(g, label);
  // @ts-expect-error the step after zip takes a string; zip returns a number
  chain(g, zip, label);
}
expectTypeOf(chainsWithGroups).toBeFunction();
