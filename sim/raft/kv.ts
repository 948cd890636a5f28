/**
 * The key-value state machine the `raft` scenario runs on top of the metadata log: writes and
 * compare-and-set are log commands; reads go through ReadIndex and are answered from the applied
 * state. Commands and snapshots are canonical JSON, so equal states have equal bytes.
 */
import { assert } from '../../src/core/lib/assert.js';
import type { KvInput, KvOutput, KvValue } from '../history.js';

/** A logged client command. `probe` commands carry no client (the liveness probe). */
export interface KvCommand {
  readonly client: number;
  readonly reqId: number;
  readonly key: string;
  readonly input: Exclude<KvInput, { f: 'read' }> | { readonly f: 'probe' };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(command: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(command));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  const command = JSON.parse(decoder.decode(data)) as KvCommand;
  assert(typeof command.key === 'string', 'kv command has a key');
  return command;
}

/**
 * The store's state: values, and per client session the last request applied with its output, so
 * that a command applied twice (e.g. proposed twice) takes effect once (DESIGN.md 1, exactly-once).
 */
export class KvStateMachine {
  private values = new Map<string, string>();
  private sessions = new Map<number, { reqId: number; output: KvOutput | null }>();

  /** Applies one command and returns its output (null for a probe). */
  apply(command: KvCommand): KvOutput | null {
    const session = this.sessions.get(command.client);
    if (session !== undefined && command.reqId <= session.reqId) {
      return command.reqId === session.reqId ? session.output : null;
    }
    const output = this.execute(command);
    if (command.input.f !== 'probe')
      this.sessions.set(command.client, { reqId: command.reqId, output });
    return output;
  }

  private execute(command: KvCommand): KvOutput | null {
    const { key, input } = command;
    switch (input.f) {
      case 'write':
        this.assign(key, input.value);
        return { f: 'write' };
      case 'cas': {
        const ok = (this.values.get(key) ?? null) === input.expected;
        if (ok) this.assign(key, input.value);
        return { f: 'cas', ok };
      }
      case 'probe':
        return null;
    }
  }

  /** Sets `key` (null deletes it). */
  private assign(key: string, value: KvValue): void {
    if (value === null) this.values.delete(key);
    else this.values.set(key, value);
  }

  read(key: string): KvValue {
    return this.values.get(key) ?? null;
  }

  /** The state as canonical bytes (keys and sessions sorted). */
  snapshot(): Uint8Array {
    const values = [...this.values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const sessions = [...this.sessions].sort(([a], [b]) => a - b);
    return encoder.encode(JSON.stringify({ values, sessions }));
  }

  restore(data: Uint8Array): void {
    const state = JSON.parse(decoder.decode(data)) as {
      values: [string, string][];
      sessions: [number, { reqId: number; output: KvOutput | null }][];
    };
    this.values = new Map(state.values);
    this.sessions = new Map(state.sessions);
  }
}
