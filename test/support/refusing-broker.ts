/** A broker whose server refuses every message: for the publish-failure paths. Pair it with memory({ broker: false }). */
import type { Broker, Plugin } from '../../core/index.js';

/** A broker whose server refuses every message. */
export class RefusingBroker implements Broker {
  readonly name = 'refusing';
  async start(): Promise<void> {}
  async publish(): Promise<void> {
    throw new Error('the server said no');
  }
  async consume(): Promise<void> {}
  async pause(): Promise<void> {}
  async ack(): Promise<boolean> {
    return true;
  }
  async retry(): Promise<boolean> {
    return true;
  }
  async deadLetter(): Promise<boolean> {
    return true;
  }
  async deadLetters(): Promise<[]> {
    return [];
  }
  async stop(): Promise<void> {}
}

export function refusingBroker(): Plugin {
  return { name: 'refusing', apply: (a) => a.hooks.broker.provide.tap('refusing', () => new RefusingBroker()) };
}
