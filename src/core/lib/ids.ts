/**
 * Branded id and index types. A brand makes `Term` and `LogIndex` distinct to the compiler although
 * both are numbers at run time, so passing one where the other is expected fails to type-check.
 *
 * Glossary (docs/ARCHITECTURE.md): a *term* belongs to the metadata log (Raft); an *epoch* belongs to
 * one bucket's government; a *version* is a map or data version. They are never interchangeable.
 */
import { assert } from './assert.js';

declare const brand: unique symbol;
/** `T` tagged with the name `B`; erased at run time. */
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** A node's stable id: 1..2^31-1. */
export type NodeId = Brand<number, 'NodeId'>;
/** A Raft term of the metadata log. */
export type Term = Brand<number, 'Term'>;
/** A 1-based index into a log; 0 means "before the first entry". */
export type LogIndex = Brand<number, 'LogIndex'>;
/** A bucket government's epoch; epochs only grow. */
export type Epoch = Brand<number, 'Epoch'>;
/** A bucket number: 0..B-1. */
export type BucketId = Brand<number, 'BucketId'>;
/** The version of the directory's map. */
export type MapVersion = Brand<number, 'MapVersion'>;

function checkedInteger(value: number, min: number, what: string): number {
  assert(Number.isSafeInteger(value), `${what} must be a safe integer, got ${value}`);
  assert(value >= min, `${what} must be >= ${min}, got ${value}`);
  return value;
}

export const nodeId = (value: number): NodeId => checkedInteger(value, 1, 'NodeId') as NodeId;
export const term = (value: number): Term => checkedInteger(value, 0, 'Term') as Term;
export const logIndex = (value: number): LogIndex =>
  checkedInteger(value, 0, 'LogIndex') as LogIndex;
export const epoch = (value: number): Epoch => checkedInteger(value, 0, 'Epoch') as Epoch;
export const bucketId = (value: number): BucketId =>
  checkedInteger(value, 0, 'BucketId') as BucketId;
export const mapVersion = (value: number): MapVersion =>
  checkedInteger(value, 0, 'MapVersion') as MapVersion;
