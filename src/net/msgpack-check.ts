/**
 * A strict structural check of MessagePack bytes, run before `msgpackr` decodes anything that
 * came from the network, and after it encodes anything that goes out.
 *
 * Why: `msgpackr`'s decoder understands far more than plain MessagePack. Its extension types are
 * registered globally and cannot be switched off per decoder: records (which compile a function
 * per definition), structured-clone references, RegExp, Error, Set, typed arrays, bundled strings.
 * Untrusted bytes must reach none of these. Its decoder is also recursive, so deep nesting would
 * overflow the stack, and a small frame can declare containers of billions of items.
 *
 * The accepted subset, which every envelope and body uses: nil, booleans, integers, floats,
 * strings, binary, arrays, and maps whose keys are strings; no extension types; nesting at most
 * `depthMax` containers deep; at most `itemsMax` values in all; exactly one value filling the
 * buffer. The check is one linear pass that allocates nothing.
 */
import { assert } from '../core/lib/assert.js';
import { EdictError } from '../errors.js';

/** Limits on the shape of a decoded value. */
export interface MsgpackLimits {
  /** Deepest nesting of arrays and maps. Bodies are shallow; this keeps recursion bounded. */
  readonly depthMax: number;
  /** Most values (containers, keys and scalars) in one frame. Bounds heap use per frame. */
  readonly itemsMax: number;
}

/**
 * Throws `MALFORMED_FRAME` unless `bytes` holds exactly one value of the accepted subset within
 * `limits`.
 */
export function checkMsgpack(bytes: Uint8Array, limits: MsgpackLimits): void {
  assert(limits.depthMax >= 1, 'depthMax must be at least 1');
  const checker = new Checker(bytes, limits);
  const end = checker.value(0, 0);
  if (end !== bytes.length) throw malformed(`${bytes.length - end} bytes after the value`);
}

function malformed(reason: string): EdictError {
  return new EdictError('MALFORMED_FRAME', `malformed MessagePack: ${reason}`);
}

