/**
 * `qtasks dashboard -A app.ts:app [--port 3000] [--host 127.0.0.1]`: serves the web dashboard of
 * the app until interrupted. Credentials come from the environment (never argv, which `ps` shows).
 */
import { createServer } from 'node:http';
import { InvalidArgumentError, type Command } from 'commander';
import { dashboard, type DashboardAuth } from '../../dashboard/index.js';
import { OperationError, UsageError } from '../cli-error.js';
import { appCommand, withApp, type AppFlags } from '../operate.js';

interface DashboardFlags extends AppFlags {
  port: number;
  host: string;
  basePath?: string;
  readOnly?: boolean;
  auth: boolean;
}

/** 0 (any free port, printed at start) to 65535. */
function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number from 0 to 65535.');
  return n;
}

export function dashboardCommand(): Command {
  return appCommand('dashboard', 'serve the web dashboard of the app (actions need QTASKS_DASHBOARD_USER and QTASKS_DASHBOARD_PASSWORD, or --no-auth on loopback)')
    .option('-p, --port <port>', 'port to listen on (0: any free port)', port, 3000)
    .option('-H, --host <address>', 'address to bind', '127.0.0.1')
    .option('--base-path <path>', 'serve under this path, e.g. /admin/queues')
    .option('--read-only', 'hide and refuse every action')
    .option('--no-auth', 'no credentials: actions are allowed to requests over loopback only')
    .action(async (flags: DashboardFlags) => {
      const username = process.env.QTASKS_DASHBOARD_USER;
      const password = process.env.QTASKS_DASHBOARD_PASSWORD;
      let auth: DashboardAuth | undefined;
      if (username !== undefined && password !== undefined && password !== '') {
        if (!flags.auth) throw new UsageError('qtasks dashboard: --no-auth and QTASKS_DASHBOARD_USER/QTASKS_DASHBOARD_PASSWORD contradict each other');
        auth = { username, password };
      } else if (!flags.auth) auth = false;
      await withApp('dashboard', flags, async (app) => {
        const handler = dashboard(app, { auth, readOnly: flags.readOnly === true, ...(flags.basePath !== undefined ? { basePath: flags.basePath } : {}) });
        const server = createServer(handler);
        await new Promise<void>((resolve, reject) => {
          server.once('error', (err) => reject(new OperationError(`qtasks dashboard: cannot listen on ${flags.host}:${flags.port}: ${err.message}`)));
          server.listen(flags.port, flags.host, resolve);
        });
        const address = server.address();
        const port = typeof address === 'object' && address !== null ? address.port : flags.port;
        const host = flags.host.includes(':') ? `[${flags.host}]` : flags.host;
        const mode = flags.readOnly === true ? 'read-only' : auth === undefined ? 'read-only: no credentials set' : auth === false ? 'actions from loopback only' : 'basic auth';
        process.stderr.write(`qtasks: dashboard on http://${host}:${port}${flags.basePath ?? ''}/ (${mode}; Ctrl-C to stop)\n`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        handler.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      });
    });
}
