// WebCrypto: crypto.subtle (SubtleCrypto), CryptoKey, crypto.timingSafeEqual, and Workers'
// crypto.DigestStream. The rules of the Web Cryptography API (algorithm normalization, key
// usages, formats, which DOMException when) live here; the bytes are native (src/api/crypto.c and
// crypto_keys.c), on OpenSSL.

const NC = native.crypto;

const CANONICAL_ALGORITHMS = ["RSASSA-PKCS1-v1_5", "RSA-PSS", "RSA-OAEP", "ECDSA", "ECDH", "AES-CTR", "AES-CBC", "AES-GCM",
    "AES-KW", "HMAC", "SHA-1", "SHA-256", "SHA-384", "SHA-512", "HKDF", "PBKDF2", "Ed25519", "X25519"];
const ALGORITHM_BY_LOWER = new Map(CANONICAL_ALGORITHMS.map((n) => [n.toLowerCase(), n]));
ALGORITHM_BY_LOWER.set("node-ed25519", "Ed25519"); // Workers' older name
const HASHES = new Set(["SHA-1", "SHA-256", "SHA-384", "SHA-512"]);
const HASH_BLOCK_BITS = { "SHA-1": 512, "SHA-256": 512, "SHA-384": 1024, "SHA-512": 1024 };
const HASH_BITS = { "SHA-1": 160, "SHA-256": 256, "SHA-384": 384, "SHA-512": 512 };
const CURVES = new Set(["P-256", "P-384", "P-521"]);
const CURVE_BITS = { "P-256": 256, "P-384": 384, "P-521": 521 };
const RSA_ALGS = new Set(["RSASSA-PKCS1-v1_5", "RSA-PSS", "RSA-OAEP"]);
const EC_ALGS = new Set(["ECDSA", "ECDH"]);
const AES_ALGS = new Set(["AES-CTR", "AES-CBC", "AES-GCM", "AES-KW"]);
const GCM_TAG_LENGTHS = new Set([32, 64, 96, 104, 112, 120, 128]);

// The usages each kind of key may have.
const USAGES = {
    "RSASSA-PKCS1-v1_5": { public: ["verify"], private: ["sign"] },
    "RSA-PSS": { public: ["verify"], private: ["sign"] },
    "RSA-OAEP": { public: ["encrypt", "wrapKey"], private: ["decrypt", "unwrapKey"] },
    "ECDSA": { public: ["verify"], private: ["sign"] },
    "ECDH": { public: [], private: ["deriveKey", "deriveBits"] },
    "Ed25519": { public: ["verify"], private: ["sign"] },
    "X25519": { public: [], private: ["deriveKey", "deriveBits"] },
    "AES-CTR": { secret: ["encrypt", "decrypt", "wrapKey", "unwrapKey"] },
    "AES-CBC": { secret: ["encrypt", "decrypt", "wrapKey", "unwrapKey"] },
    "AES-GCM": { secret: ["encrypt", "decrypt", "wrapKey", "unwrapKey"] },
    "AES-KW": { secret: ["wrapKey", "unwrapKey"] },
    "HMAC": { secret: ["sign", "verify"] },
    "HKDF": { secret: ["deriveKey", "deriveBits"] },
    "PBKDF2": { secret: ["deriveKey", "deriveBits"] },
};
const ALL_USAGES = new Set(["encrypt", "decrypt", "sign", "verify", "deriveKey", "deriveBits", "wrapKey", "unwrapKey"]);
// The native kind of an asymmetric key.
const NATIVE_KIND = { ECDSA: "EC", ECDH: "EC", Ed25519: "ED25519", X25519: "X25519" };

// A native "NameError: message" becomes the DOMException it names.
const DOM_NAME_RE = /^(NotSupportedError|DataError|OperationError|InvalidAccessError|SyntaxError): ([\s\S]*)$/;
function nativeCall(fn, ...args) {
    try {
        return fn(...args);
    } catch (e) {
        throw fromNative(e);
    }
}
function fromNative(e) {
    if (e instanceof Error && !(e instanceof TypeError) && !(e instanceof RangeError)) {
        const m = DOM_NAME_RE.exec(e.message);
        if (m !== null)
            return new DOMException(m[2], m[1]);
    }
    return e;
}

function notSupported(msg) {
    return new DOMException(msg, "NotSupportedError");
}
function dataError(msg) {
    return new DOMException(msg, "DataError");
}
function invalidAccess(msg) {
    return new DOMException(msg, "InvalidAccessError");
}
function operationError(msg) {
    return new DOMException(msg, "OperationError");
}
function syntaxError(msg) {
    return new DOMException(msg, "SyntaxError");
}

// ---- base64url ----------------------------------------------------------------------------------

