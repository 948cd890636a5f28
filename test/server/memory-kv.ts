/**
 * An in-memory KvService for testing the front ends: one global version counter, conditions
 * checked like the real service. Not a cluster: it has one copy and no durability.
 */
import type {
  ClusterStatus,
  KvService,
  RoutingTable,
  Versioned,
  WriteConditions,
} from '../../src/server/kv-service.js';
import { EdictError, type ErrorCode } from '../../src/errors.js';

export class MemoryKv implements KvService {
  private readonly data = new Map<string, Versioned>();
  private version = 0;
  /** When set, every call rejects with this code (to test error mapping). */
  failWith: string | null = null;

  private check(key: Uint8Array, c: WriteConditions): Versioned | undefined {
    if (this.failWith !== null)
      throw new EdictError(this.failWith as ErrorCode, `injected ${this.failWith}`);
    const current = this.data.get(Buffer.from(key).toString('hex'));
    if (c.ifExists === true && current === undefined)
      throw new EdictError('CONDITION_FAILED', 'absent');
    if (c.ifExists === false && current !== undefined)
      throw new EdictError('CONDITION_FAILED', 'exists');
    if (c.ifVersion !== undefined && current?.version !== c.ifVersion) {
      throw new EdictError('CONDITION_FAILED', `version is ${current?.version ?? 'none'}`);
    }
    return current;
  }

  async get(key: Uint8Array): Promise<Versioned | null> {
    this.check(key, {});
    return this.data.get(Buffer.from(key).toString('hex')) ?? null;
  }

  async put(key: Uint8Array, value: Uint8Array, c: WriteConditions): Promise<{ version: number }> {
    this.check(key, c);
    this.version += 1;
    this.data.set(Buffer.from(key).toString('hex'), { value, version: this.version });
    return { version: this.version };
  }

  async delete(key: Uint8Array, c: WriteConditions): Promise<{ version: number } | null> {
    const current = this.check(key, c);
    if (current === undefined) return null;
    this.data.delete(Buffer.from(key).toString('hex'));
    this.version += 1;
    return { version: this.version };
  }

  async status(): Promise<ClusterStatus> {
    return { health: 'green', mapVersion: 1, nodes: [], buckets: 0, transitions: 0 };
  }

  readonly drained: number[] = [];

  async drain(node: number): Promise<void> {
    if (node > 100) throw new EdictError('UNKNOWN_NODE', `no node ${node}`);
    this.drained.push(node);
  }

  async map(): Promise<RoutingTable> {
    return { mapVersion: 1, nodes: [], buckets: [] };
  }
}
