// Request and Response (Fetch §5.3-5.5), constructible and readable on their own; `fetch` (fetch.js)
// makes its responses with `networkResponse`. A body is kept as bytes, or as the ReadableStream it was
// made from.
import { Blob, bytesOf } from './blob.js';
import { FormData } from './form-data.js';
import { Headers, makeImmutable } from './headers.js';
import { ReadableStream } from './streams.js';
import { TextDecoder, TextEncoder } from './encoding.js';
import { URL, URLSearchParams } from './url.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const NULL_BODY_STATUS = [101, 103, 204, 205, 304];
const REDIRECT_STATUS = [301, 302, 303, 307, 308];

function multipart(form, boundary) {
  const parts = [];
  const quote = (s) => s.replace(/\n/g, '%0A').replace(/\r/g, '%0D').replace(/"/g, '%22');
  for (const [name, value] of form) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"`;
    if (typeof value === 'string') {
      parts.push(encoder.encode(`${head}\r\n\r\n${value.replace(/\r(?!\n)|(?<!\r)\n/g, '\r\n')}\r\n`));
    } else {
      head += `; filename="${quote(value.name)}"\r\nContent-Type: ${value.type || 'application/octet-stream'}\r\n\r\n`;
      parts.push(encoder.encode(head), bytesOf(value), encoder.encode('\r\n'));
    }
  }
  parts.push(encoder.encode(`--${boundary}--\r\n`));
  return bytesOf(new Blob(parts));
}

/** Fetch's "extract a body": [bytes or stream, content type or null]. */
function extractBody(init, randomHex) {
  if (init instanceof ReadableStream) {
    if (init.locked) throw new TypeError('The ReadableStream body is locked or disturbed');
    return [init, null];
  }
  if (init instanceof Blob) return [bytesOf(init), init.type || null];
  if (init instanceof ArrayBuffer) return [new Uint8Array(init.slice(0)), null];
  if (ArrayBuffer.isView(init)) return [new Uint8Array(init.buffer.slice(init.byteOffset, init.byteOffset + init.byteLength)), null];
  if (init instanceof URLSearchParams) return [encoder.encode(init.toString()), 'application/x-www-form-urlencoded;charset=UTF-8'];
  if (init instanceof FormData) {
    const boundary = `----formdata-raftbox-${randomHex()}`;
    return [multipart(init, boundary), `multipart/form-data; boundary=${boundary}`];
  }
  return [encoder.encode(String(init)), 'text/plain;charset=UTF-8'];
}

function parseFormData(bytes, type) {
  const form = new FormData();
  if (/^application\/x-www-form-urlencoded/i.test(type)) {
    for (const [k, v] of new URLSearchParams(decoder.decode(bytes))) form.append(k, v);
    return form;
  }
  throw new TypeError(`Could not parse content as FormData (content type '${type}'; only application/x-www-form-urlencoded is parsed here)`);
}

