// Version negotiation as a table: the accepting end picks the highest common version of the two
// ranges; the connecting end accepts only a single version inside its own range.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { negotiateVersion } from '../../src/net/handshake.js';

const hello = (versionMin: number, versionMax: number) =>
  ({ kind: 'hello', versionMin, versionMax, peerId: 'p' }) as const;
const ours = { versionMin: 2, versionMax: 4 };

describe('negotiateVersion', () => {
  const cases: Array<[string, 'client' | 'server', [number, number], number | 'PROTOCOL_VERSION']> =
    [
      ['server: same range, highest', 'server', [2, 4], 4],
      ['server: overlap below', 'server', [1, 3], 3],
      ['server: overlap above', 'server', [3, 9], 4],
      ['server: peer only older', 'server', [1, 1], 'PROTOCOL_VERSION'],
      ['server: peer only newer', 'server', [5, 6], 'PROTOCOL_VERSION'],
      ['server: inverted range', 'server', [4, 3], 'PROTOCOL_VERSION'],
      ['client: server chose one of ours', 'client', [3, 3], 3],
      ['client: server chose one outside', 'client', [5, 5], 'PROTOCOL_VERSION'],
      ['client: server answered a range', 'client', [2, 3], 'PROTOCOL_VERSION'],
    ];
  for (const [name, role, [min, max], want] of cases) {
    test(name, () => {
      if (want === 'PROTOCOL_VERSION') {
        assert.throws(() => negotiateVersion(role, hello(min, max), ours), { code: want });
      } else {
        assert.equal(negotiateVersion(role, hello(min, max), ours), want);
      }
    });
  }
});
