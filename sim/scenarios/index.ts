/**
 * The scenarios the `sim` command knows. Each later protocol (raft, bucket, cluster) adds its own
 * line here.
 */
import type { Scenario } from '../scenario.js';
import { bucketScenario } from './bucket.js';
import { clusterScenario } from './cluster.js';
import { raftScenario } from './raft.js';
import { registerScenario } from './register.js';

export const scenarios: readonly Scenario[] = [
  registerScenario,
  bucketScenario,
  raftScenario,
  clusterScenario,
];
