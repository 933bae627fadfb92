// `npm start` runs examples/quickstart.ts; this keeps what the README promises true.
import { expect, it } from 'vitest';
import { main } from '../../examples/quickstart.js';

it('runs the quickstart: every line printed, exit code 0', async () => {
  const lines: string[] = [];
  const code = await main((line) => lines.push(line));
  expect(code).toBe(0);
  expect(lines).toEqual([
    'add(2, 3) = 5 [success]',
    "flaky('hello') = HELLO [success after 2 attempts]",
    'countdown(3) yielded [3,2,1]',
    '100 tasks: 100 succeeded',
  ]);
});
