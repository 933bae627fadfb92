/**
 * `npm run gauge [target...]`: runs each target's conformance suite unchanged (it must pass), then
 * once per mutant of test/gauge/mutants.ts (it must fail). Works on a copy of the repository, so
 * the working tree is never touched. Exit code 0 only when every mutant was caught.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MUTANTS, SUITES, type GaugeTarget } from './mutants.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const wanted = new Set(process.argv.slice(2) as GaugeTarget[]);
const targets = (Object.keys(SUITES) as GaugeTarget[]).filter((t) => wanted.size === 0 || wanted.has(t));

const copy = mkdtempSync(join(tmpdir(), 'qtasks-gauge-'));
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);
for (const f of files) {
  mkdirSync(dirname(join(copy, f)), { recursive: true });
  cpSync(join(root, f), join(copy, f));
}
symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));

function suitePasses(target: GaugeTarget): boolean {
  const { file, filter } = SUITES[target];
  // --bail: the first failing test is enough (a mutant that makes tasks hang would otherwise sit
  // out every test's timeout).
  const run = spawnSync('npx', ['vitest', 'run', file, '-t', filter, '--bail=1'], { cwd: copy, encoding: 'utf8' });
  return run.status === 0;
}

let failures = 0;
try {
  for (const target of targets) {
    if (!suitePasses(target)) {
      console.log(`${target}: the unchanged suite fails; fix that first`);
      failures++;
      continue;
    }
    for (const m of MUTANTS.filter((x) => x.target === target)) {
      const path = join(copy, m.file);
      const original = readFileSync(path, 'utf8');
      if (!original.includes(m.find)) {
        console.log(`STALE   ${target}: ${m.bug} (its text is gone from ${m.file}; update the mutant)`);
        failures++;
        continue;
      }
      writeFileSync(path, original.replace(m.find, m.replace));
      try {
        const caught = !suitePasses(target);
        if (!caught) failures++;
        console.log(`${caught ? 'caught ' : 'MISSED '} ${target}: ${m.bug}`);
      } finally {
        writeFileSync(path, original);
      }
    }
  }
} finally {
  rmSync(copy, { recursive: true, force: true });
}
console.log(failures === 0 ? 'gauge: every mutant caught' : `gauge: ${failures} problem(s)`);
process.exitCode = failures === 0 ? 0 : 1;
