/**
 * Opening a node's store on a real directory: the log under `<dir>/log` (NodeFileSystem) and the
 * index under `<dir>/index` (LMDB). What the server and the tools call; tests and the simulator
 * build an Engine from other components.
 */
import path from 'node:path';
import { Engine } from './engine.js';
import { NodeFileSystem } from './file-system.js';
import { LmdbIndexStore } from './lmdb-index.js';
import type { StorageOptions } from './options.js';

/** Opens (creating or recovering) the store in `dir`. Releases the files if opening fails. */
export async function openNodeStorage(
  dir: string,
  options: Partial<StorageOptions> = {},
): Promise<Engine> {
  const fs = new NodeFileSystem(path.join(dir, 'log'));
  const index = new LmdbIndexStore({ path: path.join(dir, 'index') });
  try {
    return await Engine.open({ fs, index }, options);
  } catch (error) {
    fs.close();
    await index.close();
    throw error;
  }
}
