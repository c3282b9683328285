// Request (WHATWG Fetch) and makeRequest, the cheap path the runtime uses for incoming HTTP requests.

const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
// The spec uppercases these six; PATCH is added, as Workers do.
const NORMALIZED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH"]);
const REDIRECT_MODES = new Set(["follow", "error", "manual"]);

function normalizeMethod(m) {
    if (NORMALIZED_METHODS.has(m))
        return m;
    const upper = m.toUpperCase();
    return NORMALIZED_METHODS.has(upper) ? upper : m;
}

let isRequest;
// makeRequest(method, url, [name, value, ...], Uint8Array or null): a Request
// for an incoming HTTP request. Nothing is validated (the HTTP parser did
// that, and web.c lowercases the names); the URL is normalized the first
// time someone reads request.url.
let makeRequest;
let requestBodyState; // (request) => BodyState or null

class Request {
    #method = "GET";
    #url = "";
    #urlChecked = true; // false while #url is the raw string the runtime gave
    #headers = null;
    #body = null;       // BodyState, or null for no body
    #redirect = "follow";
    #signal = null;     // AbortSignal, made on first use when the request has none

    constructor(input, init = undefined) {
        if (input === INTERNAL)
            return;
        requireArgs(arguments.length, 1, "Request");
        init = dictionary(init, "Request");
        const src = isRequest(input) ? input : null;
        if (src === null) {
            const r = parseURLString(input);
            if (r === null)
                throw invalidURL(input);
            if (hasCredentials(r))
                throw new TypeError(`Request: the URL ${JSON.stringify(`${input}`)} includes credentials; send them in an Authorization header instead.`);
            this.#url = serializeURL(r);
        } else {
            this.#url = src.url;
        }
        let method = src !== null ? src.#method : "GET";
        if (init.method !== undefined) {
            const m = toByteString(init.method, "Request");
            if (!HEADER_NAME_RE.test(m))
                throw new TypeError(`Request: ${JSON.stringify(m)} is not a valid HTTP method.`);
            const upper = m.toUpperCase();
            if (FORBIDDEN_METHODS.has(upper))
                throw new TypeError(`Request: the method ${upper} is not allowed.`);
            method = normalizeMethod(m);
        }
        this.#method = method;
        if (init.redirect !== undefined) {
            const mode = toDOMString(init.redirect);
            if (!REDIRECT_MODES.has(mode))
                throw new TypeError(`Request: redirect must be "follow", "error" or "manual", got ${JSON.stringify(mode)}.`);
            this.#redirect = mode;
        } else if (src !== null) {
            this.#redirect = src.#redirect;
        }
        const headers = new Headers(init.headers !== undefined ? init.headers : src !== null ? src.#headers : undefined);
        this.#headers = headers;
        const initBody = init.body;
        const inputBody = src !== null ? src.#body : null;
        if (((initBody !== undefined && initBody !== null) || inputBody !== null) &&
            (method === "GET" || method === "HEAD"))
            throw new TypeError(`Request with ${method} method cannot have a body.`);
        if (init.signal !== undefined && init.signal !== null) {
            if (!isAbortSignal(init.signal))
                throw new TypeError("Request: signal must be an AbortSignal.");
            this.#signal = init.signal;
        } else if (src !== null && init.signal !== null) {
            this.#signal = src.#signal;
        }
        if (initBody !== undefined && initBody !== null) {
            const [body, type] = extractBody(initBody);
            this.#body = body;
            if (type !== null && !headersHasTrusted(headers, "content-type"))
                headersAppendTrusted(headers, "content-type", type);
        } else if (inputBody !== null) {
            // The new request takes the input's body; the input is used after this.
            if (bodyUnusable(inputBody))
                throw new TypeError("Request: the input request's body has already been used.");
            this.#body = bodyMove(inputBody);
        }
    }

    get method() {
        return this.#method;
    }
    get url() {
        if (!this.#urlChecked) {
            this.#urlChecked = true;
            const r = basicParse(this.#url, null);
            if (r !== null) {
                this.#url = serializeURL(r);
                rememberParsed(this.#url, r);
            }
        }
        return this.#url;
    }
    get headers() {
        return this.#headers;
    }
    get redirect() {
        return this.#redirect;
    }
    get signal() {
        return this.#signal ?? (this.#signal = newAbortSignal());
    }
    get cf() {
        return undefined;
    }
    get keepalive() {
        return false;
    }
    get integrity() {
        return "";
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
        const r = new Request(INTERNAL);
        r.#method = this.#method;
        r.#url = this.#url;
        r.#urlChecked = this.#urlChecked;
        r.#redirect = this.#redirect;
        r.#signal = this.#signal;
        r.#body = this.#body === null ? null : bodyClone(this.#body);
        r.#headers = new Headers(this.#headers);
        return r;
    }

    [INSPECT]() {
        return {
            method: this.method, url: this.url, headers: this.headers, redirect: this.redirect,
            body: this.body, bodyUsed: this.bodyUsed,
        };
    }

    static {
        isRequest = (v) => isObject(v) && #method in v;
        requestBodyState = (r) => r.#body;
        makeRequest = (method, url, flat, body) => {
            const r = new Request(INTERNAL);
            r.#method = normalizeMethod(method);
            r.#url = url;
            r.#urlChecked = false;
            const h = new Headers(INTERNAL);
            headersFillTrusted(h, flat);
            r.#headers = h;
            if (body !== null)
                r.#body = new BodyState(body);
            return r;
        };
    }
}
setToStringTag(Request, "Request");
