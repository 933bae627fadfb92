/**
 * Confirmation and progress for bulk and destructive commands. Progress goes to stderr so that
 * stdout stays the answer (and `--json` stays parseable): a bar on a terminal, plain lines otherwise.
 */
import { createInterface } from 'node:readline';
import { UsageError } from './cli-error.js';

/**
 * Asks `question` on a terminal and resolves with the answer; without a terminal, or `yes`,
 * nothing is asked. Refuses (a usage error) when nobody can answer and `--yes` was not given.
 */
export async function confirm(command: string, question: string, yes: boolean | undefined): Promise<boolean> {
  if (yes === true) return true;
  if (process.stdin.isTTY !== true || process.stderr.isTTY !== true) {
    throw new UsageError(`qtasks ${command}: ${question.replace(/\?$/, '')}: refusing without confirmation in a non-interactive run; pass --yes`);
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((resolve) => rl.question(`${question} [y/N] `, resolve));
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

export interface Progress {
  /** `done` so far (of `total`, when known). */
  update(done: number): void;
  end(done: number): void;
}

/** A progress bar on a terminal; on anything else one line per update. */
export function progress(verb: string, total: number | undefined): Progress {
  const out = process.stderr;
  if (out.isTTY === true) {
    const draw = (done: number): void => {
      const width = 30;
      const ratio = total !== undefined && total > 0 ? Math.min(1, done / total) : 0;
      const filled = Math.round(ratio * width);
      const bar = total !== undefined ? `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.round(ratio * 100)}% ` : '';
      out.write(`\r${bar}${verb} ${done}${total !== undefined ? `/${total}` : ''}\u001b[K`);
    };
    return { update: draw, end: (done) => (draw(done), out.write('\n')) };
  }
  return {
    update: (done) => out.write(`${verb} ${done}${total !== undefined ? `/${total}` : ''}\n`),
    end: () => undefined,
  };
}
