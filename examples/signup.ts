/**
 * Recipe "tests that run tasks on the memory default": the app is built by a function that takes
 * its plugins. Production passes `[redis(...)]`; a test passes nothing and gets the in-memory
 * broker and storage, so the real handlers run in the test process, with no server.
 * See test/examples/recipes.test.ts for the test.
 */
import { QueueTasks, type Plugin } from '../core/index.js';

export interface Mailer {
  send(to: string, subject: string): Promise<void>;
}

export function createSignupApp(mailer: Mailer, plugins: readonly Plugin[] = []) {
  const app = new QueueTasks({ name: 'signup', globals: false, plugins });
  const welcome = app.task({ name: 'welcome', retry: 1 }, async (email: string) => {
    if (!email.includes('@')) throw new Error(`not an address: ${email}`);
    await mailer.send(email, 'Welcome!');
    return { sent: email };
  });
  return { app, welcome };
}
