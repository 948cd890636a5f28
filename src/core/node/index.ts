/**
 * One Edict node as a deterministic state machine: metadata log, directory, conductor duties and
 * bucket replicas (docs/ARCHITECTURE.md, "Node core").
 */
export { NodeCore, keyString, needsPersist, type NodeInit, type NodeReady } from './node.js';
export { defaultNodeOptions, nodeBugs, validateNodeOptions } from './options.js';
export type { NodeBug, NodeOptions } from './options.js';
export { nextMembershipChange, targetVoters } from './membership.js';
export type * from './messages.js';
