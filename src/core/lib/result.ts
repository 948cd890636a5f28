/**
 * Operational errors inside the core are values, not exceptions (STYLE.md): a caller must look at
 * `ok` before it can reach the value, and every failure carries a stable `code`.
 */

/** A success carrying `value`. */
export interface Ok<T> {
  readonly ok: true;
  readonly value: T;
}

/** A failure with a stable machine-readable `code` and optional detail. */
export interface Err<C extends string, D = undefined> {
  readonly ok: false;
  readonly code: C;
  readonly detail: D;
}

export type Result<T, C extends string, D = undefined> = Ok<T> | Err<C, D>;

export const ok = <T>(value: T): Ok<T> => ({ ok: true, value });

export function err<C extends string>(code: C): Err<C, undefined>;
export function err<C extends string, D>(code: C, detail: D): Err<C, D>;
export function err<C extends string, D>(code: C, detail?: D): Err<C, D | undefined> {
  return { ok: false, code, detail };
}
