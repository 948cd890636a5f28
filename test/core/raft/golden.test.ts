// Golden scripts for the Raft core, in the manner of etcd-io/raft's testdata: each file in
// testdata/ holds commands (lines starting with "> ") and, under each, the messages delivered and
// the state printed while it ran. The test replays the commands on the in-test network and compares
// the whole transcript. After an intended change, rewrite the files with
//   EDICT_GOLDEN=rewrite node scripts/run-tests.mjs test/core/raft/golden.test.ts
// and review the diff like code.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConfigChange, Message } from '../../../src/core/raft/index.js';
import { TestCluster, bytes, nodeId } from './harness.js';

const dir = join(fileURLToPath(new URL('.', import.meta.url)), 'testdata');
const rewrite = process.env.EDICT_GOLDEN === 'rewrite';

/** One line per message: sender→receiver type term and the fields that matter. */
function render(m: Message): string {
  const head = `${m.from}→${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'append': {
      const es = m.entries.map((e) => `${e.index}/${e.term}${e.type === 'config' ? 'c' : ''}`);
      return `${head} prev=${m.prevIndex}/${m.prevTerm} commit=${m.commit} [${es.join(' ')}]`;
    }
    case 'append-response':
      return m.reject
        ? `${head} reject ${m.index} hint=${m.hintIndex}/${m.hintTerm}`
        : `${head} ${m.index}`;
    case 'heartbeat':
      return `${head} commit=${m.commit}${m.context === null ? '' : ` ctx=${m.context}`}`;
    case 'heartbeat-response':
      return `${head}${m.context === null ? '' : ` ctx=${m.context}`}`;
    case 'vote':
      return `${head}${m.preVote ? ' pre' : ''}${m.transfer ? ' transfer' : ''} last=${m.lastIndex}/${m.lastTerm}`;
    case 'vote-response':
      return `${head}${m.preVote ? ' pre' : ''}${m.reject ? ' reject' : ' grant'}`;
    case 'snapshot':
      return `${head} snap=${m.snapshot.meta.index}/${m.snapshot.meta.term}`;
    case 'timeout-now':
      return head;
    case 'read-index':
      return `${head} ctx=${m.context}`;
    case 'read-index-response':
      return `${head} ctx=${m.context} index=${m.index}`;
  }
}

function status(c: TestCluster): string[] {
  return c.sorted().map((n) => {
    if (!n.up) return `${n.id} down`;
    const s = n.raft.status();
    const lead = s.leader === null ? '' : ` lead=${s.leader}`;
    return (
      `${s.id} ${s.role} t${s.term}${lead} commit=${s.commit} applied=${s.applied} ` +
      `log=${s.firstIndex}..${s.lastIndex} voters=${s.config.voters.join(',')}` +
      (s.config.learners.length > 0 ? ` learners=${s.config.learners.join(',')}` : '') +
      ` data=[${n.appliedTexts().join(',')}]` +
      (n.readStates.length > 0
        ? ` reads=${n.readStates.map((r) => `${r.context}@${r.index}`).join(',')}`
        : '')
    );
  });
}

/** Runs one command; returns what it printed besides the messages. */
function execute(c: TestCluster | null, words: string[]): { cluster: TestCluster; out: string[] } {
  const [cmd, ...args] = words;
  const n = (i: number): number => Number(args[i]);
  if (cmd === 'cluster') {
    const split = args.indexOf('learners');
    const voters = (split < 0 ? args : args.slice(0, split)).map(Number);
    const learners = split < 0 ? [] : args.slice(split + 1).map(Number);
    return { cluster: new TestCluster(voters, learners), out: [] };
  }
  if (c === null) throw new Error('the first command must be `cluster`');
  const out: string[] = [];
  const result = (r: { ok: boolean; code?: string }): void => {
    out.push(r.ok ? 'ok' : `refused ${r.code}`);
  };
  switch (cmd) {
    case 'campaign':
      c.campaign(n(0));
      break;
    case 'tick':
      c.tick(n(0), args.length > 1 ? args.slice(1).map(Number) : null);
      break;
    case 'propose':
      result(c.raft(n(0)).propose(bytes(args[1] ?? '')));
      c.stabilize();
      break;
    case 'read':
      result(c.raft(n(0)).readIndex(args[1] ?? ''));
      c.stabilize();
      break;
    case 'transfer':
      result(c.raft(n(0)).transferLeadership(nodeId(n(1))));
      c.stabilize();
      break;
    case 'conf': {
      const change = { type: args[1], node: nodeId(n(2)) } as ConfigChange;
      result(c.raft(n(0)).proposeConfigChange(change));
      c.stabilize();
      break;
    }
    case 'compact': {
      const raft = c.raft(n(0));
      const snap = raft.compact(raft.status().applied, bytes('state'));
      if (snap !== null) c.node(n(0)).store.compact(snap);
      out.push(
        snap === null ? 'nothing to compact' : `snapshot ${snap.meta.index}/${snap.meta.term}`,
      );
      break;
    }
    case 'add-empty':
      c.addEmpty(n(0));
      break;
    case 'isolate':
      c.isolate(n(0));
      break;
    case 'heal':
      c.heal();
      break;
    case 'crash':
      c.crash(n(0));
      break;
    case 'restart':
      c.restart(n(0));
      break;
    case 'status':
      out.push(...status(c));
      break;
    default:
      throw new Error(`unknown command ${cmd}`);
  }
  return { cluster: c, out };
}

function transcript(script: string): string {
  const lines: string[] = [];
  let cluster: TestCluster | null = null;
  for (const line of script.split('\n')) {
    if (line.startsWith('  ')) continue; // the previous run's output
    if (!line.startsWith('> ')) {
      lines.push(line); // comments and blank lines stay as written
      continue;
    }
    lines.push(line);
    const delivered: string[] = [];
    if (cluster !== null) cluster.onDeliver = (m) => delivered.push(`  ${render(m)}`);
    const { cluster: next, out } = execute(cluster, line.slice(2).trim().split(/\s+/));
    cluster = next;
    lines.push(...delivered, ...out.map((o) => `  ${o}`));
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

describe('golden scripts', () => {
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .sort()) {
    test(file, () => {
      const path = join(dir, file);
      const expected = readFileSync(path, 'utf8');
      const actual = transcript(expected);
      if (rewrite) writeFileSync(path, actual);
      else assert.equal(actual, expected);
    });
  }
});
