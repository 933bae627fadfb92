/** `qtasks show -A app.ts:app ID`: one task's record, arguments, outcome, progress and timeline. */
import type { Command } from 'commander';
import type { TaskRecord } from '../../core/record.js';
import { OperationError } from '../cli-error.js';
import { isoTime } from '../format.js';
import { appCommand, printJson, withApp, type AppFlags } from '../operate.js';

/** The moments a record knows, in order. */
function timeline(r: TaskRecord): Array<[string, number]> {
  const points: Array<[string, number | undefined]> = [
    ['created', r.createdAt],
    ['due', r.runAt],
    ['started', r.startedAt],
    ['finished', r.finishedAt],
    ['updated', r.updatedAt],
  ];
  return points.filter((p): p is [string, number] => p[1] !== undefined).sort((a, b) => a[1] - b[1]);
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

export function describeRecord(r: TaskRecord): string {
  const lines = [
    `id:        ${r.id}`,
    `name:      ${r.name}`,
    `queue:     ${r.queue}`,
    `status:    ${r.status}`,
    `attempts:  ${r.attempts}`,
    `priority:  ${r.priority}`,
  ];
  if (r.reason !== undefined) lines.push(`reason:    ${r.reason}`);
  lines.push('args:', indent(JSON.stringify(r.args, null, 2)));
  if (r.returning !== undefined) lines.push('result:', indent(JSON.stringify(r.returning, null, 2)));
  if (r.error !== undefined) {
    lines.push('error:', indent(`${r.error.name}${r.error.code !== undefined ? ` [${r.error.code}]` : ''}: ${r.error.message}`));
    if (r.error.stack !== undefined) lines.push('stack:', indent(r.error.stack));
  }
  if (r.progress !== undefined) lines.push('progress:', indent(JSON.stringify(r.progress, null, 2)));
  if (r.meta !== undefined) lines.push('meta:', indent(JSON.stringify(r.meta, null, 2)));
  lines.push('timeline:', ...timeline(r).map(([what, at]) => `  ${isoTime(at)}  ${what}`));
  return lines.join('\n') + '\n';
}

export function showCommand(): Command {
  return appCommand('show', "one task's record, arguments, result or error, progress and timeline")
    .argument('<id>', 'the task id')
    .action(async (id: string, flags: AppFlags) => {
      await withApp('show', flags, async (app) => {
        const record = await app.get(id);
        if (record === undefined) throw new OperationError(`qtasks show: no task ${id} (unknown, or its record expired)`);
        if (flags.json === true) printJson(record);
        else process.stdout.write(describeRecord(record));
      });
    });
}
