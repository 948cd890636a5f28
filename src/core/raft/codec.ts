/**
 * The byte format of the metadata log's durable records, shared by every store (docs/raft.md):
 *
 *   frame    = length:u32le crc:u32le payload      (crc = CRC-32C of the payload)
 *   payload  = kind:u8 body
 *   kind 1   hard state  term:f64 vote:f64 (0 = none) commit:f64
 *   kind 2   entry       index:f64 term:f64 type:u8 (0 normal, 1 config) data
 *   kind 3   snapshot    index:f64 term:f64 voters:u32 id:f64… learners:u32 id:f64… data
 *
 * Numbers are little-endian; indexes and terms are stored as float64, which holds every safe
 * integer exactly. A reader of a stream of frames stops at the first frame that is short or fails
 * its checksum: that is the torn tail of a crash, and everything after it is discarded.
 */
import { assert } from '../lib/assert.js';
import { crc32c } from '../lib/crc32c.js';
import { logIndex, nodeId, term, type NodeId } from '../lib/ids.js';
import type { Entry, HardState, Snapshot } from './types.js';

/** One durable record. */
export type RaftRecord =
  | { readonly kind: 'hard-state'; readonly hardState: HardState }
  | { readonly kind: 'entry'; readonly entry: Entry }
  | { readonly kind: 'snapshot'; readonly snapshot: Snapshot };

const KIND_HARD_STATE = 1;
const KIND_ENTRY = 2;
const KIND_SNAPSHOT = 3;
const FRAME_HEADER_BYTES = 8;

class Writer {
  private bytes = new Uint8Array(64);
  private view = new DataView(this.bytes.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    let size = this.bytes.length;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.reserve(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
  }

  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }

  f64(v: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, v, true);
    this.length += 8;
  }

  raw(data: Uint8Array): void {
    this.reserve(data.length);
    this.bytes.set(data, this.length);
    this.length += data.length;
  }

  ids(list: readonly NodeId[]): void {
    this.u32(list.length);
    for (const id of list) this.f64(id);
  }

  done(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

class Reader {
  private readonly view: DataView;
  at = 0;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private need(n: number): void {
    assert(this.at + n <= this.bytes.length, 'raft record: truncated body');
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.at++);
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.at, true);
    this.at += 8;
    return v;
  }

  ids(): NodeId[] {
    const n = this.u32();
    const out: NodeId[] = [];
    for (let i = 0; i < n; i++) out.push(nodeId(this.f64()));
    return out;
  }

  rest(): Uint8Array {
    const data = this.bytes.slice(this.at);
    this.at = this.bytes.length;
    return data;
  }
}

/** The payload of one record (without the frame). */
export function encodeRecord(record: RaftRecord): Uint8Array {
  const w = new Writer();
  switch (record.kind) {
    case 'hard-state': {
      const { term: t, vote, commit } = record.hardState;
      w.u8(KIND_HARD_STATE);
      w.f64(t);
      w.f64(vote ?? 0);
      w.f64(commit);
      break;
    }
    case 'entry': {
      const e = record.entry;
      w.u8(KIND_ENTRY);
      w.f64(e.index);
      w.f64(e.term);
      w.u8(e.type === 'config' ? 1 : 0);
      w.raw(e.data);
      break;
    }
    case 'snapshot': {
      const { meta, data } = record.snapshot;
      w.u8(KIND_SNAPSHOT);
      w.f64(meta.index);
      w.f64(meta.term);
      w.ids(meta.config.voters);
      w.ids(meta.config.learners);
      w.raw(data);
      break;
    }
  }
  return w.done();
}

/** Decodes a payload written by {@link encodeRecord}; its checksum has been verified. */
export function decodeRecord(payload: Uint8Array): RaftRecord {
  const r = new Reader(payload);
  const kind = r.u8();
  switch (kind) {
    case KIND_HARD_STATE: {
      const t = term(r.f64());
      const vote = r.f64();
      const commit = logIndex(r.f64());
      return {
        kind: 'hard-state',
        hardState: { term: t, vote: vote === 0 ? null : nodeId(vote), commit },
      };
    }
    case KIND_ENTRY: {
      const index = logIndex(r.f64());
      const t = term(r.f64());
      const type = r.u8();
      assert(type === 0 || type === 1, `raft record: bad entry type ${type}`);
      const entry: Entry = {
        index,
        term: t,
        type: type === 1 ? 'config' : 'normal',
        data: r.rest(),
      };
      return { kind: 'entry', entry };
    }
    case KIND_SNAPSHOT: {
      const index = logIndex(r.f64());
      const t = term(r.f64());
      const voters = r.ids();
      const learners = r.ids();
      const meta = { index, term: t, config: { voters, learners } };
      return { kind: 'snapshot', snapshot: { meta, data: r.rest() } };
    }
    default:
      assert(false, `raft record: unknown kind ${kind}`);
  }
}

/** One record framed with its length and checksum. */
export function frameRecord(record: RaftRecord): Uint8Array {
  const payload = encodeRecord(record);
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, payload.length, true);
  view.setUint32(4, crc32c(payload), true);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** Frames of several records, concatenated. */
export function frameRecords(records: readonly RaftRecord[]): Uint8Array {
  const frames = records.map(frameRecord);
  const out = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.length;
  }
  return out;
}

/**
 * Reads frames from the start of `bytes` until the end or the first bad one. Returns the records
 * and the length of the valid prefix (a torn tail is everything after it).
 */
export function readFrames(bytes: Uint8Array): { records: RaftRecord[]; validBytes: number } {
  const records: RaftRecord[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at + FRAME_HEADER_BYTES <= bytes.length) {
    const length = view.getUint32(at, true);
    const crc = view.getUint32(at + 4, true);
    const end = at + FRAME_HEADER_BYTES + length;
    if (end > bytes.length) break;
    const payload = bytes.subarray(at + FRAME_HEADER_BYTES, end);
    if (crc32c(payload) !== crc) break;
    records.push(decodeRecord(payload));
    at = end;
  }
  return { records, validBytes: at };
}
