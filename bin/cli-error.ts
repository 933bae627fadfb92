/** The CLI's two kinds of failure, by exit code: 2 for a usage error, 1 for an operation that failed. */
export class UsageError extends Error {
  readonly exitCode = 2;
}

export class OperationError extends Error {
  readonly exitCode = 1;
}

/** One line for the terminal: the first line of a message, never a stack. */
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? '';
}
