/**
 * The metadata log's Raft core (docs/raft.md). The directory and the conductor use `Raft` through
 * its driver; everything else here is the data it speaks.
 */
export {
  Raft,
  bootstrapState,
  emptyState,
  type ConfigChangeResult,
  type NotLeader,
  type ProposeResult,
  type Proposed,
  type RaftInit,
  type RaftStatus,
  type ReadIndexResult,
  type StepResult,
  type TransferResult,
} from './raft.js';
export { defaultRaftOptions, validateRaftOptions, type RaftOptions } from './options.js';
export {
  applyConfigChange,
  decodeConfigEntry,
  emptyConfig,
  encodeConfigEntry,
  isLearner,
  isVoter,
  makeConfig,
  members,
  type ConfigChange,
  type ConfigChangeError,
  type ConfigEntry,
} from './config-change.js';
export {
  LogImage,
  MemoryRaftStore,
  initialHardState,
  type RaftStore,
  type StoreWrite,
} from './store.js';
export type * from './types.js';
export { raftBugs } from './types.js';
export {
  decodeRecord,
  encodeRecord,
  frameRecord,
  frameRecords,
  readFrames,
  type RaftRecord,
} from './codec.js';