function base64urlEncode(bytes) {
    let s = "";
    for (let i = 0; i < bytes.length; i += 8192)
        s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function base64urlDecode(s, what) {
    if (typeof s !== "string" || !/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1)
        throw dataError(`the JWK member ${what} is not base64url text`);
    const b = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
    const out = new Uint8Array(b.length);
    for (let i = 0; i < b.length; i++)
        out[i] = b.charCodeAt(i);
    return out;
}

// ---- normalization --------------------------------------------------------------------------------

function bytesArg(v, what) {
    const view = isObject(v) ? bufferSourceView(v) : undefined;
    if (view === undefined)
        throw new TypeError(`${what} must be an ArrayBuffer or an ArrayBufferView (for example a Uint8Array).`);
    return view.slice();
}

function algorithmName(alg, op) {
    let name;
    if (typeof alg === "string")
        name = alg;
    else if (isObject(alg) && alg.name !== undefined)
        name = toDOMString(alg.name);
    else
        throw new TypeError(`${op}: the algorithm must be a name or an object with a name.`);
    const canonical = ALGORITHM_BY_LOWER.get(name.toLowerCase());
    if (canonical === undefined)
        throw notSupported(`${op}: the algorithm ${JSON.stringify(name)} is not supported.`);
    return canonical;
}

function hashArg(h, op) {
    if (h === undefined)
        throw new TypeError(`${op}: the algorithm needs a hash (for example "SHA-256").`);
    const name = algorithmName(h, op);
    if (!HASHES.has(name))
        throw notSupported(`${op}: ${name} is not a hash; use SHA-1, SHA-256, SHA-384 or SHA-512.`);
    return name;
}

function numberArg(v, what, min = 0, max = Number.MAX_SAFE_INTEGER) {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n))
        throw new TypeError(`${what} must be a number.`);
    const i = Math.trunc(n);
    if (i < min || i > max)
        throw new TypeError(`${what} must be from ${min} to ${max}.`);
    return i;
}

const SUPPORTED = {
    digest: new Set(["SHA-1", "SHA-256", "SHA-384", "SHA-512"]),
    sign: new Set(["RSASSA-PKCS1-v1_5", "RSA-PSS", "ECDSA", "HMAC", "Ed25519"]),
    encrypt: new Set(["RSA-OAEP", "AES-CTR", "AES-CBC", "AES-GCM"]),
    generateKey: new Set(["RSASSA-PKCS1-v1_5", "RSA-PSS", "RSA-OAEP", "ECDSA", "ECDH", "AES-CTR", "AES-CBC", "AES-GCM",
        "AES-KW", "HMAC", "Ed25519", "X25519"]),
    importKey: new Set(["RSASSA-PKCS1-v1_5", "RSA-PSS", "RSA-OAEP", "ECDSA", "ECDH", "AES-CTR", "AES-CBC", "AES-GCM",
        "AES-KW", "HMAC", "HKDF", "PBKDF2", "Ed25519", "X25519"]),
    deriveBits: new Set(["ECDH", "HKDF", "PBKDF2", "X25519"]),
    wrapKey: new Set(["RSA-OAEP", "AES-CTR", "AES-CBC", "AES-GCM", "AES-KW"]),
};

// Normalizes an algorithm for an operation: a plain object with the canonical name and the
// parameters that operation reads, converted and checked.
function normalize(op, alg) {
    const name = algorithmName(alg, op);
    const set = SUPPORTED[op === "verify" ? "sign" : op === "decrypt" ? "encrypt" : op === "unwrapKey" ? "wrapKey" : op];
    if (!set.has(name))
        throw notSupported(`${op}: ${name} cannot be used for ${op}.`);
    const a = typeof alg === "string" ? EMPTY_DICTIONARY : alg;
    const out = { name };
    switch (op) {
    case "digest":
        break;
    case "sign":
    case "verify":
        if (name === "RSA-PSS")
            out.saltLength = numberArg(a.saltLength, "RSA-PSS saltLength", 0, 0x7fffffff);
        else if (name === "ECDSA")
            out.hash = hashArg(a.hash, op);
        break;
    case "encrypt":
    case "decrypt":
    case "wrapKey":
    case "unwrapKey":
        if (name === "AES-GCM") {
            out.iv = bytesArg(a.iv, "AES-GCM iv");
            out.additionalData = a.additionalData === undefined ? null : bytesArg(a.additionalData, "AES-GCM additionalData");
            out.tagLength = a.tagLength === undefined ? 128 : numberArg(a.tagLength, "AES-GCM tagLength");
            if (!GCM_TAG_LENGTHS.has(out.tagLength))
                throw operationError(`AES-GCM tagLength must be 32, 64, 96, 104, 112, 120 or 128, got ${out.tagLength}.`);
        } else if (name === "AES-CBC") {
            out.iv = bytesArg(a.iv, "AES-CBC iv");
            if (out.iv.byteLength !== 16)
                throw operationError(`AES-CBC needs a 16-byte iv, got ${out.iv.byteLength} bytes.`);
        } else if (name === "AES-CTR") {
            out.counter = bytesArg(a.counter, "AES-CTR counter");
            if (out.counter.byteLength !== 16)
                throw operationError(`AES-CTR needs a 16-byte counter, got ${out.counter.byteLength} bytes.`);
            out.length = numberArg(a.length, "AES-CTR length");
            if (out.length < 1 || out.length > 128)
                throw operationError("AES-CTR length must be from 1 to 128.");
        } else if (name === "RSA-OAEP") {
            out.label = a.label === undefined ? null : bytesArg(a.label, "RSA-OAEP label");
        }
        break;
    case "generateKey":
    case "importKey":
        if (name === "HMAC") {
            out.hash = hashArg(a.hash, op);
            out.length = a.length === undefined ? undefined : numberArg(a.length, "HMAC length", 1);
        } else if (AES_ALGS.has(name)) {
            if (op === "generateKey") {
                out.length = numberArg(a.length, `${name} length`);
                if (out.length !== 128 && out.length !== 192 && out.length !== 256)
                    throw operationError(`${name} length must be 128, 192 or 256, got ${out.length}.`);
            }
        } else if (RSA_ALGS.has(name)) {
            out.hash = hashArg(a.hash, op);
            if (op === "generateKey") {
                out.modulusLength = numberArg(a.modulusLength, "modulusLength", 0);
                const e = a.publicExponent;
                if (!(e instanceof Uint8Array))
                    throw new TypeError("publicExponent must be a Uint8Array (new Uint8Array([1, 0, 1]) is 65537).");
                out.publicExponent = e.slice();
            }
        } else if (EC_ALGS.has(name)) {
            if (a.namedCurve === undefined)
                throw new TypeError(`${name} needs a namedCurve ("P-256", "P-384" or "P-521").`);
            out.namedCurve = toDOMString(a.namedCurve);
            if (!CURVES.has(out.namedCurve))
                throw notSupported(`the curve ${JSON.stringify(out.namedCurve)} is not supported; use P-256, P-384 or P-521.`);
        }
        break;
    case "deriveBits":
        if (name === "ECDH" || name === "X25519") {
            if (!isCryptoKey(a.public))
                throw new TypeError(`${name} needs the other party's public key as algorithm.public.`);
            out.public = a.public;
        } else if (name === "HKDF") {
            out.hash = hashArg(a.hash, op);
            out.salt = bytesArg(a.salt, "HKDF salt");
            out.info = bytesArg(a.info, "HKDF info");
        } else {
            out.hash = hashArg(a.hash, op);
            out.salt = bytesArg(a.salt, "PBKDF2 salt");
            out.iterations = numberArg(a.iterations, "PBKDF2 iterations", 0, 0xffffffff);
            if (out.iterations === 0)
                throw operationError("PBKDF2 iterations must be at least 1.");
        }
        break;
    }
    return out;
}

