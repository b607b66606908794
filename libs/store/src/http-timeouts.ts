import http from 'node:http';
import https from 'node:https';

export interface HttpTimeouts {
  /** Time allowed to open a TCP connection to the endpoint. */
  connectTimeoutMs: number;
  /** Time allowed between sending the last request byte and receiving the response headers. */
  responseTimeoutMs: number;
  /**
   * Longest silence on the connection while a request or response body is in flight: catches a
   * server that stops reading an upload or stops sending a download.
   */
  idleTimeoutMs: number;
}

type ResponseCallback = (res: http.IncomingMessage) => void;

/**
 * `http.request` with a connect timeout and a time-to-first-byte timeout, so a down or hung
 * endpoint fails in seconds instead of waiting for the kernel's TCP timeout (minutes), plus a
 * much longer idle timeout for stalls mid-body. The idle timeout cannot tell a stalled server
 * from a stalled caller (a client that stops reading a download, or stops sending an upload, for
 * that long), so it is kept long enough to be about dead peers, not slow ones.
 */
export function requestWithTimeouts(
  options: http.RequestOptions & { protocol?: string | null },
  timeouts: HttpTimeouts,
  callback?: ResponseCallback,
): http.ClientRequest {
  const transport = options.protocol === 'https:' ? https : http;
  let connectTimer: NodeJS.Timeout | undefined;
  let responseTimer: NodeJS.Timeout | undefined;
  const clear = (): void => {
    clearTimeout(connectTimer);
    clearTimeout(responseTimer);
  };
  const req = transport.request(options, (res) => {
    clear();
    callback?.(res);
  });
  const fail = (what: string, ms: number): void => {
    const host = `${options.hostname ?? options.host ?? ''}${options.port ? `:${options.port}` : ''}`;
    req.destroy(Object.assign(new Error(`${host} did not ${what} within ${ms} ms`), { code: 'ETIMEDOUT' }));
  };
  connectTimer = setTimeout(() => fail('accept a connection', timeouts.connectTimeoutMs), timeouts.connectTimeoutMs);
  req.on('socket', (socket) => {
    // A kept-alive socket from the agent is already connected.
    if (!socket.connecting) clearTimeout(connectTimer);
    else socket.once(options.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
  });
  req.setTimeout(timeouts.idleTimeoutMs, () => fail('send or receive anything', timeouts.idleTimeoutMs));
  req.on('finish', () => {
    responseTimer = setTimeout(() => fail('answer', timeouts.responseTimeoutMs), timeouts.responseTimeoutMs);
  });
  req.on('close', clear);
  return req;
}

/** A `Transport` for the minio client (it only calls `request(options, callback)`). */
export function timeoutTransport(timeouts: HttpTimeouts): Pick<typeof http, 'request'> {
  const request = (options: http.RequestOptions, callback?: ResponseCallback): http.ClientRequest =>
    requestWithTimeouts(options, timeouts, callback);
  return { request } as unknown as Pick<typeof http, 'request'>;
}
