// docs/live.md's resuming helpers for graphql-ws and graphql-sse, written as an app writes them
// (only the retry wait is shortened). Each suite passes in its own installed client library.

import { sleep } from './processes.mjs';

/** graphql-ws's client keeping the last cursor of each operation for `connection_init`'s `resume`. */
export function resumingWsClient({ createClient, webSocketImpl, url, authorization, retryWaitMs = 200, on = {} }) {
  const cursors = {};
  return createClient({
    url,
    webSocketImpl,
    connectionParams: () => ({ Authorization: authorization, resume: { ...cursors } }),
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: () => sleep(retryWaitMs),
    on: {
      ...on,
      message: (m) => {
        const event = m.type === 'next' && Object.values(m.payload.data ?? {})[0];
        if (event?.cursor) cursors[m.id] = event.cursor;
        if (m.type === 'complete' || m.type === 'error') delete cursors[m.id];
        on.message?.(m);
      },
    },
  });
}

/**
 * `subscribe(query, variables, sink)` over graphql-sse's client, sending the last cursor as
 * `Last-Event-ID` when it retries; `onRetry` hears of each reconnect.
 */
export function resumingSseSubscribe({ createClient, url, authorization, retryWaitMs = 200, onRetry = () => {} }) {
  return (query, variables, sink) => {
    let last;
    const client = createClient({
      url,
      headers: () => ({ Authorization: authorization, ...(last && { 'Last-Event-ID': last }) }),
      retryAttempts: Infinity,
      retry: async () => {
        onRetry();
        await sleep(retryWaitMs);
      },
    });
    const stop = client.subscribe(
      { query, variables },
      {
        next: (result) => {
          last = Object.values(result.data ?? {})[0]?.cursor ?? last;
          sink.next(result);
        },
        error: sink.error,
        complete: sink.complete,
      },
    );
    return () => {
      stop();
      client.dispose();
    };
  };
}
