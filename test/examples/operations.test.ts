// examples/operations.ts is the operations guide's story; this keeps it true.
import { expect, it } from 'vitest';
import { main } from '../../examples/operations.js';

it('runs the operations example: count, list, retry, cancel, pause and progress', async () => {
  const lines: string[] = [];
  expect(await main((line) => lines.push(line))).toBe(0);
  expect(lines).toEqual([
    'errors: 3',
    'first error: payment API unavailable',
    'retried 3: 3 succeeded',
    'cancel found it running',
    'stuck task: cancel',
    'while paused: new',
    'after resume: success',
    'progress: 1/3 2/3 3/3',
  ]);
});
