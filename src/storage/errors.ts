/**
 * The one error class of the storage engine. Every operational failure a caller can meet carries a
 * stable `code` (what programs branch on) and a `detail` object (what people and logs read).
 * Programmer errors are assertions instead (src/core/lib/assert.ts) and are never caught.
 *
 * Codes:
 * - `KEY_EMPTY`, `KEY_TOO_LARGE`, `VALUE_TOO_LARGE`, `ENTRY_TOO_LARGE`, `INVALID_ARGUMENT`: the
 *   request breaks a limit or a rule; nothing was written.
 * - `QUEUE_FULL`: the group-commit queue is at its bound; retry after earlier writes resolve.
 * - `BUCKET_BUSY`: the bucket is being installed; applies and drops wait until it is done.
 * - `VERSION_UNAVAILABLE`: a read at a version that is not retained (no open snapshot pins it) or
 *   not yet applied.
 * - `INSTALL_INVALID`: an install stream is out of order, inconsistent or incomplete.
 * - `STORAGE_CORRUPT`: stored bytes fail their checksum or contradict each other; the detail names
 *   the file and offset. The store refuses to open rather than guess.
 * - `STORAGE_FAILED`: an I/O call failed (or the engine stopped after one). After a failed
 *   fdatasync the page cache may hold bytes the disk lost, so the engine never retries: it stops.
 * - `STORAGE_CLOSED`: the engine was closed.
 * - `STORAGE_LOCKED`: another live process has the store's directory open.
 */

/** Stable codes of {@link StorageError}. */
export type StorageErrorCode =
  | 'KEY_EMPTY'
  | 'KEY_TOO_LARGE'
  | 'VALUE_TOO_LARGE'
  | 'ENTRY_TOO_LARGE'
  | 'INVALID_ARGUMENT'
  | 'QUEUE_FULL'
  | 'BUCKET_BUSY'
  | 'VERSION_UNAVAILABLE'
  | 'INSTALL_INVALID'
  | 'STORAGE_CORRUPT'
  | 'STORAGE_FAILED'
  | 'STORAGE_CLOSED'
  | 'STORAGE_LOCKED';

/** Structured context of an error: file names, offsets, sizes, limits. */
export type StorageErrorDetail = Readonly<Record<string, string | number | boolean | null>>;

/** An operational storage error with a stable {@link StorageErrorCode}. */
export class StorageError extends Error {
  override readonly name = 'StorageError';

  constructor(
    readonly code: StorageErrorCode,
    message: string,
    readonly detail: StorageErrorDetail = {},
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message}`, options);
  }
}

/** Whether `error` is a {@link StorageError}, optionally with the given code. */
export function isStorageError(error: unknown, code?: StorageErrorCode): error is StorageError {
  return error instanceof StorageError && (code === undefined || error.code === code);
}

/** A `STORAGE_CORRUPT` error naming the file and byte offset where the damage was found. */
export function corruptError(file: string, offset: number, what: string): StorageError {
  return new StorageError('STORAGE_CORRUPT', `${what} in ${file} at offset ${offset}`, {
    file,
    offset,
  });
}
