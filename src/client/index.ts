/**
 * `edict/client`: the client library. See docs/client.md.
 *
 * ```ts
 * import { connect } from 'edict/client';
 * const db = await connect({ endpoints: ['10.0.0.1:7001', '10.0.0.2:7001'] });
 * const { version } = await db.put('greeting', 'hello');
 * const entry = await db.get('greeting'); // { value: Uint8Array, version, text() }
 * await db.put('greeting', 'hi', { ifVersion: version }); // CONDITION_FAILED if it moved on
 * await db.close();
 * ```
 */
export {
  connect,
  EdictClient,
  type ConnectOptions,
  type DeleteOptions,
  type Entry,
  type Key,
  type PutOptions,
  type Value,
} from './client.js';
export { defaultClientOptions, type ClientComponents, type ClientOptions } from './options.js';
export { EdictError, ERROR_CODES, type ErrorCode } from '../errors.js';
export type { ClusterStatus, RoutingTable } from '../cluster-types.js';
