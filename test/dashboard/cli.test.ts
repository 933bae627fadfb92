/**
 * `qtasks dashboard`, run as the built binary against a Redis app: it serves the dashboard on
 * the port it prints, read-only without credentials, behind basic auth with them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { uniqueName } from '../contracts/helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';

const root = resolve(import.meta.dirname, '..', '..');
const bin = resolve(root, 'dist', 'bin', 'qtasks.js');
const TARGET = 'test/fixtures/cli-control-app.ts:app';

describe('qtasks dashboard (built CLI, Redis)', () => {
  const names: string[] = [];
  const children: ChildProcess[] = [];

  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((done) => child.once('exit', done));
      }
    }
  });
  afterAll(async () => {
    const admin = await adminClient();
    await deleteAppKeys(admin, names);
    admin.disconnect();
  });

  /** Starts the command; resolves with its URL once it says it listens. */
  function start(args: string[], env: Record<string, string> = {}): Promise<{ url: string; child: ChildProcess }> {
    const name = uniqueName('dash-cli');
    names.push(name);
    const child = spawn(process.execPath, [bin, 'dashboard', '-A', TARGET, '--port', '0', ...args], { cwd: root, env: { ...process.env, QT_APP: name, QT_REDIS_URL: REDIS_URL, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    return new Promise((done, fail) => {
      let err = '';
      child.stderr!.on('data', (c: Buffer) => {
        err += c.toString();
        const match = /dashboard on (http:\/\/\S+?)\/ /.exec(err);
        if (match !== null) done({ url: match[1]!, child });
      });
      child.once('exit', (code) => fail(new Error(`qtasks dashboard exited ${code}: ${err}`)));
    });
  }

  it('serves read-only without credentials, and stops on SIGTERM with exit code 0', async () => {
    const { url, child } = await start([]);
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text).toContain('no auth configured');
    expect(text).not.toContain('data-action=');
    const refused = await fetch(`${url}/actions/pause`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'queue=default' });
    expect(refused.status).toBe(403);
    child.kill('SIGTERM');
    expect(await new Promise((done) => child.once('exit', done))).toBe(0);
  });

  it('asks for the basic credentials given in the environment', async () => {
    const { url } = await start(['--base-path', '/ops'], { QTASKS_DASHBOARD_USER: 'ops', QTASKS_DASHBOARD_PASSWORD: 'pw' });
    expect(url).toMatch(/\/ops$/);
    expect((await fetch(`${url}/`)).status).toBe(401);
    const ok = await fetch(`${url}/`, { headers: { authorization: `Basic ${Buffer.from('ops:pw').toString('base64')}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('data-action="pause"');
  });
});
