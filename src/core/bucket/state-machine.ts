/**
 * The bucket's state machine: a key-value map with versions, and the session table. Every replica
 * applies the same committed entries in the same order and reaches the same state; the leader
 * answers reads from it.
 *
 * It lives in memory and is rebuilt at boot from the store's snapshot and log. (The storage engine
 * may later keep it on disk; the interface is the same: apply in order, read, export an image.)
 */
import { assert } from '../lib/assert.js';
import { epoch as toEpoch, logIndex } from '../lib/ids.js';
import { SessionTable, type SessionLimits } from './sessions.js';
import type {
  AppliedEntry,
  KvCommand,
  LogEntry,
  Position,
  SnapshotImage,
  Versioned,
  WriteConditions,
  WritePayload,
  WriteResult,
} from './types.js';

/** Whether two byte strings are equal (null stands for "absent"). */
export function bytesEqual(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether a put's or delete's conditions hold for the key's current value (undefined: absent). */
export function conditionsHold(current: Versioned | undefined, c: WriteConditions): boolean {
  if (c.ifExists !== undefined && c.ifExists !== (current !== undefined)) return false;
  if (c.ifVersion !== undefined && current?.version !== c.ifVersion) return false;
  return true;
}

export class KvStateMachine {
  private readonly data = new Map<string, Versioned>();
  readonly sessions: SessionTable;
  private appliedAt: Position = { epoch: toEpoch(0), index: logIndex(0) };

  constructor(limits: SessionLimits) {
    this.sessions = new SessionTable(limits);
  }

  /** The position of the last applied entry (or of the installed image). */
  get applied(): Position {
    return this.appliedAt;
  }

  /** Keys stored. */
  get size(): number {
    return this.data.size;
  }

  /** The current value of `key`, or null. */
  read(key: string): Versioned | null {
    return this.data.get(key) ?? null;
  }

  /** Applies the next entry of the log; entries must come in index order without gaps. */
  apply(entry: LogEntry): AppliedEntry {
    assert(
      entry.index === this.appliedAt.index + 1,
      `apply ${entry.index} after ${this.appliedAt.index}`,
    );
    this.appliedAt = { epoch: entry.epoch, index: entry.index };
    if (entry.payload.kind === 'government') return { entry, result: null, fresh: true };
    return this.applyWrite(entry, entry.payload);
  }

  private applyWrite(entry: LogEntry, write: WritePayload): AppliedEntry {
    const { clientId, seq, ackedBelow } = write;
    const check = this.sessions.admit(clientId, seq, ackedBelow, entry.index);
    switch (check.kind) {
      case 'duplicate':
        return { entry, result: check.result, fresh: false };
      case 'stale':
        return { entry, result: 'STALE_SEQ', fresh: false };
      case 'expired':
        return { entry, result: 'SESSION_EXPIRED', fresh: false };
      case 'new': {
        const result = this.execute(write.command, this.appliedAt);
        this.sessions.record(clientId, seq, ackedBelow, result, entry.index);
        return { entry, result, fresh: true };
      }
    }
  }

  private execute(command: KvCommand, at: Position): WriteResult {
    switch (command.op) {
      case 'put': {
        const ok = conditionsHold(this.data.get(command.key), command);
        if (ok) this.data.set(command.key, { value: command.value, version: at.index });
        return { op: 'put', ok, at };
      }
      case 'delete': {
        const current = this.data.get(command.key);
        const ok = conditionsHold(current, command);
        if (ok) this.data.delete(command.key);
        return { op: 'delete', ok, existed: current !== undefined, at };
      }
      case 'cas': {
        const current = this.data.get(command.key)?.value ?? null;
        const ok = bytesEqual(current, command.expected);
        if (ok) this.data.set(command.key, { value: command.value, version: at.index });
        return { op: 'cas', ok, at };
      }
    }
  }

  /** The whole state as an image at the applied position, keys sorted. */
  image(): SnapshotImage {
    const keys = [...this.data.keys()].sort();
    return {
      base: this.appliedAt,
      items: keys.map((key) => {
        const v = this.data.get(key) as Versioned;
        return { key, value: v.value, version: v.version };
      }),
      sessions: this.sessions.export(),
      sessionFloor: this.sessions.floor,
    };
  }

  /** Replaces the whole state with `image`. */
  install(image: SnapshotImage): void {
    this.data.clear();
    for (const item of image.items) {
      this.data.set(item.key, { value: item.value, version: item.version });
    }
    this.sessions.import(image.sessions, image.sessionFloor);
    this.appliedAt = image.base;
  }
}
