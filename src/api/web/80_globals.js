// crypto, performance, navigator, structuredClone, queueMicrotask, and the installation of every global.

const INTEGER_TYPED_ARRAYS = new Set(["Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
    "Int32Array", "Uint32Array", "BigInt64Array", "BigUint64Array"]);

// Random bytes come from the native side in batches, which keeps randomUUID cheap.
const RANDOM_POOL_SIZE = 256;
const randomPool = new Uint8Array(RANDOM_POOL_SIZE);
let randomPoolUsed = RANDOM_POOL_SIZE;

function randomBytes16() {
    if (randomPoolUsed + 16 > RANDOM_POOL_SIZE) {
        native.randomFill(randomPool);
        randomPoolUsed = 0;
    }
    const out = randomPool.subarray(randomPoolUsed, randomPoolUsed + 16);
    randomPoolUsed += 16;
    return out;
}

const HEX_BYTES = Array.from({ length: 256 }, (_, i) => (i < 16 ? "0" : "") + i.toString(16));

class Crypto {
    constructor(key = undefined) {
        if (key !== INTERNAL)
            throw new TypeError("Illegal constructor: use the global crypto object.");
    }
    getRandomValues(array) {
        requireArgs(arguments.length, 1, "crypto.getRandomValues");
        const type = ArrayBuffer.isView(array) ? typedArrayTag.call(array) : undefined;
        if (type === undefined || !INTEGER_TYPED_ARRAYS.has(type))
            throw new DOMException("crypto.getRandomValues: the argument must be an integer typed array (for example a Uint8Array).", "TypeMismatchError");
        if (array.byteLength > 65536)
            throw new DOMException(`crypto.getRandomValues: ${array.byteLength} bytes asked for, at most 65536 are allowed per call.`, "QuotaExceededError");
        native.randomFill(array);
        return array;
    }
    randomUUID() {
        const b = randomBytes16();
        const h = HEX_BYTES;
        return h[b[0]] + h[b[1]] + h[b[2]] + h[b[3]] + "-" + h[b[4]] + h[b[5]] + "-" +
            h[(b[6] & 0x0f) | 0x40] + h[b[7]] + "-" + h[(b[8] & 0x3f) | 0x80] + h[b[9]] + "-" +
            h[b[10]] + h[b[11]] + h[b[12]] + h[b[13]] + h[b[14]] + h[b[15]];
    }
}
setToStringTag(Crypto, "Crypto");

class Performance {
    constructor(key = undefined) {
        if (key !== INTERNAL)
            throw new TypeError("Illegal constructor: use the global performance object.");
    }
    get timeOrigin() {
        return native.timeOrigin;
    }
    now() {
        return native.now();
    }
    toJSON() {
        return { timeOrigin: this.timeOrigin };
    }
}
setToStringTag(Performance, "Performance");

class Navigator {
    constructor(key = undefined) {
        if (key !== INTERNAL)
            throw new TypeError("Illegal constructor: use the global navigator object.");
    }
    get userAgent() {
        return "dorm";
    }
    get hardwareConcurrency() {
        return 1;
    }
}
setToStringTag(Navigator, "Navigator");

function structuredClone(value, options = undefined) {
    requireArgs(arguments.length, 1, "structuredClone");
    if (options !== undefined && options !== null && isObject(options) && options.transfer !== undefined &&
        Array.from(options.transfer).length > 0)
        throw new DOMException("structuredClone: transferring objects is not supported.", "DataCloneError");
    try {
        return native.clone(value);
    } catch (e) {
        // The codec reports what it cannot clone as a TypeError (what storage
        // throws); structuredClone throws the platform's DOMException.
        const prefix = "DataCloneError: ";
        if (e instanceof TypeError && typeof e.message === "string" && e.message.startsWith(prefix))
            throw new DOMException(e.message.slice(prefix.length), "DataCloneError");
        throw e;
    }
}

const resolvedPromise = Promise.resolve();

function queueMicrotask(callback) {
    requireArgs(arguments.length, 1, "queueMicrotask");
    if (typeof callback !== "function")
        throw new TypeError("queueMicrotask: the callback must be a function.");
    resolvedPromise.then(() => {
        try {
            callback();
        } catch (e) {
            reportException(e);
        }
    });
}

defineGlobal("DOMException", DOMException);
defineGlobal("TextEncoder", TextEncoder);
defineGlobal("TextDecoder", TextDecoder);
defineGlobal("atob", atob);
defineGlobal("btoa", btoa);
defineGlobal("Headers", Headers);
defineGlobal("URL", URL);
defineGlobal("URLSearchParams", URLSearchParams);
defineGlobal("Request", Request);
defineGlobal("Response", Response);
defineGlobal("console", console);
defineGlobal("Crypto", Crypto);
defineGlobal("crypto", new Crypto(INTERNAL));
defineGlobal("Performance", Performance);
defineGlobal("performance", new Performance(INTERNAL));
defineGlobal("Navigator", Navigator);
defineGlobal("navigator", new Navigator(INTERNAL));
defineGlobal("structuredClone", structuredClone);
defineGlobal("queueMicrotask", queueMicrotask);
defineGlobal("self", globalThis);
