/**
 * Assertions for programmer errors. They stay on in production: a failed assertion means the
 * process holds a state the code was never meant to reach, and continuing could corrupt data. In
 * simulation a failed assertion fails the seed, so it can be replayed.
 *
 * Assert one condition per call, so the message names exactly what broke.
 */

/** Thrown by {@link assert}. Never caught by protocol code. */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

/** Fails with `message` unless `condition` holds. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Marks a branch the type system proves unreachable; fails if it is reached at run time. */
export function unreachable(value: never, message = 'unreachable'): never {
  throw new AssertionError(`${message}: ${String(value)}`);
}
