/**
 * The durable identity of a node's data directory: `node.json` holds the node id and cluster id the
 * directory belongs to, a `storageId` (a random UUID made when the file is first written: it tells
 * a wiped disk from the same one) and a boot counter. The file is replaced atomically (write a
 * temporary file, fsync it, rename it over, fsync the directory), so it is always either the old or
 * the new version. A CRC-32C of the JSON body guards it against damage.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { crc32c } from '../core/lib/crc32c.js';
import { StorageError } from './errors.js';

/** Name of the identity file in the data directory. */
export const NODE_META_FILE = 'node.json';

/** What the identity file holds. */
export interface NodeIdentity {
  readonly nodeId: number;
  readonly clusterId: string;
  readonly storageId: string;
  /** How many times the node has booted on this directory (bumped at each boot). */
  readonly bootCount: number;
}

/** The open identity file of a data directory. */
export interface NodeMeta {
  /** The identity as last made durable. */
  readonly identity: NodeIdentity;
  /** Durably increments the boot counter; returns the new count. */
  bumpBoot(): number;
}

/**
 * Opens the identity file of `dir`, creating it (boot count 0) when absent. An existing file must
 * name the same node and cluster, or open throws `INVALID_ARGUMENT`: the directory belongs to
 * another node. A damaged file throws `STORAGE_CORRUPT`.
 */
export function openNodeMeta(
  dir: string,
  expected: { readonly nodeId: number; readonly clusterId: string },
): NodeMeta {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, NODE_META_FILE);
  let identity = readIdentity(file);
  if (identity === null) {
    identity = { ...expected, storageId: randomUUID(), bootCount: 0 };
    writeIdentity(dir, identity);
  } else if (identity.nodeId !== expected.nodeId || identity.clusterId !== expected.clusterId) {
    throw new StorageError(
      'INVALID_ARGUMENT',
      `${file} belongs to node ${identity.nodeId} of cluster ${identity.clusterId}`,
      { file, nodeId: identity.nodeId, clusterId: identity.clusterId },
    );
  }
  let current = identity;
  return {
    get identity() {
      return current;
    },
    bumpBoot() {
      const next = { ...current, bootCount: current.bootCount + 1 };
      writeIdentity(dir, next);
      current = next;
      return next.bootCount;
    },
  };
}

/** The identity in `file`, or null when there is none. */
export function readIdentity(file: string): NodeIdentity | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const corrupt = (what: string): StorageError =>
    new StorageError('STORAGE_CORRUPT', `${what} in ${file} at offset 0`, { file, offset: 0 });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw corrupt('unparsable identity');
  }
  const { body, crc } = (parsed ?? {}) as { body?: unknown; crc?: unknown };
  if (typeof body !== 'string' || crc !== crc32c(Buffer.from(body))) {
    throw corrupt('identity checksum mismatch');
  }
  const id = JSON.parse(body) as Partial<NodeIdentity>;
  if (
    !Number.isSafeInteger(id.nodeId) ||
    typeof id.clusterId !== 'string' ||
    typeof id.storageId !== 'string' ||
    !Number.isSafeInteger(id.bootCount) ||
    (id.bootCount as number) < 0
  ) {
    throw corrupt('malformed identity');
  }
  return id as NodeIdentity;
}

/** Replaces the identity file durably: temporary file, fsync, rename, fsync of the directory. */
function writeIdentity(dir: string, identity: NodeIdentity): void {
  const body = JSON.stringify({
    nodeId: identity.nodeId,
    clusterId: identity.clusterId,
    storageId: identity.storageId,
    bootCount: identity.bootCount,
  });
  const text = `${JSON.stringify({ body, crc: crc32c(Buffer.from(body)) })}\n`;
  const file = path.join(dir, NODE_META_FILE);
  const temp = `${file}.tmp`;
  const fd = fs.openSync(temp, 'w');
  try {
    fs.writeFileSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
  const dirFd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}
