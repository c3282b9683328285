// Headers (WHATWG Fetch): a map from lowercase name to the combined value, set-cookie kept apart.

const HEADER_NAME_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_VALUE_BAD_RE = /[\0\n\r\u0100-\uffff]/;
const HTTP_WS_EDGE_RE = /^[\t\n\r ]+|[\t\n\r ]+$/g;

const GUARD_NONE = 0;
const GUARD_IMMUTABLE = 1;

// Valid names seen so far and their lowercase forms: the same few names come
// back on every request, and this skips the regex and toLowerCase for them.
const headerNameCache = new Map();
const HEADER_NAME_CACHE_MAX = 512;

function headerName(name) {
    let n = headerNameCache.get(name);
    if (n !== undefined)
        return n;
    const s = toDOMString(name);
    if (!HEADER_NAME_RE.test(s))
        throw new TypeError(`Invalid header name: ${JSON.stringify(s)}`);
    n = s.toLowerCase();
    if (typeof name === "string" && headerNameCache.size < HEADER_NAME_CACHE_MAX)
        headerNameCache.set(name, n);
    return n;
}

function isHttpWs(c) {
    return c === 32 || c === 9 || c === 10 || c === 13;
}

function headerValue(value) {
    let v = toDOMString(value);
    const n = v.length;
    if (n > 0 && (isHttpWs(v.charCodeAt(0)) || isHttpWs(v.charCodeAt(n - 1))))
        v = v.replace(HTTP_WS_EDGE_RE, "");
    if (HEADER_VALUE_BAD_RE.test(v))
        throw new TypeError(`Invalid header value: ${JSON.stringify(v)}`);
    return v;
}

let headersAppendTrusted; // (h, lowercaseName, value): no validation
let headersFillTrusted;   // (h, [lowercaseName, value, ...]): no validation
let headersHasTrusted;    // (h, lowercaseName)
let headersWirePairs;     // (h) => [name, value, name, value, ...]
let headersSetGuard;      // (h, guard)
let headersCopyInto;      // (from, to)
let isHeaders;            // brand check

class Headers {
    #map = new Map(); // lowercase name -> combined value; set-cookie is not in it
    #cookies = null;  // set-cookie values in order, or null
    #sorted = null;   // cached sorted [name, value] pairs for iteration
    #guard = GUARD_NONE;

    constructor(init = undefined) {
        if (init === undefined || init === INTERNAL)
            return;
        if (!isObject(init))
            throw new TypeError("Headers: the init argument must be an object, an array of [name, value] pairs, or a Headers.");
        if (#map in init) {
            headersCopyInto(init, this);
            return;
        }
        const iter = init[Symbol.iterator];
        if (iter !== undefined && iter !== null) {
            if (typeof iter !== "function")
                throw new TypeError("Headers: init[Symbol.iterator] is not a function.");
            for (const pair of init) {
                if (!isObject(pair))
                    throw new TypeError("Headers: each header must be a [name, value] pair.");
                const p = Array.isArray(pair) ? pair : Array.from(pair);
                if (p.length !== 2)
                    throw new TypeError(`Headers: each header must be a [name, value] pair, got ${p.length} item(s).`);
                this.#append(headerName(p[0]), headerValue(p[1]));
            }
            return;
        }
        for (const key of recordKeys(init, "Headers"))
            this.#append(headerName(key), headerValue(init[key]));
    }

    #append(n, v) {
        this.#sorted = null;
        if (n === "set-cookie") {
            if (this.#cookies === null)
                this.#cookies = [v];
            else
                this.#cookies.push(v);
            return;
        }
        const old = this.#map.get(n);
        this.#map.set(n, old === undefined ? v : `${old}, ${v}`);
    }

    #checkMutable() {
        if (this.#guard === GUARD_IMMUTABLE)
            throw new TypeError("Can't modify immutable headers.");
    }

    append(name, value) {
        requireArgs(arguments.length, 2, "Headers.append");
        const n = headerName(name), v = headerValue(value);
        this.#checkMutable();
        this.#append(n, v);
    }

