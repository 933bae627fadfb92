/**
 * An in-memory Writable that keeps every JSON log line it receives as a parsed record, so tests
 * assert on fields rather than on text.
 */
import { Writable } from 'node:stream';

export type LogRecord = Record<string, unknown> & { msg?: string; level?: number | string };

export class LogSink extends Writable {
  readonly records: LogRecord[] = [];

  constructor() {
    super({ decodeStrings: false });
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    for (const line of String(chunk).split('\n')) if (line.trim() !== '') this.records.push(JSON.parse(line) as LogRecord);
    callback();
  }

  /** Records whose fields include every key/value of `match`. */
  where(match: Record<string, unknown>): LogRecord[] {
    return this.records.filter((r) => Object.entries(match).every(([k, v]) => r[k] === v));
  }

  /** Records with this message. */
  withMsg(msg: string): LogRecord[] {
    return this.records.filter((r) => r.msg === msg);
  }
}
