/**
 * The metadata log's Raft core (docs/raft.md). The directory and the conductor use `Raft` through
 * its driver; everything else here is the data it speaks.
 */
export { Raft } from './raft.js';
export { bootstrapState, emptyState } from './bootstrap.js';
export type {
  ConfigChangeResult,
  NotLeader,
  ProposeResult,
  Proposed,
  RaftInit,
  RaftStatus,
  ReadIndexResult,
  StepResult,
  TransferResult,
} from './api.js';
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
