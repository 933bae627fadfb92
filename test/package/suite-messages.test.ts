// The conformance suites' failure messages point at sections of docs/writing-a-broker-plugin.md
// (which ships in the package) through guide(): every section they name must be a heading there.
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const headings = new Set(
  readFileSync(new URL('docs/writing-a-broker-plugin.md', root), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('#'))
    .map((l) => l.replace(/^#+\s*/, '')),
);

describe('conformance suite messages', () => {
  const dir = new URL('test/contracts/', root);
  const named = readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) => [...readFileSync(new URL(f, dir), 'utf8').matchAll(/guide\('((?:[^'\\]|\\.)*)'\)/g)].map((m) => ({ file: f, section: m[1]! })));

  it('name at least the main rules', () => {
    expect(named.length).toBeGreaterThan(10);
  });

  it('name only sections the guide has', () => {
    expect(named.filter((n) => !headings.has(n.section))).toEqual([]);
  });

  it('never point at test files, which do not ship', () => {
    const sources = readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => readFileSync(new URL(f, dir), 'utf8'));
    // A message string naming a repository test path (comments and imports aside).
    const inMessages = sources.flatMap((s) => [...s.matchAll(/[`'"][^`'"\n]*\btest\/[\w/.-]+\.ts[^`'"\n]*[`'"]/g)].map((m) => m[0]));
    expect(inMessages.filter((m) => !m.startsWith("'./") && !m.includes('import'))).toEqual([]);
  });
});
