/**
 * A load-generator worker process of `npm run bench -- cluster` (see `_loadgen.ts`): it reports
 * `ready` once its code is loaded, runs the one spec the parent sends (ending a timed run early
 * when the parent sends `stop`), reports the result and exits. It exits by itself if the parent
 * goes away or the run overstays its bound.
 */
import { runLoad, type ParentMessage, type WorkerMessage } from './_loadgen.js';

/** Sends `message`, then exits once it has been handed to the parent. */
const sendAndExit = (message: WorkerMessage, code: number): void => {
  if (process.send === undefined) process.exit(code);
  process.send(message, undefined, {}, () => process.exit(code));
};

process.on('disconnect', () => process.exit(2));
const stop = new AbortController();
let started = false;
process.on('message', (message: ParentMessage) => {
  if (message.type === 'stop') {
    stop.abort();
    return;
  }
  if (started) return;
  started = true;
  const { spec } = message;
  const boundMs =
    (spec.op === 'fill' ? (spec.fill?.deadlineMs ?? 120_000) : spec.warmupMs + spec.durationMs) +
    spec.requestTimeoutMs +
    15_000;
  setTimeout(() => process.exit(3), boundMs).unref();
  runLoad(spec, undefined, stop.signal).then(
    (result) => sendAndExit({ type: 'result', result }, 0),
    (error: unknown) =>
      sendAndExit(
        { type: 'failed', message: error instanceof Error ? error.message : String(error) },
        1,
      ),
  );
});
process.send?.({ type: 'ready' } satisfies WorkerMessage);
