// Keeps docs/ honest: links resolve, the index lists every page, and the reference pages cover
// every config key and error code the code defines.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, ErrorCodes, envName } from '../../core/index.js';

const root = resolve(import.meta.dirname, '..', '..');
const docsDir = join(root, 'docs');
/** Pages other engineers are writing; links to them are allowed before they exist. */
const PENDING = ['redis.md', 'rabbitmq.md', 'swapping-brokers.md', 'pino.md', 'logging.md', 'integrations.md', 'benchmarks.md'];

const pages = readdirSync(docsDir).filter((f) => f.endsWith('.md'));
const read = (file: string): string => readFileSync(file, 'utf8');
/** Markdown without fenced code blocks, where `[x](y)` is code, not a link. */
const prose = (text: string): string => text.replace(/^```[^\n]*\n[\s\S]*?^```/gm, '');
const links = (text: string): string[] => [...prose(text).matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]!);

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchors(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of prose(text).matchAll(/^#{1,6}\s+(.+)$/gm)) {
    out.add(m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-'));
  }
  return out;
}

describe('docs/', () => {
  it.each(pages)('%s: every relative link points at a file (or a page being written) and a real heading', (page) => {
    const file = join(docsDir, page);
    const text = read(file);
    const broken: string[] = [];
    for (const link of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto:
      const [path = '', anchor] = link.split('#');
      const target = path === '' ? file : resolve(dirname(file), path);
      if (!existsSync(target)) {
        const pending = dirname(target) === docsDir && PENDING.includes(relative(docsDir, target));
        if (!pending) broken.push(`${link} (no such file)`);
        continue;
      }
      if (anchor !== undefined && target.endsWith('.md') && !anchors(read(target)).has(anchor)) broken.push(`${link} (no such heading)`);
    }
    expect(broken).toEqual([]);
  });

  it('README.md indexes every page, and every page being written', () => {
    const linked = new Set(links(read(join(docsDir, 'README.md'))).map((l) => l.split('#')[0]));
    const missing = [...pages.filter((p) => p !== 'README.md'), ...PENDING].filter((p) => !linked.has(p));
    expect(missing).toEqual([]);
  });

  it('configuration.md covers every config key with its variable, in the order of DEFAULT_CONFIG', () => {
    const text = read(join(docsDir, 'configuration.md'));
    const rows = [...text.matchAll(/^\| `([a-zA-Z]+)` \| .*? \| (`QTASKS_[A-Z_]+`|\(none\)) \|/gm)].map((m) => [m[1], m[2]]);
    // envPrefix is the one key no variable sets.
    expect(rows).toEqual(Object.keys(DEFAULT_CONFIG).map((key) => [key, key === 'envPrefix' ? '(none)' : `\`QTASKS_${envName(key)}\``]));
  });

  it('errors.md covers every error code, in the order of ErrorCodes', () => {
    const text = read(join(docsDir, 'errors.md'));
    const rows = [...text.matchAll(/^\| `([A-Z_]+)` \| `(QTASKS_ERR_[A-Z_]+)` \|/gm)].map((m) => [m[1], m[2]]);
    expect(rows).toEqual(Object.entries(ErrorCodes));
  });

  it('every example the docs name exists', () => {
    for (const page of pages) {
      for (const m of read(join(docsDir, page)).matchAll(/examples\/[\w-]+\.ts/g)) {
        expect(statSync(join(root, m[0])).isFile(), `${page}: ${m[0]}`).toBe(true);
      }
    }
  });
});
