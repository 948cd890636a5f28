/**
 * A running 64-bit fingerprint of everything that happened in a run (two independent 32-bit FNV-1a
 * lanes). Two runs with the same seed on the same commit must end with the same fingerprint; a
 * difference means some behaviour escaped the seed (a clock read, insertion-order iteration, ...).
 * Not a cryptographic hash: it only has to make accidental agreement unlikely.
 */
export class TraceHash {
  private h1 = 0x811c9dc5;
  private h2 = 0x01000193 ^ 0x9e3779b9;
  /** Number of entries recorded. */
  entries = 0;

  add(entry: string): void {
    let h1 = this.h1;
    let h2 = this.h2;
    for (let i = 0; i < entry.length; i++) {
      const c = entry.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h2 >>> 15);
    }
    // A separator, so that ("ab","c") and ("a","bc") differ.
    this.h1 = Math.imul(h1 ^ 0xff, 0x01000193);
    this.h2 = Math.imul(h2 ^ 0xff, 0x5bd1e995);
    this.entries += 1;
  }

  hex(): string {
    return (
      (this.h1 >>> 0).toString(16).padStart(8, '0') + (this.h2 >>> 0).toString(16).padStart(8, '0')
    );
  }
}