class Checker {
  private items = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly limits: MsgpackLimits,
  ) {}

  /** Checks the value at `pos`; returns the position after it. */
  value(pos: number, depth: number): number {
    if (pos >= this.bytes.length) throw malformed('truncated');
    this.items += 1;
    if (this.items > this.limits.itemsMax)
      throw malformed(`more than ${this.limits.itemsMax} items`);
    const b = this.bytes[pos] as number;
    if (b <= 0x7f || b >= 0xe0) return pos + 1; // positive and negative fixint
    if (b <= 0x8f) return this.map(pos + 1, b & 0x0f, depth);
    if (b <= 0x9f) return this.array(pos + 1, b & 0x0f, depth);
    if (b <= 0xbf) return this.skip(pos + 1, b & 0x1f); // fixstr
    switch (b) {
      case 0xc0: // nil
      case 0xc2: // false
      case 0xc3: // true
        return pos + 1;
      case 0xc4: // bin 8
      case 0xd9: // str 8
        return this.skip(pos + 2, this.length(pos + 1, 1));
      case 0xc5: // bin 16
      case 0xda: // str 16
        return this.skip(pos + 3, this.length(pos + 1, 2));
      case 0xc6: // bin 32
      case 0xdb: // str 32
        return this.skip(pos + 5, this.length(pos + 1, 4));
      case 0xcc: // uint 8
      case 0xd0: // int 8
        return this.skip(pos + 1, 1);
      case 0xcd: // uint 16
      case 0xd1: // int 16
        return this.skip(pos + 1, 2);
      case 0xca: // float 32
      case 0xce: // uint 32
      case 0xd2: // int 32
        return this.skip(pos + 1, 4);
      case 0xcb: // float 64
      case 0xcf: // uint 64
      case 0xd3: // int 64
        return this.skip(pos + 1, 8);
      case 0xdc: // array 16
        return this.array(pos + 3, this.length(pos + 1, 2), depth);
      case 0xdd: // array 32
        return this.array(pos + 5, this.length(pos + 1, 4), depth);
      case 0xde: // map 16
        return this.map(pos + 3, this.length(pos + 1, 2), depth);
      case 0xdf: // map 32
        return this.map(pos + 5, this.length(pos + 1, 4), depth);
      default: // 0xc1 (never used), ext 8/16/32 and fixext 1..16
        throw malformed(`type byte 0x${b.toString(16)} is not accepted`);
    }
  }

  /** Reads a big-endian length of `size` bytes at `pos` (by hand: a DataView per frame costs more). */
  private length(pos: number, size: 1 | 2 | 4): number {
    const b = this.bytes;
    if (pos + size > b.length) throw malformed('truncated length');
    if (size === 1) return b[pos] as number;
    if (size === 2) return ((b[pos] as number) << 8) | (b[pos + 1] as number);
    return (
      (b[pos] as number) * 0x100_0000 +
      (((b[pos + 1] as number) << 16) | ((b[pos + 2] as number) << 8) | (b[pos + 3] as number))
    );
  }

  private skip(pos: number, n: number): number {
    if (pos + n > this.bytes.length) throw malformed('truncated');
    return pos + n;
  }

  private array(pos: number, count: number, depth: number): number {
    this.enter(pos, count, depth);
    for (let i = 0; i < count; i++) pos = this.value(pos, depth + 1);
    return pos;
  }

  private map(pos: number, count: number, depth: number): number {
    this.enter(pos, 2 * count, depth);
    for (let i = 0; i < count; i++) {
      if (pos >= this.bytes.length) throw malformed('truncated');
      const k = this.bytes[pos] as number;
      const isString = (k >= 0xa0 && k <= 0xbf) || (k >= 0xd9 && k <= 0xdb);
      if (!isString) throw malformed('a map key is not a string');
      pos = this.value(this.value(pos, depth + 1), depth + 1);
    }
    return pos;
  }

  /** Rejects containers too deep, or declaring more items than the bytes left could hold. */
  private enter(pos: number, items: number, depth: number): void {
    if (depth + 1 > this.limits.depthMax)
      throw malformed(`nested deeper than ${this.limits.depthMax}`);
    if (items > this.bytes.length - pos)
      throw malformed('a container declares more items than bytes');
  }
}

/**
 * Throws `BAD_REQUEST` unless `value` is plain data that encodes to the accepted subset within
 * `limits`: null, undefined (sent as nil), booleans, numbers, bigints (64-bit), strings,
 * `Uint8Array`s (Buffers included), arrays, and objects whose prototype is `Object.prototype` or
 * null. Run before encoding because `msgpackr` would silently turn a Set or RegExp into an array,
 * a function into nil, and scramble the bytes of other typed arrays. Cycles exceed `depthMax`.
 */
export function checkEncodable(value: unknown, limits: MsgpackLimits): void {
  const state = { items: 0 };
  walk(value, 0, limits, state);
}

function walk(
  value: unknown,
  depth: number,
  limits: MsgpackLimits,
  state: { items: number },
): void {
  state.items += 1;
  if (state.items > limits.itemsMax) throw unencodable(`more than ${limits.itemsMax} items`);
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return;
    case 'object':
      break;
    default:
      throw unencodable(`a value of type ${typeof value} is not plain data`);
  }
  if (value === null || value instanceof Uint8Array) return;
  if (depth + 1 > limits.depthMax) throw unencodable(`nested deeper than ${limits.depthMax}`);
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) walk(item, depth + 1, limits, state);
    return;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw unencodable(`a ${describeObject(value)} object is not plain data`);
  }
  for (const key in value) {
    state.items += 1; // the key
    walk((value as Record<string, unknown>)[key], depth + 1, limits, state);
  }
}

function describeObject(value: object): string {
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' ? name : 'object';
}

function unencodable(reason: string): EdictError {
  return new EdictError('BAD_REQUEST', `cannot encode: ${reason}`);
}
