// The codec at the trust boundary. Plain data round-trips through encode and decode (property
// test); any byte string given to the decoder either decodes to a well-formed envelope or fails
// with MALFORMED_FRAME, never with another exception (fuzzed, and with crafted inputs aimed at
// msgpackr's extensions, its recursion and its allocation); values the receiver could not take
// are refused at the sender with BAD_REQUEST. Errors serialise to {code, message, details?}.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EdictError, ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import {
  decodeEnvelope,
  defaultCodecOptions,
  encodeFrameOf,
  type Envelope,
} from '../../src/net/codec.js';
import { checkMsgpack } from '../../src/net/msgpack-check.js';

const limits = defaultCodecOptions;
const roundTrip = (envelope: Envelope): Envelope =>
  decodeEnvelope(encodeFrameOf(envelope, limits).subarray(4), limits);

const isMalformed = (error: unknown): boolean =>
  error instanceof EdictError && error.code === 'MALFORMED_FRAME';

/** Plain data of the accepted subset, in the form the decoder returns it. */
const plain: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noDefaultInfinity: false }).filter((d) => !Object.is(d, -0)),
    fc.string(),
    fc.uint8Array().map((bytes) => Buffer.from(bytes)),
    fc
      .bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n })
      .filter((b) => b > 2n ** 53n || b < -(2n ** 53n)),
    fc.array(tie('value')),
    fc.dictionary(
      fc.string().filter((k) => k !== '__proto__'),
      tie('value'),
      { noNullPrototype: true }, // null-prototype objects are accepted but decode as plain ones
    ),
  ),
})).value;

