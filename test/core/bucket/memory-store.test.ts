// The in-memory BucketStore against the compliance suite, with a seeded crash model.
import { MemoryBucketStore } from '../../../src/core/bucket/index.js';
import { Prng } from '../../../src/core/lib/prng.js';
import { describeBucketStore } from './store-compliance.js';

let seed = 1;
describeBucketStore('MemoryBucketStore', () => {
  const store = new MemoryBucketStore();
  const prng = new Prng(seed++);
  return {
    store,
    reopen: () => store,
    crash: () => {
      store.crash(prng);
      return store;
    },
  };
});
