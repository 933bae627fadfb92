/**
 * Standard Schema validation of a task's arguments and result (zod, valibot, arktype...: any
 * validator implementing `@standard-schema/spec`). Arguments are checked at addTask (nothing is
 * sent if they fail) and again in the worker, whose schema may transform them (a string into a
 * Date): the handler receives the schema's output. A result schema checks (and may transform)
 * what the handler returns before it is stored.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { ErrorCodes, QTasksError, messageOf, type ErrorCode } from './errors.js';

/** A schema of a task's arguments: its input and output are argument tuples. */
export type ArgsSchema = StandardSchemaV1<readonly unknown[], readonly unknown[]>;
/** A schema of a task's result. */
export type ResultSchema = StandardSchemaV1;

/** What a caller passes (the schema's input), as a mutable tuple. */
export type SchemaInput<S extends StandardSchemaV1> = StandardSchemaV1.InferInput<S> extends readonly unknown[] ? [...StandardSchemaV1.InferInput<S>] : never;
/** What the handler receives (the schema's output), as a mutable tuple. */
export type SchemaOutput<S extends StandardSchemaV1> = StandardSchemaV1.InferOutput<S> extends readonly unknown[] ? [...StandardSchemaV1.InferOutput<S>] : never;

function pathOf(issue: StandardSchemaV1.Issue): string {
  let out = '';
  for (const segment of issue.path ?? []) {
    const key = typeof segment === 'object' && segment !== null && 'key' in segment ? segment.key : segment;
    out += typeof key === 'number' ? `[${key}]` : `.${String(key)}`;
  }
  return out;
}

/** `args[0].when: Invalid date; args[1]: Expected number` */
export function describeIssues(root: string, issues: readonly StandardSchemaV1.Issue[]): string {
  return issues.map((issue) => `${root}${pathOf(issue)}: ${issue.message}`).join('; ');
}

export function isSchema(value: unknown): value is StandardSchemaV1 {
  const std = (value as { '~standard'?: { validate?: unknown } } | null | undefined)?.['~standard'];
  return typeof std === 'object' && std !== null && typeof std.validate === 'function';
}

/**
 * Validates `value`; resolves with the schema's output, or rejects with a QTasksError of `code`
 * whose message names task, place and problem. A schema that throws is reported the same way.
 */
export async function validate(schema: StandardSchemaV1, value: unknown, task: string, root: 'args' | 'result', code: ErrorCode): Promise<unknown> {
  let result: StandardSchemaV1.Result<unknown>;
  try {
    result = await schema['~standard'].validate(value);
  } catch (err) {
    throw new QTasksError(code, `task "${task}": the ${root} schema threw: ${messageOf(err)}`, { cause: err });
  }
  if (result.issues !== undefined) throw new QTasksError(code, `task "${task}": ${describeIssues(root, result.issues)}`);
  return result.value;
}

export function checkSchemaOptions(task: string, options: { args?: unknown; result?: unknown }): void {
  for (const key of ['args', 'result'] as const) {
    if (options[key] !== undefined && !isSchema(options[key])) {
      throw new QTasksError(ErrorCodes.INVALID_OPTION, `task "${task}": ${key} must be a Standard Schema (zod, valibot, arktype...), got ${messageOf(options[key])}`);
    }
  }
}
