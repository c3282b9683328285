// Response (WHATWG Fetch), and readResponse, which hands a returned Response to the C side.

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const REASON_PHRASE_RE = /^[\t\x20-\x7e\x80-\xff]*$/;

// WebIDL unsigned short.
function toUnsignedShort(v) {
    let n = Number(v);
    if (!Number.isFinite(n))
        return 0;
    n = Math.trunc(n) % 65536;
    return n < 0 ? n + 65536 : n;
}

let isResponse;
let responseForWire; // (r) => [status, statusText, [name, value, ...], data or null, pump or undefined]
let responseFromNetwork;
let responseBodyState; // (r) => BodyState or null

class Response {
    #status = 200;
    #statusText = "";
    #headers = null;
    #body = null;
    #type = "default";
    #webSocket = null;
    #url = "";          // set for responses from fetch()
    #redirected = false;

    constructor(body = null, init = undefined) {
        if (body === INTERNAL)
            return;
        let data = null, type = null;
        const hasBody = body !== null && body !== undefined;
        if (hasBody)
            [data, type] = extractBody(body);
        this.#init(dictionary(init, "Response"), hasBody, data, type);
    }

    // "Initialize a response" (Fetch). A 101 is allowed only with a webSocket,
    // as on Workers; everything else must be 200-599.
    #init(init, hasBody, data, type) {
        const status = init.status === undefined ? 200 : toUnsignedShort(init.status);
        const ws = init.webSocket ?? null;
        if ((status < 200 || status > 599) && !(status === 101 && ws !== null))
            throw new RangeError(`Response: status ${status} is not in the range 200 to 599.`);
        let statusText = "";
        if (init.statusText !== undefined) {
            statusText = toByteString(init.statusText, "Response");
            if (!REASON_PHRASE_RE.test(statusText))
                throw new TypeError(`Response: invalid statusText ${JSON.stringify(statusText)}.`);
        }
        this.#status = status;
        this.#statusText = statusText;
        this.#webSocket = ws;
        const headers = new Headers(init.headers);
        this.#headers = headers;
        if (hasBody) {
            if (NULL_BODY_STATUSES.has(status))
                throw new TypeError(`Response with status ${status} cannot have a body.`);
            this.#body = data;
            if (type !== null && !headersHasTrusted(headers, "content-type"))
                headersAppendTrusted(headers, "content-type", type);
        }
    }

    static json(data, init = undefined) {
        requireArgs(arguments.length, 1, "Response.json");
        const s = JSON.stringify(data);
        if (s === undefined)
            throw new TypeError("Response.json: the value cannot be serialized as JSON.");
        const r = new Response(INTERNAL);
        r.#init(dictionary(init, "Response.json"), true, new BodyState(s), "application/json");
        return r;
    }

    static redirect(url, status = 302) {
        requireArgs(arguments.length, 1, "Response.redirect");
        const parsed = parseURLString(url);
        if (parsed === null)
            throw invalidURL(url);
        status = toUnsignedShort(status);
        if (!REDIRECT_STATUSES.has(status))
            throw new RangeError(`Response.redirect: status ${status} is not a redirect status (301, 302, 303, 307 or 308).`);
        const r = new Response(INTERNAL);
        r.#status = status;
        r.#headers = new Headers(INTERNAL);
        headersAppendTrusted(r.#headers, "location", serializeURL(parsed));
        headersSetGuard(r.#headers, GUARD_IMMUTABLE);
        return r;
    }

    static error() {
        const r = new Response(INTERNAL);
        r.#status = 0;
        r.#type = "error";
        r.#headers = new Headers(INTERNAL);
        headersSetGuard(r.#headers, GUARD_IMMUTABLE);
        return r;
    }

    get type() {
        return this.#type;
    }
    get url() {
        return this.#url;
    }
    get redirected() {
        return this.#redirected;
    }
    get status() {
        return this.#status;
    }
    get ok() {
        return this.#status >= 200 && this.#status <= 299;
    }
    get statusText() {
        return this.#statusText;
    }
    get headers() {
        return this.#headers;
    }
    get webSocket() {
        return this.#webSocket;
    }
    get body() {
        return this.#body === null ? null : bodyStream(this.#body);
    }
    get bodyUsed() {
        return this.#body !== null && bodyIsUsed(this.#body);
    }
    async text() {
        return bodyReadText(this.#body);
    }
    async json() {
        return bodyReadJSON(this.#body);
    }
    async arrayBuffer() {
        return (await bodyReadBytes(this.#body)).buffer;
    }
    async bytes() {
        return bodyReadBytes(this.#body);
    }
    async formData() {
        return bodyReadFormData(this.#body, this.#headers);
    }
    async blob() {
        return bodyReadBlob(this.#body, this.#headers);
    }
    clone() {
        if (this.#webSocket !== null)
            throw new TypeError("A Response carrying a WebSocket cannot be cloned.");
        const r = new Response(INTERNAL);
        r.#status = this.#status;
        r.#statusText = this.#statusText;
        r.#type = this.#type;
        r.#url = this.#url;
        r.#redirected = this.#redirected;
        r.#body = this.#body === null ? null : bodyClone(this.#body);
        r.#headers = new Headers(this.#headers);
        if (this.#type === "error")
            headersSetGuard(r.#headers, GUARD_IMMUTABLE);
        return r;
    }

    [INSPECT]() {
        return {
            status: this.status, statusText: this.statusText, headers: this.headers, ok: this.ok,
            redirected: this.redirected, url: this.url, type: this.type, body: this.body, bodyUsed: this.bodyUsed,
        };
    }

    static {
        isResponse = (v) => isObject(v) && #status in v;
        responseForWire = (r) => {
            if (r.#type === "error")
                throw new TypeError("fetch() returned Response.error(); return a Response with an error status (for example 500) instead.");
            let data = null, pump;
            if (r.#body !== null) {
                if (bodyUnusable(r.#body))
                    throw new TypeError("fetch() returned a Response whose body has already been used, so it cannot be sent.");
                data = bodyForWire(r.#body);
                if (typeof data === "object" && !ArrayBuffer.isView(data)) {
                    pump = data;
                    data = null;
                }
            }
            return [r.#status, r.#statusText, headersWirePairs(r.#headers), data, pump];
        };
        // A response as fetch() gives it: status, headers and body from the network.
        responseFromNetwork = (status, statusText, flat, stream, url, redirected) => {
            const r = new Response(INTERNAL);
            r.#status = status;
            r.#statusText = statusText;
            r.#type = "basic";
            const h = new Headers(INTERNAL);
            headersFillTrusted(h, flat);
            headersSetGuard(h, GUARD_IMMUTABLE);
            r.#headers = h;
            r.#body = stream === null ? null : new BodyState(null, stream);
            r.#url = url;
            r.#redirected = redirected;
            return r;
        };
        responseBodyState = (r) => r.#body;
    }
}
setToStringTag(Response, "Response");

function describeValue(v) {
    if (v === null)
        return "null";
    if (typeof v === "function")
        return "a function";
    if (typeof v !== "object")
        return typeof v;
    if (typeof v.then === "function")
        return "a Promise (did you forget to await it?)";
    const proto = Object.getPrototypeOf(v);
    const name = proto === null ? null : proto.constructor?.name;
    return name ? `an object of class ${name}` : "an object";
}

// readResponse(value): [status, statusText, [name, value, ...], data or null, pump]
// where data is a string or a Uint8Array, and pump (see streamPump) is there when the body is a
// stream to be read as it is sent. Consumes the body.
function readResponse(v) {
    if (!isResponse(v))
        throw new TypeError(`fetch() must return a Response, got ${describeValue(v)}.`);
    return responseForWire(v);
}
