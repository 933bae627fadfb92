/** Registering the tests of a guarantee a target lacks (`BrokerTarget.lacks`). */
import { it } from 'vitest';

/** `it` for a guarantee the target gives; for one it lacks (with a reason), a registration that adds no test. */
export function unlessLacking(reason: string | undefined): (name: string, fn: () => Promise<void>, timeout?: number) => void {
  return reason === undefined ? (name, fn, timeout) => it(name, fn, timeout) : () => undefined;
}
