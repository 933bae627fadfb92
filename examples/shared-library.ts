/**
 * Recipe "a library that declares tasks without owning an app": a package (say `@acme/mailer`)
 * exports task handles made with `sharedTask`. It imports no app and creates none; whichever
 * app the host starts adopts the declarations, and the handles enqueue through `appMain` (the
 * app the host built with globals on) or the host enqueues by name on an app it chooses.
 */
import { sharedTask } from '../core/index.js';

/** Renders and "sends" a welcome mail; the host's worker runs it. */
export const sendWelcome = sharedTask({ name: 'mailer.welcome', retry: 3 }, (to: string, locale: 'en' | 'fr' = 'en') => ({
  to,
  subject: locale === 'fr' ? 'Bienvenue' : 'Welcome',
}));
