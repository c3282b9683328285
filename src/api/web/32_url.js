// The URL class (URL Standard API) over the parser's URL record, with its live searchParams.

let urlSetQuery;       // (url, serializedQuery): called by URLSearchParams when its list changes
let searchParamsReset; // (params, queryString): called by URL when its query changes

function invalidURL(input, base) {
    let msg = `Invalid URL: ${JSON.stringify(`${input}`)}`;
    if (base !== undefined)
        msg += ` (base ${JSON.stringify(`${base}`)})`;
    else if (`${input}`.indexOf(":") < 0)
        msg += " (a relative URL needs a base: new URL(path, base))";
    const e = new TypeError(msg);
    e.code = "ERR_INVALID_URL";
    e.input = `${input}`;
    return e;
}

class URL {
    #r;
    #href = null;   // cached serialization
    #params = null; // the URLSearchParams, made on first use

    constructor(url, base = undefined) {
        if (url === INTERNAL)
            return;
        requireArgs(arguments.length, 1, "URL");
        const r = parseURLString(url, base);
        if (r === null)
            throw invalidURL(url, base);
        this.#r = r;
    }

    static canParse(url, base = undefined) {
        requireArgs(arguments.length, 1, "URL.canParse");
        return parseURLString(url, base) !== null;
    }

    static parse(url, base = undefined) {
        requireArgs(arguments.length, 1, "URL.parse");
        const r = parseURLString(url, base);
        if (r === null)
            return null;
        const u = new URL(INTERNAL);
        u.#r = r;
        return u;
    }

    #changed() {
        this.#href = null;
    }

    get href() {
        return this.#href ?? (this.#href = serializeURL(this.#r));
    }
    set href(v) {
        const r = basicParse(toUSVString(v), null);
        if (r === null)
            throw invalidURL(v);
        this.#r = r;
        this.#changed();
        if (this.#params !== null)
            searchParamsReset(this.#params, r.query ?? "");
    }
    get origin() {
        return serializeOrigin(this.#r);
    }
    get protocol() {
        return this.#r.scheme + ":";
    }
    set protocol(v) {
        basicParse(toUSVString(v) + ":", null, this.#r, S_SCHEME_START);
        this.#changed();
    }
    get username() {
        return this.#r.username;
    }
    set username(v) {
        v = toUSVString(v);
        if (cannotHaveCredentialsOrPort(this.#r))
            return;
        this.#r.username = percentEncodeString(v, PE_USERINFO);
        this.#changed();
    }
    get password() {
        return this.#r.password;
    }
    set password(v) {
        v = toUSVString(v);
        if (cannotHaveCredentialsOrPort(this.#r))
            return;
        this.#r.password = percentEncodeString(v, PE_USERINFO);
        this.#changed();
    }
    get host() {
        const r = this.#r;
        if (r.host === null)
            return "";
        return r.port === null ? r.host : `${r.host}:${r.port}`;
    }
    set host(v) {
        v = toUSVString(v);
        if (typeof this.#r.path === "string")
            return;
        basicParse(v, null, this.#r, S_HOST);
        this.#changed();
    }
    get hostname() {
        return this.#r.host ?? "";
    }
    set hostname(v) {
        v = toUSVString(v);
        if (typeof this.#r.path === "string")
            return;
        basicParse(v, null, this.#r, S_HOSTNAME);
        this.#changed();
    }
    get port() {
        return this.#r.port === null ? "" : `${this.#r.port}`;
    }
    set port(v) {
        v = toUSVString(v);
        if (cannotHaveCredentialsOrPort(this.#r))
            return;
        if (v === "")
            this.#r.port = null;
        else
            basicParse(v, null, this.#r, S_PORT);
        this.#changed();
    }
    get pathname() {
        return serializePath(this.#r);
    }
    set pathname(v) {
        v = toUSVString(v);
        if (typeof this.#r.path === "string")
            return;
        this.#r.path = [];
        basicParse(v, null, this.#r, S_PATH_START);
        this.#changed();
    }
    get search() {
        const q = this.#r.query;
        return q === null || q === "" ? "" : "?" + q;
    }
    set search(v) {
        v = toUSVString(v);
        const r = this.#r;
        this.#changed();
        if (v === "") {
            r.query = null;
            if (this.#params !== null)
                searchParamsReset(this.#params, "");
            return;
        }
        const input = v.charCodeAt(0) === 63 ? v.slice(1) : v;
        r.query = "";
        basicParse(input, null, r, S_QUERY);
        if (this.#params !== null)
            searchParamsReset(this.#params, input);
    }
    get searchParams() {
        if (this.#params === null)
            this.#params = newLinkedSearchParams(this, this.#r.query ?? "");
        return this.#params;
    }
    get hash() {
        const f = this.#r.fragment;
        return f === null || f === "" ? "" : "#" + f;
    }
    set hash(v) {
        v = toUSVString(v);
        const r = this.#r;
        this.#changed();
        if (v === "") {
            r.fragment = null;
            return;
        }
        r.fragment = "";
        basicParse(v.charCodeAt(0) === 35 ? v.slice(1) : v, null, r, S_FRAGMENT);
    }
    toString() {
        return this.href;
    }
    toJSON() {
        return this.href;
    }

    [INSPECT]() {
        return {
            href: this.href, origin: this.origin, protocol: this.protocol, username: this.username,
            password: this.password, host: this.host, hostname: this.hostname, port: this.port,
            pathname: this.pathname, search: this.search, searchParams: this.searchParams, hash: this.hash,
        };
    }

    static {
        urlSetQuery = (u, q) => {
            u.#r.query = q === "" ? null : q;
            u.#changed();
        };
    }
}
setToStringTag(URL, "URL");
