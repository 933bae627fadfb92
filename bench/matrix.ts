/**
 * `npm run bench -- --matrix [--quick]`: the whole envelope of issue 18 in one invocation, qtasks
 * interleaved with its peers (qtasks, BullMQ, qtasks, bee-queue on Redis; qtasks, raw amqplib,
 * qtasks on RabbitMQ), so machine drift lands on both sides. One JSON line per cell, then a
 * table of ratios. Cells are sized to finish in a few minutes on a 2-core machine; --quick runs
 * every cell with a handful of tasks and no peers (a smoke test: the command cannot rot).
 */
import { benchLatency, benchMemory, benchOnce, round, type RunShape } from './measure.js';
import { runMemoryPeers, runPeerScript } from './peers.js';

type Line = Record<string, unknown>;

interface Cell {
  /** Stable name of the cell, e.g. 'redis 10KB c=50'. */
  readonly cell: string;
  readonly kind: 'throughput' | 'memory' | 'delayed' | 'latency';
  readonly runs: Line[];
  /** qtasks over the better peer (throughput: higher is better; memory, lateness and latency: lower is better). */
  readonly ratios: Record<string, number | null>;
}

const PAYLOADS = [100, 10_240, 102_400];
const CONCURRENCIES = [1, 10, 50, 200];
const label = (bytes: number): string => (bytes >= 1024 ? `${Math.round(bytes / 1024)}KB` : `${bytes}B`);

/** Jobs per throughput cell: bounded by bytes moved and by the slow c=1 runs. */
function jobsFor(payload: number, concurrency: number, quick: boolean): number {
  if (quick) return 10;
  const base = payload >= 100_000 ? 500 : payload >= 10_000 ? 2_000 : 5_000;
  return concurrency === 1 ? Math.ceil(base / 2.5) : base;
}

const num = (line: Line | undefined, key: string): number => Number(line?.[key] ?? NaN);
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const ratio = (a: number, b: number): number | null => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? round(a / b, 2) : null);

/** Peer lines of a run list: every line whose system does not start with 'qtasks'. */
const peersOf = (runs: Line[]): Line[] => runs.filter((r) => !String(r.system).startsWith('qtasks'));
const oursOf = (runs: Line[]): Line[] => runs.filter((r) => String(r.system).startsWith('qtasks'));

/** qtasks, peer, qtasks, peer, qtasks: ours runs before each peer and once more at the end. */
async function interleave(ours: () => Promise<Line>, peers: Array<() => Line>): Promise<Line[]> {
  const runs: Line[] = [];
  for (const peer of peers) {
    runs.push(await ours());
    try {
      runs.push(peer());
    } catch (err) {
      runs.push({ system: 'peer-failed', error: err instanceof Error ? err.message.split('\n')[0] : String(err) });
    }
  }
  runs.push(await ours());
  return runs;
}

function throughputRatios(runs: Line[]): Record<string, number | null> {
  const ours = oursOf(runs);
  const peers = peersOf(runs).filter((p) => Number.isFinite(num(p, 'enqueue_per_s')));
  const out: Record<string, number | null> = {};
  for (const key of ['enqueue_per_s', 'process_per_s']) {
    const best = peers.length === 0 ? NaN : Math.max(...peers.map((p) => num(p, key)));
    out[`${key.replace('_per_s', '')}_vs_best_peer`] = ratio(mean(ours.map((o) => num(o, key))), best);
  }
  return out;
}

function lowerIsBetter(runs: Line[], key: string): Record<string, number | null> {
  const ours = oursOf(runs);
  const peers = peersOf(runs).filter((p) => Number.isFinite(num(p, key)));
  const best = peers.length === 0 ? NaN : Math.min(...peers.map((p) => num(p, key)));
  return { [`${key}_vs_best_peer`]: ratio(mean(ours.map((o) => num(o, key))), best) };
}

export interface MatrixOptions {
  readonly quick: boolean;
  /** Run the peer scripts (off with --quick). */
  readonly peers: boolean;
  /** Only the cells whose name contains this (e.g. 'delayed', 'rabbitmq', '10KB'). */
  readonly only?: string;
  /** Called with each cell as it completes (the JSON line). */
  readonly onCell: (cell: Cell) => void;
}