    delete(name) {
        requireArgs(arguments.length, 1, "Headers.delete");
        const n = headerName(name);
        this.#checkMutable();
        this.#sorted = null;
        if (n === "set-cookie")
            this.#cookies = null;
        else
            this.#map.delete(n);
    }

    get(name) {
        requireArgs(arguments.length, 1, "Headers.get");
        // A name found as is is already a valid lowercase token.
        let v = this.#map.get(name);
        if (v !== undefined)
            return v;
        const n = headerName(name);
        if (n === "set-cookie")
            return this.#cookies === null ? null : this.#cookies.join(", ");
        v = this.#map.get(n);
        return v === undefined ? null : v;
    }

    getSetCookie() {
        return this.#cookies === null ? [] : this.#cookies.slice();
    }

    has(name) {
        requireArgs(arguments.length, 1, "Headers.has");
        if (this.#map.has(name))
            return true;
        const n = headerName(name);
        return n === "set-cookie" ? this.#cookies !== null : this.#map.has(n);
    }

    set(name, value) {
        requireArgs(arguments.length, 2, "Headers.set");
        const n = headerName(name), v = headerValue(value);
        this.#checkMutable();
        this.#sorted = null;
        if (n === "set-cookie")
            this.#cookies = [v];
        else
            this.#map.set(n, v);
    }

    #sortedPairs() {
        if (this.#sorted !== null)
            return this.#sorted;
        const names = Array.from(this.#map.keys());
        if (this.#cookies !== null)
            names.push("set-cookie");
        names.sort();
        const out = [];
        for (const n of names) {
            if (n === "set-cookie") {
                for (const c of this.#cookies)
                    out.push([n, c]);
            } else {
                out.push([n, this.#map.get(n)]);
            }
        }
        return (this.#sorted = out);
    }

    forEach(callback, thisArg = undefined) {
        requireArgs(arguments.length, 1, "Headers.forEach");
        if (typeof callback !== "function")
            throw new TypeError("Headers.forEach: the callback must be a function.");
        const pairs = this.#sortedPairs();
        for (let i = 0; i < pairs.length; i++)
            callback.call(thisArg, pairs[i][1], pairs[i][0], this);
    }

    *entries() {
        const pairs = this.#sortedPairs();
        for (let i = 0; i < pairs.length; i++)
            yield [pairs[i][0], pairs[i][1]];
    }

    *keys() {
        const pairs = this.#sortedPairs();
        for (let i = 0; i < pairs.length; i++)
            yield pairs[i][0];
    }

    *values() {
        const pairs = this.#sortedPairs();
        for (let i = 0; i < pairs.length; i++)
            yield pairs[i][1];
    }

    [INSPECT]() {
        const o = {};
        for (const [n, v] of this.#map)
            o[n] = v;
        if (this.#cookies !== null)
            o["set-cookie"] = this.#cookies.length === 1 ? this.#cookies[0] : this.#cookies.slice();
        return o;
    }

    static {
        headersAppendTrusted = (h, n, v) => h.#append(n, v);
        headersFillTrusted = (h, flat) => {
            for (let i = 0; i < flat.length; i += 2)
                h.#append(flat[i], flat[i + 1]);
        };
        headersHasTrusted = (h, n) => h.#map.has(n) || (n === "set-cookie" && h.#cookies !== null);
        headersSetGuard = (h, g) => {
            h.#guard = g;
        };
        headersCopyInto = (from, to) => {
            to.#map = new Map(from.#map);
            to.#cookies = from.#cookies === null ? null : from.#cookies.slice();
        };
        headersWirePairs = (h) => {
            const out = [];
            for (const [n, v] of h.#map)
                out.push(n, v);
            if (h.#cookies !== null) {
                for (const c of h.#cookies)
                    out.push("set-cookie", c);
            }
            return out;
        };
        isHeaders = (h) => isObject(h) && #map in h;
    }
}
Headers.prototype[Symbol.iterator] = Headers.prototype.entries;
ObjectDefineProperty(Headers.prototype, Symbol.iterator, { enumerable: false });
setToStringTag(Headers, "Headers");
