/**
 * Envelopes: what one frame carries (docs/protocols.md, "Wire protocol"). Each payload is one
 * MessagePack array whose first element is the envelope kind:
 *
 *   hello     [0, versionMin, versionMax, peerId, ...ignored]
 *   request   [1, id, type, body]
 *   response  [2, id, body]
 *   error     [3, id, {code, message, details?}]
 *   message   [4, type, body]          (one-way, no response)
 *   goodbye   [5, {code, message, details?}]   (the sender closes after it)
 *
 * Arrays rather than maps keep the field names off the wire and make encoding and decoding about
 * twice as fast. Bodies are opaque here: any value of the subset accepted by `checkMsgpack`.
 *
 * Decoding is for untrusted bytes: they pass `checkMsgpack` before `msgpackr` sees them, and every
 * field is checked after. Any failure is a `MALFORMED_FRAME`. Encoding first checks that the value
 * is plain data of the same subset (`checkEncodable`), so a body this end cannot send (a Date, a
 * Map, a Set, a Float32Array, a class instance) fails at the sender with `BAD_REQUEST` instead of
 * arriving mangled or breaking the connection at the receiver.
 */
import { Packr, RESERVE_START_SPACE, Unpackr } from 'msgpackr';
import { EdictError, type ErrorJson } from '../errors.js';
import { FRAME_HEADER_BYTES } from './frame.js';
import { checkEncodable, checkMsgpack, type MsgpackLimits } from './msgpack-check.js';

/** The oldest protocol version this build speaks. */
export const PROTOCOL_VERSION_MIN = 1;
/** The newest protocol version this build speaks. */
export const PROTOCOL_VERSION_MAX = 1;
/** Longest peer id in a hello, in UTF-16 code units. */
export const PEER_ID_LENGTH_MAX = 256;
/** Longest request or message type, in UTF-16 code units. */
export const TYPE_LENGTH_MAX = 128;
/** Longest error message sent, in UTF-16 code units; longer ones are cut. */
export const ERROR_MESSAGE_LENGTH_MAX = 1024;
/** Largest request id; ids are unsigned 32-bit integers. */
export const REQUEST_ID_MAX = 0xffff_ffff;

/** The first element of every envelope. */
export const KIND = {
  hello: 0,
  request: 1,
  response: 2,
  error: 3,
  message: 4,
  goodbye: 5,
} as const;

export interface HelloEnvelope {
  readonly kind: 'hello';
  readonly versionMin: number;
  readonly versionMax: number;
  readonly peerId: string;
}
export interface RequestEnvelope {
  readonly kind: 'request';
  readonly id: number;
  readonly type: string;
  readonly body: unknown;
}
export interface ResponseEnvelope {
  readonly kind: 'response';
  readonly id: number;
  readonly body: unknown;
}
export interface ErrorEnvelope {
  readonly kind: 'error';
  readonly id: number;
  readonly error: EdictError;
}
export interface MessageEnvelope {
  readonly kind: 'message';
  readonly type: string;
  readonly body: unknown;
}
export interface GoodbyeEnvelope {
  readonly kind: 'goodbye';
  readonly error: EdictError;
}
export type Envelope =
  | HelloEnvelope
  | RequestEnvelope
  | ResponseEnvelope
  | ErrorEnvelope
  | MessageEnvelope
  | GoodbyeEnvelope;

/** Limits on decoded values; see {@link MsgpackLimits}. */
export type CodecOptions = MsgpackLimits;

export const defaultCodecOptions: CodecOptions = {
  // Deep enough for any body Edict defines (they nest 2-4 levels), shallow enough that msgpackr's
  // recursive decoder stays far from the stack limit.
  depthMax: 64,
  // A maximal frame of one-byte items would decode to ~16 M values (~1 GB of heap); 1 Mi items
  // caps that near 64 MB while allowing batches of 100k operations.
  itemsMax: 1 << 20,
};

// Packing options: plain maps (no records: they make the stream stateful and need a shared
// structure table), undefined as nil (msgpackr would otherwise write an extension), and maps sized
// to their entries (without it, msgpackr refuses objects of more than 65,535 keys).
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, variableMapSize: true });
// Unpacking options: plain objects for maps (keys are checked to be strings; msgpackr renames a
// `__proto__` key), no records, no structured clone, 64-bit integers as numbers when they are
// safe and as bigint when not. Binary values are views into the payload, which `decodeEnvelope`
// makes sure is the frame's own memory (see there).
const unpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  structuredClone: false,
  int64AsType: 'auto' as 'number', // 'auto' exists at run time but not in msgpackr's types
});

/**
 * Returns a whole frame (length header and payload) for `envelope`. Throws `BAD_REQUEST` when a
 * body cannot be encoded in the accepted subset. The caller checks the size against its limit.
 */
