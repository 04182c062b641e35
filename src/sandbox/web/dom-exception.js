// DOMException (WebIDL §3.14.1): the error class every web API here throws for its named failures.
// Hand-written because it is a table, not an algorithm; no maintained standalone polyfill exists
// (the jsdom one was retired once Node shipped its own).

const LEGACY_CODES = {
  IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5,
  NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9, InUseAttributeError: 10,
  InvalidStateError: 11, SyntaxError: 12, InvalidModificationError: 13, NamespaceError: 14,
  InvalidAccessError: 15, TypeMismatchError: 17, SecurityError: 18, NetworkError: 19, AbortError: 20,
  URLMismatchError: 21, QuotaExceededError: 22, TimeoutError: 23, InvalidNodeTypeError: 24, DataCloneError: 25,
};
const CONSTANTS = {
  INDEX_SIZE_ERR: 1, DOMSTRING_SIZE_ERR: 2, HIERARCHY_REQUEST_ERR: 3, WRONG_DOCUMENT_ERR: 4,
  INVALID_CHARACTER_ERR: 5, NO_DATA_ALLOWED_ERR: 6, NO_MODIFICATION_ALLOWED_ERR: 7, NOT_FOUND_ERR: 8,
  NOT_SUPPORTED_ERR: 9, INUSE_ATTRIBUTE_ERR: 10, INVALID_STATE_ERR: 11, SYNTAX_ERR: 12,
  INVALID_MODIFICATION_ERR: 13, NAMESPACE_ERR: 14, INVALID_ACCESS_ERR: 15, VALIDATION_ERR: 16,
  TYPE_MISMATCH_ERR: 17, SECURITY_ERR: 18, NETWORK_ERR: 19, ABORT_ERR: 20, URL_MISMATCH_ERR: 21,
  QUOTA_EXCEEDED_ERR: 22, TIMEOUT_ERR: 23, INVALID_NODE_TYPE_ERR: 24, DATA_CLONE_ERR: 25,
};

const names = new WeakMap();
const messages = new WeakMap();

function check(self) {
  if (!names.has(self)) throw new TypeError('Illegal invocation');
}

export class DOMException extends Error {
  constructor(message = '', options = 'Error') {
    super();
    let name = 'Error';
    if (typeof options === 'object' && options !== null) {
      if ('cause' in options) Object.defineProperty(this, 'cause', { value: options.cause, writable: true, configurable: true });
      if (options.name !== undefined) name = String(options.name);
    } else {
      name = String(options);
    }
    names.set(this, name);
    messages.set(this, String(message));
  }
  get name() {
    check(this);
    return names.get(this);
  }
  get message() {
    check(this);
    return messages.get(this);
  }
  get code() {
    check(this);
    return LEGACY_CODES[names.get(this)] ?? 0;
  }
}
for (const [key, value] of Object.entries(CONSTANTS)) {
  Object.defineProperty(DOMException, key, { value, enumerable: true });
  Object.defineProperty(DOMException.prototype, key, { value, enumerable: true });
}
Object.defineProperty(DOMException.prototype, Symbol.toStringTag, { value: 'DOMException', configurable: true });