function usagesArg(usages, op) {
    if (!isObject(usages) || typeof usages[Symbol.iterator] !== "function")
        throw new TypeError(`${op}: keyUsages must be an array.`);
    const out = [];
    for (const u of usages) {
        const s = toDOMString(u);
        if (!ALL_USAGES.has(s))
            throw new TypeError(`${op}: ${JSON.stringify(s)} is not a key usage.`);
        if (!out.includes(s))
            out.push(s);
    }
    return out;
}

function checkUsages(usages, allowed, alg, type) {
    for (const u of usages) {
        if (!allowed.includes(u))
            throw syntaxError(`a ${type} ${alg} key cannot be used to ${u}; it can be used to ${allowed.join(", ") || "nothing"}.`);
    }
}

// ---- CryptoKey ----------------------------------------------------------------------------------------

let isCryptoKey;
let newCryptoKey; // (type, extractable, algorithm, usages, secret, handle)
let keyParts;     // (key) => { secret, handle }

class CryptoKey {
    #type;
    #extractable;
    #algorithm;
    #usages;
    #secret = null;
    #handle = null;
    constructor(key = undefined) {
        if (key !== INTERNAL)
            throw new TypeError("Illegal constructor: keys come from crypto.subtle.generateKey, importKey, deriveKey or unwrapKey.");
    }
    get type() {
        return this.#type;
    }
    get extractable() {
        return this.#extractable;
    }
    get algorithm() {
        return this.#algorithm;
    }
    get usages() {
        return this.#usages;
    }
    [INSPECT]() {
        return { type: this.#type, extractable: this.#extractable, algorithm: this.#algorithm, usages: this.#usages };
    }
    static {
        isCryptoKey = (k) => isObject(k) && #type in k;
        newCryptoKey = (type, extractable, algorithm, usages, secret, handle) => {
            const k = new CryptoKey(INTERNAL);
            k.#type = type;
            k.#extractable = extractable;
            k.#algorithm = Object.freeze(algorithm);
            k.#usages = Object.freeze(usages.slice());
            k.#secret = secret;
            k.#handle = handle;
            return k;
        };
        keyParts = (k) => ({ secret: k.#secret, handle: k.#handle });
    }
}
setToStringTag(CryptoKey, "CryptoKey");

function checkKey(key, alg, usage, op) {
    if (!isCryptoKey(key))
        throw new TypeError(`${op}: the key must be a CryptoKey.`);
    if (key.algorithm.name !== alg.name)
        throw invalidAccess(`${op}: the key is a ${key.algorithm.name} key, not a ${alg.name} key.`);
    if (!key.usages.includes(usage))
        throw invalidAccess(`${op}: the key's usages (${key.usages.join(", ") || "none"}) do not include "${usage}".`);
}

function rsaAlgorithm(name, info, hash) {
    return { name, modulusLength: info.bits, publicExponent: new Uint8Array(info.publicExponent), hash: { name: hash } };
}

// A CryptoKey for an asymmetric handle, with the algorithm object its kind has.
function asymmetricKey(alg, handle, extractable, usages) {
    const info = nativeCall(NC.keyInfo, handle);
    const type = info.private ? "private" : "public";
    let algorithm;
    if (RSA_ALGS.has(alg.name))
        algorithm = rsaAlgorithm(alg.name, info, alg.hash);
    else if (EC_ALGS.has(alg.name))
        algorithm = { name: alg.name, namedCurve: info.curve };
    else
        algorithm = { name: alg.name };
    return newCryptoKey(type, extractable, algorithm, usages, null, handle);
}

// ---- import ------------------------------------------------------------------------------------------------

const JWK_HASH_SUFFIX = { "SHA-1": "1", "SHA-256": "256", "SHA-384": "384", "SHA-512": "512" };

function jwkCommonChecks(jwk, kty, usages, extractable) {
    if (!isObject(jwk))
        throw new TypeError("importKey: a jwk key must be an object (a JsonWebKey).");
    if (jwk.kty !== kty)
        throw dataError(`the JWK's kty must be ${JSON.stringify(kty)}, got ${JSON.stringify(jwk.kty)}.`);
    if (jwk.use !== undefined && usages.length > 0 && jwk.use !== "sig" && jwk.use !== "enc")
        throw dataError(`the JWK's use ${JSON.stringify(jwk.use)} is neither "sig" nor "enc".`);
    if (jwk.key_ops !== undefined) {
        if (!Array.isArray(jwk.key_ops))
            throw dataError("the JWK's key_ops must be an array.");
        for (const u of usages) {
            if (!jwk.key_ops.includes(u))
                throw dataError(`the JWK's key_ops do not allow "${u}".`);
        }
    }
    if (jwk.ext === false && extractable)
        throw dataError("the JWK says it is not extractable (ext: false), so it cannot be imported as extractable.");
}

function secretFromJwk(jwk, usages, extractable) {
    jwkCommonChecks(jwk, "oct", usages, extractable);
    if (jwk.k === undefined)
        throw dataError("the JWK has no k member.");
    return base64urlDecode(jwk.k, "k");
}

function importSecret(format, keyData, alg, extractable, usages) {
    const name = alg.name;
    let bytes;
    if (format === "raw") {
        bytes = bytesArg(keyData, "importKey: the key data");
    } else if (format === "jwk" && (name === "HMAC" || AES_ALGS.has(name))) {
        bytes = secretFromJwk(keyData, usages, extractable);
        if (keyData.alg !== undefined) {
            const want = name === "HMAC" ? "HS" + JWK_HASH_SUFFIX[alg.hash] : `A${bytes.byteLength * 8}${name.slice(4)}`;
            if (keyData.alg !== want)
                throw dataError(`the JWK's alg ${JSON.stringify(keyData.alg)} does not match ${want}.`);
        }
    } else {
        throw notSupported(`importKey: a ${name} key cannot be imported as ${format}.`);
    }
    checkUsages(usages, USAGES[name].secret, name, "secret");
    let algorithm;
    if (name === "HMAC") {
        const bits = bytes.byteLength * 8;
        if (bits === 0)
            throw dataError("an HMAC key must not be empty.");
        let length = bits;
        if (alg.length !== undefined) {
            if (alg.length > bits || alg.length <= bits - 8)
                throw dataError(`the HMAC length ${alg.length} does not fit a ${bytes.byteLength}-byte key.`);
            length = alg.length;
        }
        algorithm = { name, length, hash: { name: alg.hash } };
    } else if (AES_ALGS.has(name)) {
        const bits = bytes.byteLength * 8;
        if (bits !== 128 && bits !== 192 && bits !== 256)
            throw dataError(`an AES key must be 16, 24 or 32 bytes, got ${bytes.byteLength}.`);
        algorithm = { name, length: bits };
    } else {
        if (extractable)
            throw syntaxError(`a ${name} key cannot be extractable.`);
        algorithm = { name };
    }
    if (usages.length === 0)
        throw syntaxError("importKey: a secret key needs at least one usage.");
    return newCryptoKey("secret", extractable, algorithm, usages, bytes, null);
}

function rsaJwkAlg(name, hash) {
    const s = JWK_HASH_SUFFIX[hash];
    if (name === "RSASSA-PKCS1-v1_5")
        return "RS" + s;
    if (name === "RSA-PSS")
        return "PS" + s;
    return hash === "SHA-1" ? "RSA-OAEP" : "RSA-OAEP-" + s;
}

function importAsymmetricJwk(jwk, alg, usages, extractable) {
    const name = alg.name;
    const parts = {};
    let kind, curve = "";
    if (RSA_ALGS.has(name)) {
        jwkCommonChecks(jwk, "RSA", usages, extractable);
        if (jwk.alg !== undefined && jwk.alg !== rsaJwkAlg(name, alg.hash))
            throw dataError(`the JWK's alg ${JSON.stringify(jwk.alg)} does not match ${rsaJwkAlg(name, alg.hash)}.`);
        kind = "RSA";
        for (const m of ["n", "e", "d", "p", "q", "dp", "dq", "qi"]) {
            if (jwk[m] !== undefined)
                parts[m] = base64urlDecode(jwk[m], m);
        }
        if (jwk.oth !== undefined)
            throw notSupported("RSA keys with more than two primes (oth) are not supported.");
    } else if (EC_ALGS.has(name)) {
        jwkCommonChecks(jwk, "EC", usages, extractable);
        if (jwk.crv !== alg.namedCurve)
            throw dataError(`the JWK's crv ${JSON.stringify(jwk.crv)} is not ${alg.namedCurve}.`);
        kind = "EC";
        curve = alg.namedCurve;
        for (const m of ["x", "y", "d"]) {
            if (jwk[m] !== undefined)
                parts[m] = base64urlDecode(jwk[m], m);
        }
    } else {
        jwkCommonChecks(jwk, "OKP", usages, extractable);
        if (jwk.crv !== name)
            throw dataError(`the JWK's crv ${JSON.stringify(jwk.crv)} is not ${name}.`);
        kind = NATIVE_KIND[name];
        for (const m of ["x", "d"]) {
            if (jwk[m] !== undefined)
                parts[m] = base64urlDecode(jwk[m], m);
        }
    }
    return nativeCall(NC.keyImportJwk, kind, curve, parts);
}

function importAsymmetric(format, keyData, alg, extractable, usages) {
    const name = alg.name;
    const kind = RSA_ALGS.has(name) ? "RSA" : NATIVE_KIND[name];
    const curve = alg.namedCurve ?? "";
    let handle;
    if (format === "spki" || format === "pkcs8") {
        handle = nativeCall(NC.keyImportDer, format, bytesArg(keyData, "importKey: the key data"), kind, curve);
    } else if (format === "raw") {
        if (RSA_ALGS.has(name))
            throw notSupported(`importKey: an RSA key cannot be imported as raw; use spki, pkcs8 or jwk.`);
        handle = nativeCall(NC.keyImportRaw, kind, curve, bytesArg(keyData, "importKey: the key data"));
    } else if (format === "jwk") {
        handle = importAsymmetricJwk(keyData, alg, usages, extractable);
    } else {
        throw notSupported(`importKey: the format ${JSON.stringify(format)} is not supported.`);
    }
    const info = nativeCall(NC.keyInfo, handle);
    const type = info.private ? "private" : "public";
    if (format === "spki" && type !== "public")
        throw dataError("spki holds a public key");
    checkUsages(usages, USAGES[name][type], name, type);
    if (type === "private" && usages.length === 0)
        throw syntaxError("importKey: a private key needs at least one usage.");
    return asymmetricKey(alg, handle, extractable, usages);
}

const KEY_FORMATS = new Set(["raw", "spki", "pkcs8", "jwk"]);

function importKeySync(format, keyData, algorithm, extractable, keyUsages) {
    format = toDOMString(format);
    if (!KEY_FORMATS.has(format))
        throw new TypeError(`importKey: the format must be raw, spki, pkcs8 or jwk, got ${JSON.stringify(format)}.`);
    const alg = normalize("importKey", algorithm);
    const usages = usagesArg(keyUsages, "importKey");
    extractable = !!extractable;
    if (alg.name === "HMAC" || AES_ALGS.has(alg.name) || alg.name === "HKDF" || alg.name === "PBKDF2")
        return importSecret(format, keyData, alg, extractable, usages);
    return importAsymmetric(format, keyData, alg, extractable, usages);
}

// ---- export -----------------------------------------------------------------------------------------------

function exportKeySync(format, key) {
    format = toDOMString(format);
    if (!KEY_FORMATS.has(format))
        throw new TypeError(`exportKey: the format must be raw, spki, pkcs8 or jwk, got ${JSON.stringify(format)}.`);
    if (!isCryptoKey(key))
        throw new TypeError("exportKey: the key must be a CryptoKey.");
    if (!key.extractable)
        throw invalidAccess("exportKey: the key is not extractable.");
    const { secret, handle } = keyParts(key);
    const alg = key.algorithm;
    const name = alg.name;
    if (secret !== null) {
        if (name === "HKDF" || name === "PBKDF2")
            throw notSupported(`exportKey: ${name} keys cannot be exported.`);
        if (format === "raw")
            return secret.slice().buffer;
        if (format === "jwk") {
            const jwk = { kty: "oct", k: base64urlEncode(secret) };
            jwk.alg = name === "HMAC" ? "HS" + JWK_HASH_SUFFIX[alg.hash.name] : `A${alg.length}${name.slice(4)}`;
            jwk.key_ops = key.usages.slice();
            jwk.ext = key.extractable;
            return jwk;
        }
        throw notSupported(`exportKey: a ${name} key cannot be exported as ${format}.`);
    }
    if (format === "spki" && key.type !== "public")
        throw invalidAccess("exportKey: spki holds a public key; export a private key as pkcs8 or jwk.");
    if (format === "pkcs8" && key.type !== "private")
        throw invalidAccess("exportKey: pkcs8 holds a private key; export a public key as spki, raw or jwk.");
    if (format === "raw") {
        if (RSA_ALGS.has(name))
            throw notSupported("exportKey: RSA keys have no raw format; use spki, pkcs8 or jwk.");
        if (key.type !== "public")
            throw invalidAccess("exportKey: only a public key can be exported as raw.");
    }
    if (format !== "jwk")
        return nativeCall(NC.keyExport, handle, format).buffer;
    const p = nativeCall(NC.keyExport, handle, "jwk");
    let jwk;
    if (RSA_ALGS.has(name)) {
        jwk = { kty: "RSA", alg: rsaJwkAlg(name, alg.hash.name) };
        for (const m of ["n", "e", "d", "p", "q", "dp", "dq", "qi"]) {
            if (p[m] !== undefined)
                jwk[m] = base64urlEncode(p[m]);
        }
    } else if (EC_ALGS.has(name)) {
        jwk = { kty: "EC", crv: alg.namedCurve, x: base64urlEncode(p.x), y: base64urlEncode(p.y) };
        if (p.d !== undefined)
            jwk.d = base64urlEncode(p.d);
    } else {
        jwk = { kty: "OKP", crv: name, x: base64urlEncode(p.x) };
        if (p.d !== undefined)
            jwk.d = base64urlEncode(p.d);
    }
    jwk.key_ops = key.usages.slice();
    jwk.ext = key.extractable;
    return jwk;
}

// ---- operations ----------------------------------------------------------------------------------------

function signSync(alg, key, data) {
    const { secret, handle } = keyParts(key);
    const name = alg.name;
    if (name === "HMAC")
        return nativeCall(NC.hmac, key.algorithm.hash.name, secret, data);
    const hash = name === "ECDSA" ? alg.hash : name === "Ed25519" ? "" : key.algorithm.hash.name;
    return nativeCall(NC.sign, name, handle, hash, data, alg.saltLength ?? 0);
}

function verifySync(alg, key, signature, data) {
    const { secret, handle } = keyParts(key);
    const name = alg.name;
    if (name === "HMAC") {
        const mac = nativeCall(NC.hmac, key.algorithm.hash.name, secret, data);
        return mac.byteLength === signature.byteLength && NC.timingSafeEqual(mac, signature);
    }
    const hash = name === "ECDSA" ? alg.hash : name === "Ed25519" ? "" : key.algorithm.hash.name;
    return nativeCall(NC.verify, name, handle, hash, signature, data, alg.saltLength ?? 0);
}

function cipherSync(encrypt, alg, key, data) {
    const { secret, handle } = keyParts(key);
    switch (alg.name) {
    case "AES-GCM":
        return nativeCall(NC.aes, "GCM", encrypt, secret, alg.iv, data, alg.additionalData, alg.tagLength, 0);
    case "AES-CBC":
        return nativeCall(NC.aes, "CBC", encrypt, secret, alg.iv, data, null, 0, 0);
    case "AES-CTR":
        return nativeCall(NC.aes, "CTR", encrypt, secret, alg.counter, data, null, 0, alg.length);
    case "AES-KW":
        return nativeCall(NC.aes, "KW", encrypt, secret, null, data, null, 0, 0);
    default: // RSA-OAEP
        return nativeCall(NC.rsaOaep, encrypt, handle, key.algorithm.hash.name, alg.label, data);
    }
}

// Runs a native job that may finish later on the thread pool.
function nativeJob(fn, ...args) {
    return new Promise((resolve, reject) => {
        let r;
        try {
            r = fn(...args, (err, value) => (err !== null ? reject(fromNative(new Error(err))) : resolve(value)));
        } catch (e) {
            reject(fromNative(e));
            return;
        }
        if (r !== undefined)
            resolve(r);
    });
}

function truncateBits(bytes, length) {
    if (length === null)
        return bytes;
    if (length > bytes.byteLength * 8)
        throw operationError(`the derivation gives ${bytes.byteLength * 8} bits; ${length} were asked for.`);
    const out = bytes.slice(0, Math.ceil(length / 8));
    if (length % 8 !== 0)
        out[out.length - 1] &= 0xff << (8 - (length % 8));
    return out;
}

async function deriveBitsImpl(alg, key, length) {
    checkKey(key, alg, "deriveBits", "deriveBits");
    const name = alg.name;
    if (name === "ECDH" || name === "X25519") {
        const pub = alg.public;
        if (pub.type !== "public")
            throw invalidAccess(`${name}: algorithm.public must be a public key.`);
        if (pub.algorithm.name !== name)
            throw invalidAccess(`${name}: algorithm.public is a ${pub.algorithm.name} key.`);
        if (name === "ECDH" && pub.algorithm.namedCurve !== key.algorithm.namedCurve)
            throw invalidAccess("ECDH: the two keys are on different curves.");
        const secret = nativeCall(NC.derive, keyParts(key).handle, keyParts(pub).handle);
        return truncateBits(secret, length);
    }
    if (length === null || length % 8 !== 0)
        throw operationError(`${name}: the length must be a multiple of 8, got ${length}.`);
    const { secret } = keyParts(key);
    if (name === "HKDF")
        return nativeCall(NC.hkdf, alg.hash, secret, alg.salt, alg.info, length);
    if (length === 0)
        throw operationError("PBKDF2: the length must not be 0.");
    return nativeJob(NC.pbkdf2, alg.hash, secret, alg.salt, alg.iterations, length);
}

// The length in bits of a key to derive for derivedKeyType (the spec's "get key length").
function derivedKeyLength(alg) {
    if (AES_ALGS.has(alg.name)) {
        const length = numberArg(alg.length, `${alg.name} length`);
        if (length !== 128 && length !== 192 && length !== 256)
            throw operationError(`${alg.name} length must be 128, 192 or 256.`);
        return length;
    }
    if (alg.name === "HMAC")
        return alg.length !== undefined ? alg.length : HASH_BLOCK_BITS[alg.hash];
    return null;
}

function randomBytes(n) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 65536)
        native.randomFill(out.subarray(i, Math.min(n, i + 65536)));
    return out;
}

async function generateKeyImpl(alg, extractable, usages) {
    const name = alg.name;
    if (name === "HMAC" || AES_ALGS.has(name)) {
        checkUsages(usages, USAGES[name].secret, name, "secret");
        if (usages.length === 0)
            throw syntaxError("generateKey: a secret key needs at least one usage.");
        const bits = name === "HMAC" ? (alg.length ?? HASH_BLOCK_BITS[alg.hash]) : alg.length;
        const bytes = randomBytes(Math.ceil(bits / 8));
        const algorithm = name === "HMAC" ? { name, length: bits, hash: { name: alg.hash } } : { name, length: bits };
        return newCryptoKey("secret", extractable, algorithm, usages, bytes, null);
    }
    const u = USAGES[name];
    for (const x of usages) {
        if (!u.public.includes(x) && !u.private.includes(x))
            throw syntaxError(`a ${name} key pair cannot be used to ${x}.`);
    }
    let priv;
    if (RSA_ALGS.has(name))
        priv = await nativeJob(NC.generateRsa, alg.modulusLength, alg.publicExponent);
    else
        priv = nativeCall(NC.generateKeyPair, NATIVE_KIND[name], alg.namedCurve ?? "");
    const pub = nativeCall(NC.keyPublic, priv);
    const privUsages = usages.filter((x) => u.private.includes(x));
    if (privUsages.length === 0)
        throw syntaxError(`generateKey: the private key needs one of these usages: ${u.private.join(", ")}.`);
    return {
        publicKey: asymmetricKey(alg, pub, true, usages.filter((x) => u.public.includes(x))),
        privateKey: asymmetricKey(alg, priv, extractable, privUsages),
    };
}

function wrapFormatBytes(format, key) {
    const exported = exportKeySync(format, key);
    return format === "jwk" ? native.encode(JSON.stringify(exported)) : new Uint8Array(exported);
}

class SubtleCrypto {
    constructor(key = undefined) {
        if (key !== INTERNAL)
            throw new TypeError("Illegal constructor: use crypto.subtle.");
    }
    async digest(algorithm, data) {
        requireArgs(arguments.length, 2, "crypto.subtle.digest");
        const alg = normalize("digest", algorithm);
        return nativeCall(NC.digest, alg.name, bytesArg(data, "digest: the data")).buffer;
    }
    async generateKey(algorithm, extractable, keyUsages) {
        requireArgs(arguments.length, 3, "crypto.subtle.generateKey");
        const alg = normalize("generateKey", algorithm);
        return generateKeyImpl(alg, !!extractable, usagesArg(keyUsages, "generateKey"));
    }
    async importKey(format, keyData, algorithm, extractable, keyUsages) {
        requireArgs(arguments.length, 5, "crypto.subtle.importKey");
        return importKeySync(format, keyData, algorithm, extractable, keyUsages);
    }
    async exportKey(format, key) {
        requireArgs(arguments.length, 2, "crypto.subtle.exportKey");
        return exportKeySync(format, key);
    }
    async sign(algorithm, key, data) {
        requireArgs(arguments.length, 3, "crypto.subtle.sign");
        const alg = normalize("sign", algorithm);
        const bytes = bytesArg(data, "sign: the data");
        checkKey(key, alg, "sign", "sign");
        return signSync(alg, key, bytes).buffer;
    }
    async verify(algorithm, key, signature, data) {
        requireArgs(arguments.length, 4, "crypto.subtle.verify");
        const alg = normalize("verify", algorithm);
        const sig = bytesArg(signature, "verify: the signature");
        const bytes = bytesArg(data, "verify: the data");
        checkKey(key, alg, "verify", "verify");
        return verifySync(alg, key, sig, bytes);
    }
    async encrypt(algorithm, key, data) {
        requireArgs(arguments.length, 3, "crypto.subtle.encrypt");
        const alg = normalize("encrypt", algorithm);
        const bytes = bytesArg(data, "encrypt: the data");
        checkKey(key, alg, "encrypt", "encrypt");
        return cipherSync(true, alg, key, bytes).buffer;
    }
    async decrypt(algorithm, key, data) {
        requireArgs(arguments.length, 3, "crypto.subtle.decrypt");
        const alg = normalize("decrypt", algorithm);
        const bytes = bytesArg(data, "decrypt: the data");
        checkKey(key, alg, "decrypt", "decrypt");
        return cipherSync(false, alg, key, bytes).buffer;
    }
    async deriveBits(algorithm, baseKey, length = null) {
        requireArgs(arguments.length, 2, "crypto.subtle.deriveBits");
        const alg = normalize("deriveBits", algorithm);
        const len = length === null || length === undefined ? null : numberArg(length, "deriveBits: the length", 0);
        return (await deriveBitsImpl(alg, baseKey, len)).buffer;
    }
    async deriveKey(algorithm, baseKey, derivedKeyType, extractable, keyUsages) {
        requireArgs(arguments.length, 5, "crypto.subtle.deriveKey");
        const alg = normalize("deriveBits", algorithm);
        const target = normalize("importKey", derivedKeyType);
        if (isObject(derivedKeyType) && derivedKeyType.length !== undefined)
            target.length = numberArg(derivedKeyType.length, "the derived key's length", 1);
        const length = derivedKeyLength(target);
        if (!isCryptoKey(baseKey))
            throw new TypeError("deriveKey: the base key must be a CryptoKey.");
        if (!baseKey.usages.includes("deriveKey"))
            throw invalidAccess(`deriveKey: the key's usages (${baseKey.usages.join(", ") || "none"}) do not include "deriveKey".`);
        const tmp = newCryptoKey(baseKey.type, false, baseKey.algorithm, ["deriveBits"], keyParts(baseKey).secret, keyParts(baseKey).handle);
        const bits = await deriveBitsImpl(alg, tmp, length);
        return importKeySync("raw", bits, derivedKeyType, extractable, keyUsages);
    }
    async wrapKey(format, key, wrappingKey, wrapAlgorithm) {
        requireArgs(arguments.length, 4, "crypto.subtle.wrapKey");
        const alg = normalize("wrapKey", wrapAlgorithm);
        checkKey(wrappingKey, alg, "wrapKey", "wrapKey");
        const bytes = wrapFormatBytes(toDOMString(format), key);
        return cipherSync(true, alg, wrappingKey, bytes).buffer;
    }
    async unwrapKey(format, wrappedKey, unwrappingKey, unwrapAlgorithm, unwrappedKeyAlgorithm, extractable, keyUsages) {
        requireArgs(arguments.length, 7, "crypto.subtle.unwrapKey");
        const alg = normalize("unwrapKey", unwrapAlgorithm);
        const wrapped = bytesArg(wrappedKey, "unwrapKey: the wrapped key");
        checkKey(unwrappingKey, alg, "unwrapKey", "unwrapKey");
        const bytes = cipherSync(false, alg, unwrappingKey, wrapped);
        format = toDOMString(format);
        let data = bytes;
        if (format === "jwk") {
            try {
                data = JSON.parse(native.decode(bytes, false));
            } catch {
                throw dataError("unwrapKey: the unwrapped bytes are not a JSON JWK.");
            }
        }
        return importKeySync(format, data, unwrappedKeyAlgorithm, extractable, keyUsages);
    }
    timingSafeEqual(a, b) {
        return timingSafeEqual(a, b);
    }
}
setToStringTag(SubtleCrypto, "SubtleCrypto");

function timingSafeEqual(a, b) {
    requireArgs(arguments.length, 2, "timingSafeEqual");
    const x = isObject(a) ? bufferSourceView(a) : undefined;
    const y = isObject(b) ? bufferSourceView(b) : undefined;
    if (x === undefined || y === undefined)
        throw new TypeError("timingSafeEqual: both arguments must be ArrayBuffers or ArrayBufferViews.");
    if (x.byteLength !== y.byteLength)
        throw new TypeError("timingSafeEqual: the two buffers must have the same byte length.");
    return NC.timingSafeEqual(x, y);
}

// Workers' crypto.DigestStream: a WritableStream whose digest resolves once it is closed.
class DigestStream extends WritableStream {
    #digest;
    constructor(algorithm) {
        requireArgs(arguments.length, 1, "DigestStream");
        const name = algorithmName(algorithm, "DigestStream");
        if (!HASHES.has(name))
            throw notSupported(`DigestStream: ${name} is not a hash.`);
        const h = nativeCall(NC.digestNew, name);
        let resolve, reject;
        const p = new Promise((a, b) => {
            resolve = a;
            reject = b;
        });
        super({
            write(chunk) {
                const v = isObject(chunk) ? bufferSourceView(chunk) : undefined;
                if (v === undefined)
                    throw new TypeError("DigestStream takes bytes (ArrayBuffer or an ArrayBufferView).");
                NC.digestUpdate(h, v);
            },
            close() {
                resolve(NC.digestFinal(h).buffer);
            },
            abort(reason) {
                reject(reason);
            },
        });
        markHandled(p);
        this.#digest = p;
    }
    get digest() {
        return this.#digest;
    }
}
setToStringTag(DigestStream, "DigestStream");

const subtle = new SubtleCrypto(INTERNAL);
ObjectDefineProperty(Crypto.prototype, "subtle", { get() {
    return subtle;
}, enumerable: true, configurable: true });
ObjectDefineProperty(Crypto.prototype, "timingSafeEqual", { value: timingSafeEqual, writable: true, enumerable: true, configurable: true });
ObjectDefineProperty(Crypto.prototype, "DigestStream", { value: DigestStream, writable: true, configurable: true });
defineGlobal("SubtleCrypto", SubtleCrypto);
defineGlobal("CryptoKey", CryptoKey);