export function encodeFrameOf(envelope: Envelope, limits: CodecOptions): Buffer {
  const value = toWire(envelope);
  checkEncodable(value, limits);
  let frame: Buffer;
  try {
    frame = packr.pack(value, RESERVE_START_SPACE | FRAME_HEADER_BYTES);
  } catch (error) {
    throw new EdictError('BAD_REQUEST', `cannot encode ${envelope.kind}: ${describe(error)}`);
  }
  frame.writeUInt32BE(frame.length - FRAME_HEADER_BYTES, 0);
  return frame;
}

function toWire(envelope: Envelope): unknown[] {
  switch (envelope.kind) {
    case 'hello':
      return [KIND.hello, envelope.versionMin, envelope.versionMax, envelope.peerId];
    case 'request':
      return [KIND.request, envelope.id, envelope.type, envelope.body];
    case 'response':
      return [KIND.response, envelope.id, envelope.body];
    case 'error':
      return [KIND.error, envelope.id, wireErrorOf(envelope.error)];
    case 'message':
      return [KIND.message, envelope.type, envelope.body];
    case 'goodbye':
      return [KIND.goodbye, wireErrorOf(envelope.error)];
  }
}

/** An error as sent: its message cut to {@link ERROR_MESSAGE_LENGTH_MAX} so that it fits a hello-sized frame. */
function wireErrorOf(error: EdictError): ErrorJson {
  const json = error.toJSON();
  if (json.message.length <= ERROR_MESSAGE_LENGTH_MAX) return json;
  return { ...json, message: `${json.message.slice(0, ERROR_MESSAGE_LENGTH_MAX - 3)}...` };
}

/**
 * Decodes one frame payload from an untrusted peer. Throws `MALFORMED_FRAME`.
 *
 * Binary values in the result are views into the payload. A payload that is a view into a larger
 * buffer (a 64 KiB socket chunk holding many frames) is first copied, once, into memory of its own
 * (pooled for small frames), so that a handler keeping a value pins at most the frame's bytes and
 * a pool slab, never the chunk. One copy per frame is much cheaper than msgpackr's
 * `copyBuffers`, which allocates an ArrayBuffer per binary value.
 */
export function decodeEnvelope(payload: Uint8Array, limits: CodecOptions): Envelope {
  checkMsgpack(payload, limits);
  const own =
    payload.byteOffset === 0 && payload.byteLength === payload.buffer.byteLength
      ? payload
      : Buffer.from(payload); // Buffer.from copies, from the pool when small
  let value: unknown;
  try {
    value = unpackr.unpack(own);
  } catch (error) {
    throw new EdictError('MALFORMED_FRAME', `undecodable payload: ${describe(error)}`);
  }
  return fromWire(value);
}

function fromWire(value: unknown): Envelope {
  if (!Array.isArray(value) || value.length === 0) throw bad('an envelope is a non-empty array');
  const fields: unknown[] = value;
  switch (fields[0]) {
    case KIND.hello:
      // A hello may grow fields in later versions; this version reads the first four.
      if (fields.length < 4) throw bad('hello has 4 or more fields');
      return {
        kind: 'hello',
        versionMin: version(fields[1]),
        versionMax: version(fields[2]),
        peerId: text(fields[3], PEER_ID_LENGTH_MAX, 'peer id', 0),
      };
    case KIND.request:
      arity(fields, 4);
      return {
        kind: 'request',
        id: requestId(fields[1]),
        type: typeName(fields[2]),
        body: fields[3],
      };
    case KIND.response:
      arity(fields, 3);
      return { kind: 'response', id: requestId(fields[1]), body: fields[2] };
    case KIND.error:
      arity(fields, 3);
      return { kind: 'error', id: requestId(fields[1]), error: wireError(fields[2]) };
    case KIND.message:
      arity(fields, 3);
      return { kind: 'message', type: typeName(fields[1]), body: fields[2] };
    case KIND.goodbye:
      arity(fields, 2);
      return { kind: 'goodbye', error: wireError(fields[1]) };
    default:
      throw bad(`unknown envelope kind ${String(fields[0])}`);
  }
}

function bad(reason: string): EdictError {
  return new EdictError('MALFORMED_FRAME', `malformed envelope: ${reason}`);
}

function arity(fields: unknown[], n: number): void {
  if (fields.length !== n) throw bad(`kind ${String(fields[0])} has ${n} fields`);
}

function version(value: unknown): number {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 0xffff) {
    throw bad('a protocol version is an integer in 1..65535');
  }
  return value as number;
}

function requestId(value: unknown): number {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > REQUEST_ID_MAX) {
    throw bad('a request id is an unsigned 32-bit integer');
  }
  return value as number;
}

function typeName(value: unknown): string {
  return text(value, TYPE_LENGTH_MAX, 'type', 1);
}

function text(value: unknown, lengthMax: number, what: string, lengthMin: number): string {
  if (typeof value !== 'string' || value.length < lengthMin || value.length > lengthMax) {
    throw bad(`${what} is a string of ${lengthMin}..${lengthMax} characters`);
  }
  return value;
}

function wireError(value: unknown): EdictError {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw bad('an error is a map {code, message, details?}');
  }
  return EdictError.fromJSON(value as ErrorJson);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