// The Body mixin, shared by Request and Response through a class both extend.
class Body {
  #source = null;
  #stream = null;
  #used = false;
  #headers;
  constructor(source, headers) {
    this.#source = source;
    this.#headers = headers;
  }
  get body() {
    if (this.#source === null) return null;
    if (this.#stream === null) {
      const source = this.#source;
      this.#stream = source instanceof ReadableStream ? source : new Blob([source]).stream();
    }
    return this.#stream;
  }
  get bodyUsed() {
    return this.#used || (this.#stream?.locked ?? false);
  }
  get headers() {
    return this.#headers;
  }
  async #consume() {
    if (this.#used || this.#stream?.locked) throw new TypeError('Body is unusable: Body has already been read');
    this.#used = true;
    const source = this.#source;
    if (source === null) return new Uint8Array(0);
    if (!(source instanceof ReadableStream) && this.#stream === null) return source;
    const chunks = [];
    for await (const chunk of this.body) {
      if (!(chunk instanceof Uint8Array)) throw new TypeError('Body stream chunks must be Uint8Array');
      chunks.push(chunk);
    }
    return bytesOf(new Blob(chunks));
  }
  async arrayBuffer() {
    return (await this.#consume()).slice().buffer;
  }
  async bytes() {
    return (await this.#consume()).slice();
  }
  async text() {
    return decoder.decode(await this.#consume());
  }
  async json() {
    return JSON.parse(decoder.decode(await this.#consume()));
  }
  async blob() {
    const bytes = await this.#consume();
    return new Blob([bytes], { type: this.#headers.get('content-type') ?? '' });
  }
  async formData() {
    return parseFormData(await this.#consume(), this.#headers.get('content-type') ?? '');
  }
  /** The source for a clone: a stream body is teed, as Fetch's "clone a body" says. */
  cloneSource() {
    if (this.#used || this.#stream?.locked) throw new TypeError('Failed to clone: Body has already been used');
    if (!(this.#source instanceof ReadableStream)) return this.#source;
    const [a, b] = this.body.tee();
    this.#source = a;
    this.#stream = a;
    return b;
  }
}

function withContentType(headers, type) {
  if (type !== null && !headers.has('content-type')) headers.set('content-type', type);
}

export function createFetchClasses({ AbortController, AbortSignal, onAbort, randomHex }) {
  const requestState = new WeakMap();

  class Request extends Body {
    constructor(input, init = {}) {
      if (arguments.length === 0) throw new TypeError("Failed to construct 'Request': 1 argument required, but only 0 present.");
      init ??= {};
      const from = input instanceof Request ? requestState.get(input) : null;
      let url;
      if (from === null) {
        try {
          url = new URL(String(input));
        } catch {
          throw new TypeError(`Failed to construct 'Request': Invalid URL '${String(input)}' (there is no base URL to resolve a relative one against)`);
        }
        if (url.username || url.password) throw new TypeError(`Failed to construct 'Request': Request cannot be constructed from a URL that includes credentials: ${String(input)}`);
      }
      let method = init.method !== undefined ? String(init.method) : (from?.method ?? 'GET');
      if (!TOKEN.test(method)) throw new TypeError(`Failed to construct 'Request': '${method}' is not a valid HTTP method.`);
      if (/^(connect|trace|track)$/i.test(method)) throw new TypeError(`Failed to construct 'Request': '${method}' HTTP method is unsupported.`);
      if (/^(delete|get|head|options|post|put)$/i.test(method)) method = method.toUpperCase();
      const headers = new Headers(init.headers !== undefined ? init.headers : input instanceof Request ? input.headers : undefined);
      let source = null;
      if (init.body !== undefined && init.body !== null) {
        if (method === 'GET' || method === 'HEAD') throw new TypeError("Failed to construct 'Request': Request with GET/HEAD method cannot have body.");
        const [body, type] = extractBody(init.body, randomHex);
        source = body;
        withContentType(headers, type);
      } else if (input instanceof Request && init.body === undefined) {
        source = input.cloneSource();
      }
      super(source, headers);
      const controller = new AbortController();
      const parentSignal = init.signal !== undefined ? init.signal : input instanceof Request ? input.signal : null;
      if (parentSignal !== null && parentSignal !== undefined) {
        if (!(parentSignal instanceof AbortSignal)) throw new TypeError("Failed to construct 'Request': member signal is not of type AbortSignal.");
        if (parentSignal.aborted) controller.abort(parentSignal.reason);
        else onAbort(parentSignal, () => controller.abort(parentSignal.reason));
      }
      const pick = (key, fallback) => (init[key] !== undefined ? String(init[key]) : (from?.[key] ?? fallback));
      requestState.set(this, {
        method,
        url: from?.url ?? url.href,
        signal: controller.signal,
        mode: pick('mode', 'cors'),
        credentials: pick('credentials', 'same-origin'),
        cache: pick('cache', 'default'),
        redirect: pick('redirect', 'follow'),
        referrer: pick('referrer', 'about:client'),
        referrerPolicy: pick('referrerPolicy', ''),
        integrity: pick('integrity', ''),
        keepalive: init.keepalive !== undefined ? Boolean(init.keepalive) : (from?.keepalive ?? false),
      });
    }
    get method() { return requestState.get(this).method; }
    get url() { return requestState.get(this).url; }
    get signal() { return requestState.get(this).signal; }
    get mode() { return requestState.get(this).mode; }
    get credentials() { return requestState.get(this).credentials; }
    get cache() { return requestState.get(this).cache; }
    get redirect() { return requestState.get(this).redirect; }
    get referrer() { return requestState.get(this).referrer; }
    get referrerPolicy() { return requestState.get(this).referrerPolicy; }
    get integrity() { return requestState.get(this).integrity; }
    get keepalive() { return requestState.get(this).keepalive; }
    get destination() { return ''; }
    get duplex() { return 'half'; }
    clone() {
      return new Request(this);
    }
  }
  Object.defineProperty(Request.prototype, Symbol.toStringTag, { value: 'Request', configurable: true });

  const responseState = new WeakMap();
  const internalInit = Symbol('Response internal');

  class Response extends Body {
    constructor(body = null, init = {}) {
      init ??= {};
      // Response.error() and clone() make responses no init can describe (status 0, a teed body).
      const internal = init[internalInit];
      const status = internal?.status ?? (init.status === undefined ? 200 : Number(init.status));
      if (internal === undefined && !(Number.isInteger(status) && status >= 200 && status <= 599)) {
        throw new RangeError(`Failed to construct 'Response': The status provided (${init.status}) is outside the range [200, 599].`);
      }
      const statusText = init.statusText === undefined ? '' : String(init.statusText);
      if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(statusText)) throw new TypeError("Failed to construct 'Response': Invalid statusText");
      const headers = new Headers(init.headers);
      let source = internal?.source ?? null;
      if (body !== null && body !== undefined) {
        if (NULL_BODY_STATUS.includes(status)) throw new TypeError(`Failed to construct 'Response': Response with null body status (${status}) cannot have body`);
        const [bytes, type] = extractBody(body, randomHex);
        source = bytes;
        withContentType(headers, type);
      }
      super(source, headers);
      responseState.set(this, { status, statusText, type: internal?.type ?? 'default', url: internal?.url ?? '', redirected: internal?.redirected ?? false });
    }
    get status() { return responseState.get(this).status; }
    get statusText() { return responseState.get(this).statusText; }
    get ok() { const s = responseState.get(this).status; return s >= 200 && s <= 299; }
    get type() { return responseState.get(this).type; }
    get url() { return responseState.get(this).url; }
    get redirected() { return responseState.get(this).redirected; }
    clone() {
      const { status, statusText, type, url, redirected } = responseState.get(this);
      const r = new Response(null, { statusText, headers: this.headers, [internalInit]: { status, type, url, redirected, source: this.cloneSource() } });
      if (type === 'basic') makeImmutable(r.headers);
      return r;
    }
    static error() {
      const r = new Response(null, { [internalInit]: { status: 0, type: 'error', source: null } });
      makeImmutable(r.headers);
      return r;
    }
    static redirect(url, status = 302) {
      let parsed;
      try {
        parsed = new URL(String(url));
      } catch {
        throw new TypeError(`Failed to execute 'redirect' on 'Response': Invalid URL '${String(url)}'`);
      }
      if (!REDIRECT_STATUS.includes(Number(status))) throw new RangeError(`Failed to execute 'redirect' on 'Response': Invalid status code ${status}`);
      const r = new Response(null, { status: Number(status), headers: { location: parsed.href } });
      makeImmutable(r.headers);
      return r;
    }
    static json(data, init = {}) {
      const text = JSON.stringify(data);
      if (text === undefined) throw new TypeError("Failed to execute 'json' on 'Response': The data is not JSON serializable");
      const headers = new Headers(init?.headers);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
      return new Response(text, { ...init, headers });
    }
  }
  Object.defineProperty(Response.prototype, Symbol.toStringTag, { value: 'Response', configurable: true });

  /** A response as the network gave it (Fetch's "basic" type): its headers cannot be changed. */
  function networkResponse({ status, statusText, headers, url, redirected, body, nullBody }) {
    const r = new Response(null, { statusText, headers, [internalInit]: { status, type: 'basic', url, redirected, source: nullBody ? null : body } });
    makeImmutable(r.headers);
    return r;
  }
  return { Request, Response, networkResponse };
}

