/**
 * Protocol version negotiation (docs/protocols.md, "Hello"). Each end speaks a range of versions.
 * The connecting end offers its range; the accepting end picks the highest version both speak and
 * answers with exactly that version (min = max), or refuses with `PROTOCOL_VERSION`. The
 * connecting end accepts the answer only if it is a single version within its own range.
 */
import { EdictError } from '../errors.js';
import { PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN, type HelloEnvelope } from './codec.js';

/** This build's range. */
export interface VersionRange {
  readonly versionMin: number;
  readonly versionMax: number;
}

export const SUPPORTED_VERSIONS: VersionRange = {
  versionMin: PROTOCOL_VERSION_MIN,
  versionMax: PROTOCOL_VERSION_MAX,
};

/**
 * The version to speak after receiving `hello` in `role`: for the accepting end ('server') the
 * highest common version, for the connecting end ('client') the single version the server chose.
 * Throws `PROTOCOL_VERSION` when there is none.
 */
export function negotiateVersion(
  role: 'client' | 'server',
  hello: HelloEnvelope,
  ours: VersionRange = SUPPORTED_VERSIONS,
): number {
  const version = Math.min(ours.versionMax, hello.versionMax);
  const agreed =
    hello.versionMin <= hello.versionMax &&
    version >= Math.max(ours.versionMin, hello.versionMin) &&
    (role === 'server' || hello.versionMin === hello.versionMax);
  if (!agreed) {
    throw new EdictError(
      'PROTOCOL_VERSION',
      `this end speaks ${ours.versionMin}..${ours.versionMax}, ` +
        `the peer ${hello.versionMin}..${hello.versionMax}`,
      { versionMin: ours.versionMin, versionMax: ours.versionMax },
    );
  }
  return version;
}