export async function runMatrix(opts: MatrixOptions): Promise<Cell[]> {
  const cells: Cell[] = [];
  const want = (cell: string): boolean => opts.only === undefined || cell.includes(opts.only);
  const done = (cell: Cell): void => {
    cells.push(cell);
    opts.onCell(cell);
  };
  const shape = (broker: string, jobs: number, concurrency: number, payload: number, delay = 0): RunShape => ({ broker, jobs, concurrency, payload, delay, latencyJobs: 0 });
  const peerArgs = (jobs: number, c: number, extra: string[]): string[] => [String(jobs), String(c), ...extra];
  const redisPeers = (args: string[]): Array<() => Line> => (opts.peers ? ['bullmq.mjs', 'beequeue.mjs'].map((s) => () => runPeerScript(s, args)) : []);

  // 1. Redis throughput: args 100 B / 10 KB / 100 KB x concurrency 1 / 10 / 50 / 200.
  for (const payload of PAYLOADS) {
    for (const c of CONCURRENCIES) {
      const cell = `redis ${label(payload)} c=${c}`;
      if (!want(cell)) continue;
      const jobs = jobsFor(payload, c, opts.quick);
      const runs = await interleave(() => benchOnce(shape('redis', jobs, c, payload)), redisPeers(peerArgs(jobs, c, ['--payload', String(payload)])));
      done({ cell, kind: 'throughput', runs, ratios: throughputRatios(runs) });
    }
  }

  // 2. Redis memory per queued task, at each payload size.
  for (const payload of PAYLOADS) {
    const cell = `redis memory ${label(payload)}`;
    if (!want(cell)) continue;
    const jobs = opts.quick ? 10 : payload >= 100_000 ? 300 : 2_000;
    const peerLines = opts.peers ? runMemoryPeers(jobs, payload) : [];
    const runs = [await benchMemory(jobs, payload), ...peerLines, await benchMemory(jobs, payload)];
    done({ cell, kind: 'memory', runs, ratios: lowerIsBetter(runs, 'key_bytes_per_task') });
  }

  // 3. Delayed tasks: a few hundred due over the enqueue window with an idle worker; a batch due together.
  for (const [what, jobs, delay] of [
    ['delayed 300 x 1s', opts.quick ? 10 : 300, 1_000],
    ['delayed batch 20k', opts.quick ? 20 : 20_000, 2_000],
  ] as const) {
    if (!want(`redis ${what}`)) continue;
    const runs = await interleave(() => benchOnce(shape('redis', jobs, 50, 0, delay)), redisPeers(peerArgs(jobs, 50, ['--delay', String(delay)])));
    done({ cell: `redis ${what}`, kind: 'delayed', runs, ratios: { ...lowerIsBetter(runs, 'lateness_p99_ms'), ...throughputRatios(runs) } });
  }

  // 4. Idle round trip, one task at a time.
  if (want('redis idle round trip')) {
    const samples = opts.quick ? 10 : 500;
    const runs = await interleave(() => benchLatency('redis', samples, 1), redisPeers(['0', '1', '--latency', String(samples)]));
    done({ cell: 'redis idle round trip', kind: 'latency', runs, ratios: { ...lowerIsBetter(runs, 'p50_ms'), ...lowerIsBetter(runs, 'p99_ms') } });
  }

  // 5. RabbitMQ publish and consume at 10 KB vs raw amqplib. Each cell starts with one untimed
  // qtasks run of its own shape: every new app and concurrency sends V8 back to compiling (and
  // deoptimizing the calls into the previous app's closures) for its first ~1,000-2,000 tasks,
  // at two to three times the warm CPU per task, and a c=1 cell of 500 tasks is all of that.
  // A worker runs far longer. The raw script runs cold, in a fresh process (docs/benchmarks.md).
  for (const c of CONCURRENCIES) {
    if (!want(`rabbitmq 10KB c=${c}`)) continue;
    const jobs = opts.quick ? 10 : c === 1 ? 500 : 2_000;
    const payload = 10_240;
    const peers = opts.peers ? [() => runPeerScript('amqp.mjs', peerArgs(jobs, c, ['--payload', String(payload)]), true)] : [];
    if (!opts.quick) await benchOnce(shape('rabbitmq', Math.max(jobs, 2_000), c, payload));
    const runs = await interleave(() => benchOnce(shape('rabbitmq', jobs, c, payload)), peers);
    // CPU per task beside throughput: it moves far less with the shared machine's load.
    done({ cell: `rabbitmq 10KB c=${c}`, kind: 'throughput', runs, ratios: { ...throughputRatios(runs), ...lowerIsBetter(runs, 'enqueue_cpu_us'), ...lowerIsBetter(runs, 'process_cpu_us') } });
  }
  return cells;
}

const fmt = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : String(v));

/** The summary: one row per cell, qtasks' mean beside each peer, and the ratio to the better peer. */
export function summaryTable(cells: readonly Cell[]): string {
  const rows = ['| cell | qtasks | peers | ratio to the better peer |', '| --- | --- | --- | --- |'];
  for (const cell of cells) {
    const cpu = cell.cell.startsWith('rabbitmq') ? ['enqueue_cpu_us', 'process_cpu_us'] : [];
    const key = cell.kind === 'memory' ? ['key_bytes_per_task'] : cell.kind === 'latency' ? ['p50_ms', 'p99_ms'] : cell.kind === 'delayed' ? ['lateness_p50_ms', 'lateness_p99_ms', 'process_per_s'] : ['enqueue_per_s', 'process_per_s', ...cpu];
    const show = (line: Line): string => key.map((k) => `${k.replace(/_per_s$|_per_task$/, '')} ${fmt(round(num(line, k), k.endsWith('_ms') ? 2 : 0))}`).join(', ');
    const ours = oursOf(cell.runs);
    const oursMean: Line = Object.fromEntries(key.map((k) => [k, mean(ours.map((o) => num(o, k)))]));
    const peers = peersOf(cell.runs).map((p) => `${String(p.system)}: ${p.error !== undefined ? 'failed' : show(p)}`).join('; ');
    const ratios = Object.entries(cell.ratios).map(([k, v]) => `${k.replace('_vs_best_peer', '')} ${fmt(v)}x`).join(', ');
    rows.push(`| ${cell.cell} | ${show(oursMean)} | ${peers || '-'} | ${ratios} |`);
  }
  return rows.join('\n');
}
