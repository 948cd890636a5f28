/**
 * The server side of the client protocol (docs/protocols.md, "Client protocol"): the request types
 * a node serves to `edict/client` over the transport of `src/net`. Each body is validated here,
 * before anything reaches the {@link KvService}; a bad body is answered with a typed error
 * (`BAD_REQUEST`, `BAD_KEY`, `KEY_TOO_LARGE`, `VALUE_TOO_LARGE`) and has no effect. Routing,
 * leadership (`WRONG_LEADER`, `STALE_MAP`), session allocation (`session.open`) and session
 * deduplication (`SESSION_EXPIRED`, `STALE_SEQ`) are the service's job.
 *
 * Unknown fields in a body are ignored, so that a newer client can talk to an older node; a field
 * that is present must have its documented type.
 */
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../core/lib/limits.js';
import { EdictError } from '../errors.js';
import type { IncomingRequest, RequestHandler } from '../net/handlers.js';
import type { ClientSession, KvCallContext, KvService, WriteConditions } from './kv-service.js';

/** The request types of the client protocol, in the order docs/protocols.md lists them. */
export const CLIENT_REQUEST_TYPES = [
  'kv.get',
  'kv.put',
  'kv.delete',
  'session.open',
  'cluster.map',
  'cluster.status',
] as const;

export type ClientRequestType = (typeof CLIENT_REQUEST_TYPES)[number];

/** Whether `type` is served by {@link createClientProtocolHandler}. */
export function isClientRequestType(type: string): type is ClientRequestType {
  return (CLIENT_REQUEST_TYPES as readonly string[]).includes(type);
}

/** `kv.get` body. */
export interface GetBody {
  readonly key: Uint8Array;
  readonly mapVersion?: number;
}

/** `kv.put` body. */
export interface PutBody extends WriteConditions {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly session?: ClientSession;
  readonly mapVersion?: number;
}

/** `kv.delete` body. */
export interface DeleteBody extends WriteConditions {
  readonly key: Uint8Array;
  readonly session?: ClientSession;
  readonly mapVersion?: number;
}

export interface ClientProtocolComponents {
  readonly service: KvService;
}

/**
 * Returns a transport {@link RequestHandler} serving the client protocol from `service`. A node
 * that serves other request types on the same port checks {@link isClientRequestType} first and
 * hands the client's requests to this handler.
 */
export function createClientProtocolHandler(components: ClientProtocolComponents): RequestHandler {
  const { service } = components;
  return async (request: IncomingRequest): Promise<unknown> => {
    switch (request.type) {
      case 'kv.get': {
        const body = parseGet(request.body);
        const found = await service.get(body.key, contextOf(body));
        return found === null ? null : { value: found.value, version: found.version };
      }
      case 'kv.put': {
        const body = parsePut(request.body);
        const { version } = await service.put(
          body.key,
          body.value,
          conditionsOf(body),
          contextOf(body),
        );
        return { version };
      }
      case 'kv.delete': {
        const body = parseDelete(request.body);
        const deleted = await service.delete(body.key, conditionsOf(body), contextOf(body));
        return deleted === null ? null : { version: deleted.version };
      }
      case 'session.open': {
        const { clientId } = await service.openSession();
        return { clientId };
      }
      case 'cluster.map':
        return service.map();
      case 'cluster.status':
        return service.status();
      default:
        throw new EdictError(
          'BAD_REQUEST',
          `unknown request type ${JSON.stringify(request.type)}`,
          {
            types: [...CLIENT_REQUEST_TYPES],
          },
        );
    }
  };
}

/** Validates a `kv.get` body. */
export function parseGet(body: unknown): GetBody {
  const fields = record(body, 'kv.get');
  const mapVersion = optionalCount(fields.mapVersion, 'mapVersion');
  return { key: key(fields.key), ...(mapVersion === undefined ? {} : { mapVersion }) };
}

