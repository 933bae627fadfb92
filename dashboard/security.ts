/**
 * Who may look and who may act. Pages need `auth` when one is given; actions need it always,
 * unless the user opted out (`auth: false`) and the request came over loopback. State changes
 * are POSTs carrying a CSRF token bound to the caller's credentials, from the same origin.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export interface BasicCredentials {
  readonly username: string;
  readonly password: string;
}

/** `(req) => boolean` (sync or async), basic credentials, or `false` to opt out on loopback only. */
export type DashboardAuth = ((req: IncomingMessage) => boolean | Promise<boolean>) | BasicCredentials | false;

export type Access = 'denied' | 'read' | 'act';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

/** Both ends of the connection are loopback: the server is reached on this machine only. */
export function onLoopback(req: IncomingMessage): boolean {
  return LOOPBACK.test(req.socket.localAddress ?? '') && LOOPBACK.test(req.socket.remoteAddress ?? '');
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function basicOk(req: IncomingMessage, creds: BasicCredentials): boolean {
  const header = req.headers.authorization ?? '';
  const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header);
  if (match === null) return false;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return false;
  // Both compared, always: the time taken says nothing about which one was wrong.
  const user = sameSecret(decoded.slice(0, i), creds.username);
  const pass = sameSecret(decoded.slice(i + 1), creds.password);
  return user && pass;
}

/** What this request may do: nothing (ask for credentials), read pages, or also act. */
export async function access(req: IncomingMessage, auth: DashboardAuth | undefined): Promise<Access> {
  if (auth === undefined) return 'read';
  if (auth === false) return onLoopback(req) ? 'act' : 'read';
  if (typeof auth === 'function') return (await auth(req)) === true ? 'act' : 'denied';
  return basicOk(req, auth) ? 'act' : 'denied';
}

/**
 * Tokens are an HMAC of the caller's basic credentials (if any) under a secret born with the
 * handler: another site cannot read them (same-origin policy), so it cannot forge a POST.
 */
export class Csrf {
  readonly #secret = randomBytes(32);

  token(req: IncomingMessage): string {
    return createHmac('sha256', this.#secret).update(req.headers.authorization ?? '').digest('base64url');
  }

  valid(req: IncomingMessage, token: unknown): boolean {
    return typeof token === 'string' && sameSecret(token, this.token(req));
  }
}

/**
 * Refuses cross-site writes: the browser's Sec-Fetch-Site, when sent, must say same-origin, and
 * an Origin header, when sent, must be this host (the Host header, as the browser reached us).
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (origin === 'null') return false;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}
