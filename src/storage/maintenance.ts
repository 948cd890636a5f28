/**
 * Background maintenance of the index, in small synchronous steps between foreground work:
 * - the *generation cleaner* deletes the rows of garbage generations (left by drops, installs and
 *   aborted installs) once no snapshot pins them;
 * - the *version collector* re-prunes the rows listed in the Gc table (rows holding versions kept
 *   for snapshots) once snapshots have been released.
 * Each step touches at most `rowsPerStep` rows, so a drop of a million keys never blocks the event
 * loop for long. Steps change the index through the memtable like any write; a crash loses nothing
 * that matters, since the next open starts the same work again from the durable state.
 */
import { assert } from '../core/lib/assert.js';
import type { Applier } from './applier.js';
import type { BucketTable } from './buckets.js';
import { Table } from './index-store.js';
import type { Memtable } from './memtable.js';
import { generationRange } from './meta.js';
import type { SnapshotRegistry } from './snapshots.js';

/** What maintenance reads and changes. */
export interface MaintenanceParts {
  readonly memtable: Memtable;
  readonly buckets: BucketTable;
  readonly snapshots: SnapshotRegistry;
  readonly applier: Applier;
}

/** What maintenance needs from the engine. */
export interface MaintenanceHooks {
  /** Runs `fn` soon (setImmediate). */
  schedule(fn: () => void): void;
  /** After each step that changed rows (the engine checkpoints when the memtable is full). */
  afterStep(): void;
  /** A step threw: the engine stops. */
  onError(error: unknown): void;
  /** Whether the engine still runs; steps stop when it does not. */
  active(): boolean;
}

/** The generation cleaner and the version collector; see the file comment. */
export class Maintenance {
  private scheduled = false;
  /** Where the version collector's pass continues, or null when no pass is under way. */
  private gcCursor: Buffer | null = null;
  /** A release happened since the current pass started: run another pass after it. */
  private gcAgain = false;

  constructor(
    private readonly parts: MaintenanceParts,
    private readonly rowsPerStep: number,
    private readonly hooks: MaintenanceHooks,
  ) {
    assert(rowsPerStep >= 1, 'rowsPerStep >= 1');
  }

  /** Asks for a version-collector pass and a generation clean-up (after a release, drop, open). */
  request(): void {
    if (this.gcCursor === null) this.gcCursor = Buffer.alloc(0);
    else this.gcAgain = true;
    this.kick();
  }

  /** Whether work is pending. */
  get busy(): boolean {
    return this.gcCursor !== null || this.hasStaleWork();
  }

  /** Runs steps synchronously until nothing is left (tests; bounded by the work present). */
  runToCompletion(): void {
    for (let i = 0; this.busy; i++) {
      assert(i < 1e7, 'maintenance does not terminate');
      if (!this.step()) break;
    }
  }

  private kick(): void {
    if (this.scheduled || !this.hooks.active()) return;
    this.scheduled = true;
    this.hooks.schedule(() => {
      this.scheduled = false;
      if (!this.hooks.active()) return;
      try {
        if (this.step()) this.kick();
      } catch (error) {
        this.hooks.onError(error);
      }
    });
  }

  /** One bounded step. Returns whether work remains. */
  private step(): boolean {
    const budget = this.cleanGenerations(this.rowsPerStep);
    if (budget > 0) this.collectVersions(budget);
    this.hooks.afterStep();
    return this.busy;
  }

  private hasStaleWork(): boolean {
    return this.parts.buckets
      .all()
      .some((s) => s.stale.some((g) => !this.parts.snapshots.pinsGeneration(s.bucket, g)));
  }

  /** Deletes up to `budget` rows of unpinned garbage generations; returns the budget left. */
  private cleanGenerations(budget: number): number {
    const { buckets, memtable, snapshots, applier } = this.parts;
    for (const state of buckets.all()) {
      for (const generation of [...state.stale]) {
        if (budget === 0) return 0;
        if (snapshots.pinsGeneration(state.bucket, generation)) continue;
        const [start, end] = generationRange(state.bucket, generation);
        const keys = take(memtable.entries(Table.Rows, start, end), budget);
        for (const key of keys) applier.deleteRow(key);
        budget -= keys.length;
        if (budget > 0) {
          state.stale = state.stale.filter((g) => g !== generation);
          buckets.touch(state.bucket);
        }
      }
    }
    return budget;
  }

  /** Re-prunes up to `budget` rows of the Gc table from the cursor; returns the budget left. */
  private collectVersions(budget: number): number {
    if (this.gcCursor === null) return budget;
    const { memtable, applier } = this.parts;
    const keys = take(memtable.entries(Table.Gc, this.gcCursor, null), budget);
    for (const key of keys) applier.prune(key);
    const last = keys.at(-1);
    if (keys.length < budget || last === undefined) {
      this.gcCursor = this.gcAgain ? Buffer.alloc(0) : null;
      this.gcAgain = false;
    } else {
      this.gcCursor = Buffer.concat([last, Buffer.from([0])]);
    }
    return budget - keys.length;
  }
}

/** The keys of at most `n` entries of `entries`, copied, so the caller may change the tables. */
function take(entries: Iterable<readonly [Uint8Array, Uint8Array]>, n: number): Buffer[] {
  const keys: Buffer[] = [];
  if (n <= 0) return keys;
  for (const [key] of entries) {
    keys.push(Buffer.from(key));
    if (keys.length >= n) break;
  }
  return keys;
}