describe('codec', () => {
  test('every envelope kind round-trips with plain bodies', () => {
    fc.assert(
      fc.property(
        plain,
        fc.nat(0xffffffff),
        fc.string({ minLength: 1, maxLength: 128 }),
        (body, id, type) => {
          assert.deepEqual(roundTrip({ kind: 'request', id, type, body }), {
            kind: 'request',
            id,
            type,
            body,
          });
          assert.deepEqual(roundTrip({ kind: 'response', id, body }), {
            kind: 'response',
            id,
            body,
          });
          assert.deepEqual(roundTrip({ kind: 'message', type, body }), {
            kind: 'message',
            type,
            body,
          });
        },
      ),
      { numRuns: 300 },
    );
    const hello = { kind: 'hello', versionMin: 1, versionMax: 3, peerId: 'n7' } as const;
    assert.deepEqual(roundTrip(hello), hello);
    const error = new EdictError('WRONG_LEADER', 'ask n2', { leaderHint: 2 });
    const back = roundTrip({ kind: 'error', id: 9, error });
    assert.equal(back.kind, 'error');
    assert.deepEqual(back.kind === 'error' && back.error.toJSON(), error.toJSON());
  });

  test('random bytes decode to an envelope or fail with MALFORMED_FRAME, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeEnvelope(bytes, limits);
        } catch (error) {
          assert.ok(isMalformed(error), `unexpected ${String(error)}`);
        }
      }),
      { numRuns: 3_000 },
    );
  });

  test('mutated valid frames decode or fail with MALFORMED_FRAME', () => {
    const base = encodeFrameOf(
      { kind: 'request', id: 5, type: 'put', body: { k: Buffer.from('key'), v: [1, 'x', null] } },
      limits,
    ).subarray(4);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.nat(255)), { maxLength: 4 }),
        (edits) => {
          const bytes = Buffer.from(base);
          for (const [at, value] of edits) bytes[at] = value;
          try {
            decodeEnvelope(bytes, limits);
          } catch (error) {
            assert.ok(isMalformed(error), `unexpected ${String(error)}`);
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });

  const crafted: Array<[string, number[]]> = [
    [
      'msgpackr record definition (fixext 1, type 0x72)',
      [0x93, 0x04, 0xa1, 0x74, 0xd4, 0x72, 0x40],
    ],
    ['RegExp extension', [0x93, 0x04, 0xa1, 0x74, 0xc7, 0x01, 0x78, 0x92]],
    ['structured-clone pointer', [0x93, 0x04, 0xa1, 0x74, 0xd6, 0x70, 0, 0, 0, 1]],
    ['timestamp extension', [0x93, 0x04, 0xa1, 0x74, 0xd6, 0xff, 0, 0, 0, 1]],
    ['the never-used byte 0xc1', [0x93, 0x04, 0xa1, 0x74, 0xc1]],
    ['array32 declaring 4 G items', [0xdd, 0xff, 0xff, 0xff, 0xff, 0x04]],
    ['map32 declaring 4 G entries', [0x93, 0x04, 0xa1, 0x74, 0xdf, 0xff, 0xff, 0xff, 0xff]],
    ['str32 longer than the frame', [0x93, 0x04, 0xdb, 0x7f, 0xff, 0xff, 0xff, 0x61]],
    ['a map with an integer key', [0x93, 0x04, 0xa1, 0x74, 0x81, 0x01, 0x02]],
    ['trailing bytes after the value', [0x93, 0x04, 0xa1, 0x74, 0xc0, 0xc0]],
    ['an empty payload', []],
    ['not an array', [0xa5, 0x68, 0x65, 0x6c, 0x6c, 0x6f]],
    ['an unknown kind', [0x93, 0x09, 0xa1, 0x74, 0xc0]],
    ['a request with a negative id', [0x94, 0x01, 0xff, 0xa1, 0x74, 0xc0]],
    ['a request with an empty type', [0x94, 0x01, 0x01, 0xa0, 0xc0]],
    ['a response with a missing body', [0x92, 0x02, 0x01]],
    ['a hello with version 0', [0x94, 0x00, 0x00, 0x01, 0xa1, 0x78]],
  ];
  for (const [name, bytes] of crafted) {
    test(`rejects ${name}`, () => {
      assert.throws(() => decodeEnvelope(Uint8Array.from(bytes), limits), isMalformed);
    });
  }

  test('rejects nesting beyond depthMax without recursing into it', () => {
    const deep = Buffer.alloc(100_000, 0x91); // [[[[...]]]] 100k deep: would overflow msgpackr
    deep[deep.length - 1] = 0xc0;
    assert.throws(() => checkMsgpack(deep, limits), /nested deeper than 64/);
    const ok = Buffer.concat([Buffer.alloc(63, 0x91), Buffer.from([0xc0])]);
    checkMsgpack(ok, limits);
  });

  test('rejects frames with more than itemsMax values', () => {
    const body = Array.from({ length: 100 }, () => 0);
    const frame = encodeFrameOf({ kind: 'message', type: 't', body }, limits).subarray(4);
    assert.throws(() => decodeEnvelope(frame, { ...limits, itemsMax: 50 }), isMalformed);
    decodeEnvelope(frame, { ...limits, itemsMax: 110 });
  });

  test('a __proto__ key cannot reach an object prototype', () => {
    const body = JSON.parse('{"__proto__": {"polluted": true}}') as unknown;
    const back = roundTrip({ kind: 'message', type: 't', body });
    assert.equal(back.kind === 'message' && Object.getPrototypeOf(back.body), Object.prototype);
    assert.equal(({} as { polluted?: boolean }).polluted, undefined);
  });

  test('bodies that are not plain data are refused at the sender with BAD_REQUEST', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    const refused = [
      new Date(0),
      new Map([[1, 2]]),
      new Set([1]),
      /re/,
      new Float32Array(2),
      new Uint16Array([1, 2]),
      new ArrayBuffer(2),
      () => 1,
      Symbol('s'),
      new EdictError('INTERNAL'),
      cyclic,
      2n ** 64n, // beyond 64 bits
    ];
    for (const body of refused) {
      assert.throws(
        () => encodeFrameOf({ kind: 'message', type: 't', body: { nested: [body] } }, limits),
        (error: unknown) => error instanceof EdictError && error.code === 'BAD_REQUEST',
        `refuses ${String(body)}`,
      );
    }
  });

  test('16- and 32-bit lengths: long strings, binaries, arrays and maps round-trip', () => {
    const body = {
      str16: 'x'.repeat(300),
      str32: 'y'.repeat(70_000),
      bin16: Buffer.alloc(300, 1),
      bin32: Buffer.alloc(70_000, 2),
      array16: Array.from({ length: 300 }, (_, i) => i),
      array32: Array.from({ length: 70_000 }, (_, i) => i % 7),
      map16: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i])),
      map32: Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`k${i}`, i])),
    };
    const back = roundTrip({ kind: 'message', type: 't', body });
    assert.deepEqual(back.kind === 'message' && back.body, body);
  });

  test('undefined travels as nil, Buffers and Uint8Arrays as binary', () => {
    const back = roundTrip({
      kind: 'message',
      type: 't',
      body: { a: undefined, b: new Uint8Array([1, 2]), c: [undefined] },
    });
    assert.deepEqual(back.kind === 'message' && back.body, {
      a: null,
      b: Buffer.from([1, 2]),
      c: [null],
    });
  });
});

describe('EdictError', () => {
  test('serialises to {code, message, details?} and back', () => {
    const error = new EdictError('STALE_MAP', 'map 7 is current', { mapVersion: 7 });
    assert.deepEqual(JSON.parse(JSON.stringify(error)), {
      code: 'STALE_MAP',
      message: 'map 7 is current',
      details: { mapVersion: 7 },
    });
    assert.deepEqual(EdictError.fromJSON(error.toJSON()).toJSON(), error.toJSON());
    assert.deepEqual(new EdictError('TIMEOUT').toJSON(), {
      code: 'TIMEOUT',
      message: ERROR_CODES.TIMEOUT,
    });
  });

  test('an unknown or missing code becomes INTERNAL and keeps the original', () => {
    const error = EdictError.fromJSON({ code: 'FROM_THE_FUTURE', message: 'later' });
    assert.equal(error.code, 'INTERNAL');
    assert.equal(error.details?.['remoteCode'], 'FROM_THE_FUTURE');
    assert.equal(EdictError.fromJSON('nonsense').code, 'INTERNAL');
  });

  test('every code has a description', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      assert.match(code, /^[A-Z_]+$/);
      assert.ok(ERROR_CODES[code].length > 0);
    }
  });
});
