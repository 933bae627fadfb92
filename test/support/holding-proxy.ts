/**
 * A loopback TCP proxy that can hold back the server's replies on chosen connections, so a test
 * can make a reply arrive after something else happened (a race, made deterministic), or never
 * (the connection drops after the server acted).
 */
import net from 'node:net';

interface Link {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  /** What the client sent first (ioredis names its connection there): how a link is chosen. */
  opening: string;
  held: Buffer[];
}

export class HoldingProxy {
  readonly #server: net.Server;
  readonly #links = new Set<Link>();
  #holding: string | undefined;

  private constructor(server: net.Server) {
    this.#server = server;
  }

  /** Listens on a free loopback port and forwards every connection to 127.0.0.1:targetPort. */
  static async start(targetPort: number): Promise<HoldingProxy> {
    const server = net.createServer();
    const proxy = new HoldingProxy(server);
    server.on('connection', (client) => proxy.#link(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** From now on, replies on links whose opening bytes contain `marker` are kept, not delivered. */
  hold(marker: string): void {
    this.#holding = marker;
  }

  /** Bytes kept so far. */
  get heldBytes(): number {
    let n = 0;
    for (const link of this.#links) for (const b of link.held) n += b.length;
    return n;
  }

  /** Delivers what was kept and stops holding. */
  release(): void {
    this.#holding = undefined;
    for (const link of this.#links) {
      for (const b of link.held) link.client.write(b);
      link.held = [];
    }
  }

  /**
   * Cuts the links whose replies are being held, without delivering them, and stops holding:
   * the server acted on what was sent, the client never hears of it (a reply lost with its
   * connection). The client reconnects through the proxy as usual.
   */
  drop(): void {
    this.#holding = undefined;
    for (const link of this.#links) {
      if (link.held.length === 0) continue;
      link.held = [];
      link.client.destroy();
      link.upstream.destroy();
    }
  }

  async close(): Promise<void> {
    for (const link of this.#links) {
      link.client.destroy();
      link.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #link(client: net.Socket, targetPort: number): void {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const link: Link = { client, upstream, opening: '', held: [] };
    this.#links.add(link);
    client.on('data', (chunk: Buffer) => {
      if (link.opening.length < 1024) link.opening += chunk.toString('latin1');
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (this.#holding !== undefined && link.opening.includes(this.#holding)) link.held.push(chunk);
      else client.write(chunk);
    });
    const drop = (): void => {
      this.#links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop);
    upstream.on('close', drop);
    client.on('error', drop);
    upstream.on('error', drop);
  }
}
