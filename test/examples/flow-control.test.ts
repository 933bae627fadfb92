// examples/flow-control.ts is the flow-control guide's story; this keeps it true.
import { expect, it } from 'vitest';
import { main } from '../../examples/flow-control.js';

it('runs the flow-control example: idempotent webhook, debounced search, rate-limited partner, two exports at a time, two reports of a limited queue at a time', async () => {
  const lines: string[] = [];
  expect(await main((line) => lines.push(line))).toBe(0);
  expect(lines).toEqual([
    'webhook twice: deduplicated true, payments 1',
    'searched: qtasks',
    'partner: 12 succeeded, at most 5 per 200 ms, first call attempts 1',
    'exports: at most 2 at once',
    'reports queue: 6 reports, at most 2 at once',
  ]);
}, 20_000);