/** Validates a `kv.put` body. */
export function parsePut(body: unknown): PutBody {
  const fields = record(body, 'kv.put');
  const k = key(fields.key);
  if (!(fields.value instanceof Uint8Array)) {
    throw new EdictError('BAD_REQUEST', 'kv.put: value must be binary');
  }
  if (fields.value.length > VALUE_BYTES_MAX) {
    throw new EdictError('VALUE_TOO_LARGE', `values are at most ${VALUE_BYTES_MAX} bytes`, {
      valueBytesMax: VALUE_BYTES_MAX,
    });
  }
  return { key: k, value: fields.value, ...writeFields(fields, 'kv.put') };
}

/** Validates a `kv.delete` body. */
export function parseDelete(body: unknown): DeleteBody {
  const fields = record(body, 'kv.delete');
  return { key: key(fields.key), ...writeFields(fields, 'kv.delete') };
}

function writeFields(
  fields: Record<string, unknown>,
  type: string,
): WriteConditions & { session?: ClientSession; mapVersion?: number } {
  const ifVersion = optionalCount(fields.ifVersion, 'ifVersion');
  if (fields.ifExists !== undefined && fields.ifExists !== null) {
    if (typeof fields.ifExists !== 'boolean') {
      throw new EdictError('BAD_REQUEST', `${type}: ifExists must be a boolean`);
    }
  }
  const ifExists = typeof fields.ifExists === 'boolean' ? fields.ifExists : undefined;
  if (ifVersion !== undefined && ifExists === false) {
    throw new EdictError('BAD_REQUEST', `${type}: ifVersion with ifExists: false never holds`);
  }
  const session = fields.session == null ? undefined : parseSession(fields.session);
  const mapVersion = optionalCount(fields.mapVersion, 'mapVersion');
  return {
    ...(ifVersion === undefined ? {} : { ifVersion }),
    ...(ifExists === undefined ? {} : { ifExists }),
    ...(session === undefined ? {} : { session }),
    ...(mapVersion === undefined ? {} : { mapVersion }),
  };
}

/**
 * Validates a session stamp `{clientId, seq, ackedBelow}`: three positive integers, the id one
 * that `session.open` allocated, with `ackedBelow` at most `seq`.
 */
export function parseSession(value: unknown): ClientSession {
  const fields = record(value, 'session');
  const clientId = positive(fields.clientId, 'session.clientId');
  const seq = positive(fields.seq, 'session.seq');
  const ackedBelow = positive(fields.ackedBelow, 'session.ackedBelow');
  if (ackedBelow > seq) {
    throw new EdictError('BAD_REQUEST', 'session.ackedBelow must be at most session.seq');
  }
  return { clientId, seq, ackedBelow };
}

function conditionsOf(body: WriteConditions): WriteConditions {
  return {
    ...(body.ifVersion === undefined ? {} : { ifVersion: body.ifVersion }),
    ...(body.ifExists === undefined ? {} : { ifExists: body.ifExists }),
  };
}

function contextOf(body: { session?: ClientSession; mapVersion?: number }): KvCallContext {
  return {
    ...(body.session === undefined ? {} : { session: body.session }),
    ...(body.mapVersion === undefined ? {} : { mapVersion: body.mapVersion }),
  };
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new EdictError('BAD_REQUEST', `${what}: the body must be a map`);
  }
  if (value instanceof Uint8Array) {
    throw new EdictError('BAD_REQUEST', `${what}: the body must be a map`);
  }
  return value as Record<string, unknown>;
}

function key(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new EdictError('BAD_REQUEST', 'key must be binary');
  if (value.length === 0) throw new EdictError('BAD_KEY', 'empty key');
  if (value.length > KEY_BYTES_MAX) {
    throw new EdictError('KEY_TOO_LARGE', `keys are at most ${KEY_BYTES_MAX} bytes`, {
      keyBytesMax: KEY_BYTES_MAX,
    });
  }
  return value;
}

/** A positive safe integer (required). */
function positive(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new EdictError('BAD_REQUEST', `${name} must be a positive integer`);
  }
  return value;
}

/** A non-negative safe integer, or undefined when absent (nil counts as absent). */
function optionalCount(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new EdictError('BAD_REQUEST', `${name} must be a non-negative integer`);
  }
  return value;
}
