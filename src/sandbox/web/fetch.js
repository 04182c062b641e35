// fetch (Fetch §5.6) over the runtime's host-call channel (runtime/host-calls.js). The request is
// built and its body read here, with the web platform's Request; its description (method, URL,
// headers, redirect mode) and body bytes go to the host, which performs it under the operator's
// egress rules; the answer (status, headers, body bytes) becomes a Response here. An abort rejects at
// once with the signal's reason and tells the host to drop the call.

const HOST_ERRORS = { TypeError, RangeError };

export function createFetch({ Request, networkResponse, onAbort, DOMException, callHost }) {
  function hostError({ name, message }) {
    const Constructor = HOST_ERRORS[name];
    return Constructor ? new Constructor(message) : new DOMException(message, name);
  }

  return async function fetch(input, init = undefined) {
    const request = new Request(input, init);
    const signal = request.signal;
    signal.throwIfAborted();
    const body = request.body === null ? null : await request.arrayBuffer();
    signal.throwIfAborted();
    const description = { method: request.method, url: request.url, headers: [...request.headers], redirect: request.redirect };
    return new Promise((resolve, reject) => {
      let done = false;
      const cancel = callHost('fetch', JSON.stringify(description), body, (answer, bytes) => {
        if (done) return;
        done = true;
        if (answer.error) {
          reject(hostError(answer.error));
          return;
        }
        resolve(
          networkResponse({
            status: answer.status,
            statusText: answer.statusText,
            headers: answer.headers,
            url: answer.url,
            redirected: answer.redirected,
            body: new Uint8Array(bytes ?? new ArrayBuffer(0)),
            nullBody: bytes === null,
          }),
        );
      });
      onAbort(signal, () => {
        if (done) return;
        done = true;
        cancel();
        reject(signal.reason);
      });
    });
  };
}
