/**
 * Bucket replication (DESIGN.md 4.5): the half-Paxos replica, its storage interface and its
 * messages. See docs/bucket-replication.md for the protocol and the conductor's contract.
 */
export { BucketReplica, type LogView, type ReplicaInit, type ReplicaStatus } from './replica.js';
export {
  bucketBugs,
  defaultReplicaOptions,
  leaseTicksFor,
  validateReplicaOptions,
  type BucketBug,
  type ReplicaOptions,
} from './options.js';
export {
  MemoryBucketStore,
  type BucketStore,
  type CrashDraws,
  type StoredBucket,
} from './store.js';
export { bytesEqual } from './state-machine.js';
export * from './types.js';
