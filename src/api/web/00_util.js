// Shared helpers of the Web prelude: global installation, WebIDL-style conversions, DOMException.

// Marks "constructed by the runtime, skip validation" for internal constructors.
const INTERNAL = Symbol("internal");
// Classes give console.log a readable view of their private state through this:
// obj[INSPECT]() returns a plain object whose properties are shown under the
// class name, or an InspectEntries shown like a Map's entries.
const INSPECT = Symbol("inspect");
class InspectEntries {
    constructor(pairs) {
        this.pairs = pairs;
    }
}

const ObjectDefineProperty = Object.defineProperty;
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype);
const typedArrayTag = Object.getOwnPropertyDescriptor(TypedArrayPrototype, Symbol.toStringTag).get;
const arrayBufferByteLength = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength").get;

// Globals of the platform are non-enumerable, writable and configurable.
function defineGlobal(name, value) {
    ObjectDefineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
}

function setToStringTag(cls, name) {
    ObjectDefineProperty(cls.prototype, Symbol.toStringTag, { value: name, configurable: true });
}

function requireArgs(got, need, what) {
    if (got < need)
        throw new TypeError(`${what}: ${need} argument${need > 1 ? "s" : ""} required, but only ${got} present.`);
}

// WebIDL DOMString: symbols throw (a template literal does that for us).
function toDOMString(v) {
    return typeof v === "string" ? v : `${v}`;
}

// WebIDL USVString: lone surrogates become U+FFFD.
function toUSVString(v) {
    const s = typeof v === "string" ? v : `${v}`;
    return s.isWellFormed() ? s : s.toWellFormed();
}

// WebIDL ByteString: every code unit must fit in a byte.
const NON_BYTE_RE = /[^\x00-\xff]/;
function toByteString(v, what) {
    const s = typeof v === "string" ? v : `${v}`;
    if (NON_BYTE_RE.test(s))
        throw new TypeError(`${what}: ${JSON.stringify(s)} has characters outside the Latin-1 range.`);
    return s;
}

// The own enumerable keys of a WebIDL record<K, V> argument. Symbol keys
// cannot convert to strings, so an enumerable one is a TypeError.
function recordKeys(v, what) {
    const keys = Object.keys(v);
    for (const sym of Object.getOwnPropertySymbols(v)) {
        if (Object.prototype.propertyIsEnumerable.call(v, sym))
            throw new TypeError(`${what}: a symbol cannot be a key.`);
    }
    return keys;
}

function isObject(v) {
    return (typeof v === "object" && v !== null) || typeof v === "function";
}

function isArrayBuffer(v) {
    try {
        arrayBufferByteLength.call(v);
        return true;
    } catch {
        return false;
    }
}

// The bytes a BufferSource names, as a Uint8Array view over them (no copy).
// Returns undefined when v is not a BufferSource.
function bufferSourceView(v) {
    if (ArrayBuffer.isView(v)) {
        if (v instanceof Uint8Array)
            return v;
        return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    }
    if (isArrayBuffer(v))
        return new Uint8Array(v);
    return undefined;
}

// A fresh copy of a BufferSource's bytes.
function copyBytes(view) {
    return view.slice();
}

const EMPTY_DICTIONARY = Object.freeze({});

function dictionary(v, what) {
    if (v === undefined || v === null)
        return EMPTY_DICTIONARY;
    if (!isObject(v))
        throw new TypeError(`${what}: the options argument must be an object.`);
    return v;
}

// DOMException (WebIDL): name, message and the legacy numeric code.
const DOM_EXCEPTION_CODES = {
    IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5,
    NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9, InvalidStateError: 11,
    SyntaxError: 12, InvalidModificationError: 13, NamespaceError: 14, InvalidAccessError: 15,
    TypeMismatchError: 17, SecurityError: 18, NetworkError: 19, AbortError: 20, URLMismatchError: 21,
    QuotaExceededError: 22, TimeoutError: 23, InvalidNodeTypeError: 24, DataCloneError: 25,
};
const DOM_EXCEPTION_CONSTANTS = [
    ["INDEX_SIZE_ERR", 1], ["DOMSTRING_SIZE_ERR", 2], ["HIERARCHY_REQUEST_ERR", 3],
    ["WRONG_DOCUMENT_ERR", 4], ["INVALID_CHARACTER_ERR", 5], ["NO_DATA_ALLOWED_ERR", 6],
    ["NO_MODIFICATION_ALLOWED_ERR", 7], ["NOT_FOUND_ERR", 8], ["NOT_SUPPORTED_ERR", 9],
    ["INUSE_ATTRIBUTE_ERR", 10], ["INVALID_STATE_ERR", 11], ["SYNTAX_ERR", 12],
    ["INVALID_MODIFICATION_ERR", 13], ["NAMESPACE_ERR", 14], ["INVALID_ACCESS_ERR", 15],
    ["VALIDATION_ERR", 16], ["TYPE_MISMATCH_ERR", 17], ["SECURITY_ERR", 18], ["NETWORK_ERR", 19],
    ["ABORT_ERR", 20], ["URL_MISMATCH_ERR", 21], ["QUOTA_EXCEEDED_ERR", 22], ["TIMEOUT_ERR", 23],
    ["INVALID_NODE_TYPE_ERR", 24], ["DATA_CLONE_ERR", 25],
];

class DOMException extends Error {
    #name;
    constructor(message = "", options = "Error") {
        message = toDOMString(message);
        super(message);
        if (isObject(options)) {
            this.#name = options.name === undefined ? "Error" : toDOMString(options.name);
            if ("cause" in options)
                ObjectDefineProperty(this, "cause", { value: options.cause, writable: true, configurable: true });
        } else {
            this.#name = toDOMString(options);
        }
    }
    get name() {
        return this.#name;
    }
    get code() {
        return DOM_EXCEPTION_CODES[this.#name] ?? 0;
    }
}
setToStringTag(DOMException, "DOMException");
for (const [k, v] of DOM_EXCEPTION_CONSTANTS) {
    ObjectDefineProperty(DOMException, k, { value: v, enumerable: true });
    ObjectDefineProperty(DOMException.prototype, k, { value: v, enumerable: true });
}
