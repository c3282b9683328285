// TextEncoder, TextDecoder (UTF-8), atob and btoa; the UTF-8 work itself is native.

const UTF8_LABELS = new Set(["unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8",
    "x-unicode20utf8"]);

class TextEncoder {
    get encoding() {
        return "utf-8";
    }
    encode(input = "") {
        return native.encode(toDOMString(input));
    }
    encodeInto(source, destination) {
        requireArgs(arguments.length, 2, "TextEncoder.encodeInto");
        source = toDOMString(source);
        if (!(destination instanceof Uint8Array) || typedArrayTag.call(destination) !== "Uint8Array")
            throw new TypeError("TextEncoder.encodeInto: the destination must be a Uint8Array.");
        return native.encodeInto(source, destination);
    }
}
setToStringTag(TextEncoder, "TextEncoder");

class TextDecoder {
    #fatal;
    #ignoreBOM;
    #pending = null; // bytes of a sequence split across decode({stream: true}) calls
    #bomChecked = false;
    constructor(label = "utf-8", options = undefined) {
        const l = toDOMString(label).replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, "").toLowerCase();
        if (!UTF8_LABELS.has(l))
            throw new RangeError(`TextDecoder: the encoding label ${JSON.stringify(label)} is not supported; only "utf-8" is.`);
        options = dictionary(options, "TextDecoder");
        this.#fatal = !!options.fatal;
        this.#ignoreBOM = !!options.ignoreBOM;
    }
    get encoding() {
        return "utf-8";
    }
    get fatal() {
        return this.#fatal;
    }
    get ignoreBOM() {
        return this.#ignoreBOM;
    }
    decode(input = undefined, options = undefined) {
        let bytes;
        if (input === undefined) {
            bytes = new Uint8Array(0);
        } else {
            bytes = bufferSourceView(input);
            if (bytes === undefined)
                throw new TypeError("TextDecoder.decode: the input must be an ArrayBuffer or an ArrayBufferView.");
        }
        const stream = options !== undefined && options !== null && !!dictionary(options, "TextDecoder.decode").stream;
        if (this.#pending !== null) {
            const joined = new Uint8Array(this.#pending.length + bytes.length);
            joined.set(this.#pending);
            joined.set(bytes, this.#pending.length);
            bytes = joined;
            this.#pending = null;
        }
        if (stream) {
            const keep = native.utf8Tail(bytes);
            if (keep > 0) {
                this.#pending = bytes.slice(bytes.length - keep);
                bytes = bytes.subarray(0, bytes.length - keep);
            }
        }
        let out;
        try {
            out = native.decode(bytes, this.#fatal);
        } catch (e) {
            this.#pending = null;
            this.#bomChecked = false;
            throw e;
        }
        if (!this.#bomChecked && out.length > 0) {
            this.#bomChecked = true;
            if (!this.#ignoreBOM && out.charCodeAt(0) === 0xfeff)
                out = out.slice(1);
        }
        if (!stream) {
            this.#bomChecked = false;
            this.#pending = null;
        }
        return out;
    }
}
setToStringTag(TextDecoder, "TextDecoder");

// UTF-8 decode with BOM removal, as the Fetch body readers use it.
function utf8DecodeBody(bytes) {
    const s = native.decode(bytes, false);
    return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}

const B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++)
    B64_VALUES[B64_ALPHABET.charCodeAt(i)] = i;

function btoa(data) {
    requireArgs(arguments.length, 1, "btoa");
    const s = toDOMString(data);
    if (NON_BYTE_RE.test(s))
        throw new DOMException("btoa: the string contains characters outside the Latin-1 range; encode it to bytes first (TextEncoder).", "InvalidCharacterError");
    const n = s.length;
    const parts = [];
    let chunk = "";
    let i = 0;
    for (; i + 2 < n; i += 3) {
        const v = (s.charCodeAt(i) << 16) | (s.charCodeAt(i + 1) << 8) | s.charCodeAt(i + 2);
        chunk += B64_ALPHABET[v >> 18] + B64_ALPHABET[(v >> 12) & 63] + B64_ALPHABET[(v >> 6) & 63] + B64_ALPHABET[v & 63];
        if (chunk.length >= 8192) {
            parts.push(chunk);
            chunk = "";
        }
    }
    if (n - i === 1) {
        const v = s.charCodeAt(i) << 16;
        chunk += B64_ALPHABET[v >> 18] + B64_ALPHABET[(v >> 12) & 63] + "==";
    } else if (n - i === 2) {
        const v = (s.charCodeAt(i) << 16) | (s.charCodeAt(i + 1) << 8);
        chunk += B64_ALPHABET[v >> 18] + B64_ALPHABET[(v >> 12) & 63] + B64_ALPHABET[(v >> 6) & 63] + "=";
    }
    parts.push(chunk);
    return parts.join("");
}

const ATOB_ERROR = "atob: the string is not valid base64 (only ASCII letters, digits, '+', '/', whitespace, and up to two '=' at the end of a length divisible by 4 are allowed).";

// Forgiving-base64 decode (HTML spec), giving one char per byte.
function atob(data) {
    requireArgs(arguments.length, 1, "atob");
    let s = toDOMString(data);
    if (/[\t\n\f\r ]/.test(s))
        s = s.replace(/[\t\n\f\r ]+/g, "");
    let n = s.length;
    if (n % 4 === 0 && n > 0 && s.charCodeAt(n - 1) === 61) {
        n--;
        if (s.charCodeAt(n - 1) === 61)
            n--;
    }
    if (n % 4 === 1)
        throw new DOMException(ATOB_ERROR, "InvalidCharacterError");
    const parts = [];
    let chunk = "";
    let acc = 0, bits = 0;
    for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        const v = c < 128 ? B64_VALUES[c] : -1;
        if (v < 0)
            throw new DOMException(ATOB_ERROR, "InvalidCharacterError");
        acc = ((acc << 6) | v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            chunk += String.fromCharCode((acc >> bits) & 255);
            if (chunk.length >= 8192) {
                parts.push(chunk);
                chunk = "";
            }
        }
    }
    parts.push(chunk);
    return parts.join("");
}
