// The basic URL parser of the URL Standard (a state machine over code points) and the URL serializer.

const S_SCHEME_START = 1, S_SCHEME = 2, S_NO_SCHEME = 3, S_SPECIAL_RELATIVE_OR_AUTHORITY = 4,
    S_PATH_OR_AUTHORITY = 5, S_RELATIVE = 6, S_RELATIVE_SLASH = 7, S_SPECIAL_AUTHORITY_SLASHES = 8,
    S_SPECIAL_AUTHORITY_IGNORE_SLASHES = 9, S_AUTHORITY = 10, S_HOST = 11, S_HOSTNAME = 12, S_PORT = 13,
    S_FILE = 14, S_FILE_SLASH = 15, S_FILE_HOST = 16, S_PATH_START = 17, S_PATH = 18, S_OPAQUE_PATH = 19,
    S_QUERY = 20, S_FRAGMENT = 21;
const EOF = -1;
const TAB_NEWLINE_RE = /[\t\n\r]/;
const TAB_NEWLINE_G_RE = /[\t\n\r]/g;
const C0_SPACE_EDGE_RE = /^[\0-\x20]+|[\0-\x20]+$/g;

function isSchemeChar(c) {
    return isAsciiAlpha(c) || isAsciiDigit(c) || c === 43 || c === 45 || c === 46;
}

// Most URLs a server sees are plain: a special scheme other than file, a
// lowercase ASCII host, no userinfo, nothing to percent-encode. This regex
// recognizes them (each part is a run of one character class up to the next
// delimiter, so matching is linear), and fastParse builds the record the
// state machine would build. Anything unusual goes the long way.
const SIMPLE_URL_RE = /^(https?|wss?|ftp):\/\/([a-z0-9\-.]+)(?::([0-9]{1,5}))?(\/[^\0-\x20"#<>?`{}^\\\x7f-\uffff]*)?(?:\?([^\0-\x20"#<>'\x7f-\uffff]*))?(?:#([^\0-\x20"<>`\x7f-\uffff]*))?$/;

function fastParse(input) {
    const m = SIMPLE_URL_RE.exec(input);
    if (m === null)
        return null;
    let host = m[2];
    const last = host.charCodeAt(host.length - 1);
    if (last === 46 || isAsciiDigit(last) || host.indexOf("x") >= 0) {
        // Maybe an IPv4 address, a trailing dot, or an xn-- label: the host parser decides.
        host = parseHost(host, false);
        if (host === null)
            return null;
    }
    const path = m[4];
    if (path !== undefined && (path.indexOf("/.") >= 0 ||
        (path.indexOf("%2") >= 0 && (path.indexOf("%2e") >= 0 || path.indexOf("%2E") >= 0))))
        return null; // dot segments to remove
    const r = new URLRecord();
    r.scheme = m[1];
    r.host = host;
    if (m[3] !== undefined) {
        const port = parseInt(m[3], 10);
        if (port > 65535)
            return null;
        r.port = port === SPECIAL_SCHEMES.get(r.scheme) ? null : port;
    }
    r.path = path === undefined ? [""] : path.slice(1).split("/");
    r.query = m[5] ?? null;
    r.fragment = m[6] ?? null;
    return r;
}

// Parses input (a scalar-value string) against base (a record or null). With
// url and override (a state), it updates url in place as the URL setters do.
// Returns the record, or null on failure.
function basicParse(input, base, url = null, override = 0) {
    if (url === null) {
        const fast = fastParse(input);
        if (fast !== null)
            return fast;
        url = new URLRecord();
        const n0 = input.length;
        if (n0 > 0 && (input.charCodeAt(0) <= 32 || input.charCodeAt(n0 - 1) <= 32))
            input = input.replace(C0_SPACE_EDGE_RE, "");
    }
    if (TAB_NEWLINE_RE.test(input))
        input = input.replace(TAB_NEWLINE_G_RE, "");
    const len = input.length;
    let state = override || S_SCHEME_START;
    let buffer = "";
    let atSignSeen = false, insideBrackets = false, passwordTokenSeen = false;
    let p = 0;
    for (;;) {
        const c = p < len ? input.codePointAt(p) : EOF;
        let w = c > 0xffff ? 2 : 1;
        switch (state) {
        case S_SCHEME_START:
            if (isAsciiAlpha(c)) {
                buffer += String.fromCharCode(c | 0x20);
                state = S_SCHEME;
            } else if (!override) {
                state = S_NO_SCHEME;
                p -= w;
            } else {
                return null;
            }
            break;

        case S_SCHEME:
            if (isSchemeChar(c)) {
                let j = p + 1;
                while (j < len && isSchemeChar(input.charCodeAt(j)))
                    j++;
                buffer += input.slice(p, j).toLowerCase();
                p = j - 1;
            } else if (c === 58) {
                if (override) {
                    const wasSpecial = isSpecialScheme(url.scheme), nowSpecial = isSpecialScheme(buffer);
                    if (wasSpecial !== nowSpecial)
                        return url;
                    if ((hasCredentials(url) || url.port !== null) && buffer === "file")
                        return url;
                    if (url.scheme === "file" && url.host === "")
                        return url;
                }
                url.scheme = buffer;
                if (override) {
                    if (url.port !== null && url.port === SPECIAL_SCHEMES.get(url.scheme))
                        url.port = null;
                    return url;
                }
                buffer = "";
                if (url.scheme === "file") {
                    state = S_FILE;
                } else if (isSpecialScheme(url.scheme) && base !== null && base.scheme === url.scheme) {
                    state = S_SPECIAL_RELATIVE_OR_AUTHORITY;
                } else if (isSpecialScheme(url.scheme)) {
                    state = S_SPECIAL_AUTHORITY_SLASHES;
                } else if (input.charCodeAt(p + 1) === 47) {
                    state = S_PATH_OR_AUTHORITY;
                    p++;
                } else {
                    url.path = "";
                    state = S_OPAQUE_PATH;
                }
            } else if (!override) {
                buffer = "";
                state = S_NO_SCHEME;
                p = 0;
                continue;
            } else {
                return null;
            }
            break;

        case S_NO_SCHEME:
            if (base === null || (typeof base.path === "string" && c !== 35))
                return null;
            if (typeof base.path === "string") {
                url.scheme = base.scheme;
                url.path = base.path;
                url.query = base.query;
                url.fragment = "";
                state = S_FRAGMENT;
            } else {
                state = base.scheme !== "file" ? S_RELATIVE : S_FILE;
                p -= w;
            }
            break;

        case S_SPECIAL_RELATIVE_OR_AUTHORITY:
            if (c === 47 && input.charCodeAt(p + 1) === 47) {
                state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES;
                p++;
            } else {
                state = S_RELATIVE;
                p -= w;
            }
            break;

        case S_PATH_OR_AUTHORITY:
            if (c === 47) {
                state = S_AUTHORITY;
            } else {
                state = S_PATH;
                p -= w;
            }
            break;

        case S_RELATIVE:
            url.scheme = base.scheme;
            if (c === 47 || (c === 92 && isSpecialScheme(url.scheme))) {
                state = S_RELATIVE_SLASH;
            } else {
                url.username = base.username;
                url.password = base.password;
                url.host = base.host;
                url.port = base.port;
                url.path = base.path.slice();
                url.query = base.query;
                if (c === 63) {
                    url.query = "";
                    state = S_QUERY;
                } else if (c === 35) {
                    url.fragment = "";
                    state = S_FRAGMENT;
                } else if (c !== EOF) {
                    url.query = null;
                    shortenPath(url);
                    state = S_PATH;
                    p -= w;
                }
            }
            break;

        case S_RELATIVE_SLASH:
            if (isSpecialScheme(url.scheme) && (c === 47 || c === 92)) {
                state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES;
            } else if (c === 47) {
                state = S_AUTHORITY;
            } else {
                url.username = base.username;
                url.password = base.password;
                url.host = base.host;
                url.port = base.port;
                state = S_PATH;
                p -= w;
            }
            break;

        case S_SPECIAL_AUTHORITY_SLASHES:
            if (c === 47 && input.charCodeAt(p + 1) === 47) {
                state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES;
                p++;
            } else {
                state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES;
                p -= w;
            }
            break;

        case S_SPECIAL_AUTHORITY_IGNORE_SLASHES:
            if (c !== 47 && c !== 92) {
                state = S_AUTHORITY;
                p -= w;
            }
            break;

        case S_AUTHORITY:
            if (c === 64) {
                if (atSignSeen)
                    buffer = "%40" + buffer;
                atSignSeen = true;
                let colon = passwordTokenSeen ? -1 : buffer.indexOf(":");
                if (colon >= 0) {
                    passwordTokenSeen = true;
                    url.username += percentEncodeString(buffer.slice(0, colon), PE_USERINFO);
                    url.password += percentEncodeString(buffer.slice(colon + 1), PE_USERINFO);
                } else if (passwordTokenSeen) {
                    url.password += percentEncodeString(buffer, PE_USERINFO);
                } else {
                    url.username += percentEncodeString(buffer, PE_USERINFO);
                }
                buffer = "";
            } else if (c === EOF || c === 47 || c === 63 || c === 35 || (c === 92 && isSpecialScheme(url.scheme))) {
                if (atSignSeen && buffer === "")
                    return null;
                p -= buffer.length + w;
                buffer = "";
                state = S_HOST;
            } else {
                // Take the run up to the next character this state looks at.
                let j = p + 1;
                for (; j < len; j++) {
                    const d = input.charCodeAt(j);
                    if (d === 64 || d === 47 || d === 63 || d === 35 || d === 92)
                        break;
                }
                buffer += input.slice(p, j);
                p = j - 1;
                w = 1;
            }
            break;

        case S_HOST:
        case S_HOSTNAME:
            if (override && url.scheme === "file") {
                p -= w;
                state = S_FILE_HOST;
            } else if (c === 58 && !insideBrackets) {
                if (buffer === "")
                    return null;
                if (override === S_HOSTNAME)
                    return null;
                const host = parseHost(buffer, !isSpecialScheme(url.scheme));
                if (host === null)
                    return null;
                url.host = host;
                buffer = "";
                state = S_PORT;
            } else if (c === EOF || c === 47 || c === 63 || c === 35 || (c === 92 && isSpecialScheme(url.scheme))) {
                p -= w;
                if (isSpecialScheme(url.scheme) && buffer === "")
                    return null;
                if (override && buffer === "" && (hasCredentials(url) || url.port !== null))
                    return url;
                const host = parseHost(buffer, !isSpecialScheme(url.scheme));
                if (host === null)
                    return null;
                url.host = host;
                buffer = "";
                state = S_PATH_START;
                if (override)
                    return url;
            } else {
                if (c === 91)
                    insideBrackets = true;
                else if (c === 93)
                    insideBrackets = false;
                let j = p + 1;
                for (; j < len; j++) {
                    const d = input.charCodeAt(j);
                    if (d === 58 || d === 91 || d === 93 || d === 47 || d === 63 || d === 35 || d === 92)
                        break;
                }
                buffer += input.slice(p, j);
                p = j - 1;
                w = 1;
            }
            break;

        case S_PORT:
            if (isAsciiDigit(c)) {
                buffer += String.fromCharCode(c);
            } else if (c === EOF || c === 47 || c === 63 || c === 35 || (c === 92 && isSpecialScheme(url.scheme)) ||
                       override) {
                if (buffer !== "") {
                    const port = parseInt(buffer, 10); // leading zeros are allowed; huge values stay huge
                    if (port > 65535)
                        return null;
                    url.port = port === SPECIAL_SCHEMES.get(url.scheme) ? null : port;
                    buffer = "";
                    if (override)
                        return url;
                }
                if (override)
                    return null;
                state = S_PATH_START;
                p -= w;
            } else {
                return null;
            }
            break;

        case S_FILE:
            url.scheme = "file";
            url.host = "";
            if (c === 47 || c === 92) {
                state = S_FILE_SLASH;
            } else if (base !== null && base.scheme === "file") {
                url.host = base.host;
                url.path = base.path.slice();
                url.query = base.query;
                if (c === 63) {
                    url.query = "";
                    state = S_QUERY;
                } else if (c === 35) {
                    url.fragment = "";
                    state = S_FRAGMENT;
                } else if (c !== EOF) {
                    url.query = null;
                    if (!startsWithWindowsDriveLetter(input, p))
                        shortenPath(url);
                    else
                        url.path = [];
                    state = S_PATH;
                    p -= w;
                }
            } else {
                state = S_PATH;
                p -= w;
            }
            break;

        case S_FILE_SLASH:
            if (c === 47 || c === 92) {
                state = S_FILE_HOST;
            } else {
                if (base !== null && base.scheme === "file") {
                    url.host = base.host;
                    if (!startsWithWindowsDriveLetter(input, p) && base.path.length > 0 &&
                        isWindowsDriveLetter(base.path[0], true))
                        url.path.push(base.path[0]);
                }
                state = S_PATH;
                p -= w;
            }
            break;

        case S_FILE_HOST:
            if (c === EOF || c === 47 || c === 92 || c === 63 || c === 35) {
                p -= w;
                if (!override && isWindowsDriveLetter(buffer, false)) {
                    state = S_PATH; // the buffer is kept: it is the path's first segment
                } else if (buffer === "") {
                    url.host = "";
                    if (override)
                        return url;
                    state = S_PATH_START;
                } else {
                    let host = parseHost(buffer, false);
                    if (host === null)
                        return null;
                    if (host === "localhost")
                        host = "";
                    url.host = host;
                    if (override)
                        return url;
                    buffer = "";
                    state = S_PATH_START;
                }
            } else {
                buffer += String.fromCodePoint(c);
            }
            break;

        case S_PATH_START:
            if (isSpecialScheme(url.scheme)) {
                state = S_PATH;
                if (c !== 47 && c !== 92)
                    p -= w;
            } else if (!override && c === 63) {
                url.query = "";
                state = S_QUERY;
            } else if (!override && c === 35) {
                url.fragment = "";
                state = S_FRAGMENT;
            } else if (c !== EOF) {
                state = S_PATH;
                if (c !== 47)
                    p -= w;
            } else if (override && url.host === null) {
                url.path.push("");
            }
            break;

        case S_PATH: {
            const special = isSpecialScheme(url.scheme);
            if (c === EOF || c === 47 || (special && c === 92) || (!override && (c === 63 || c === 35))) {
                const slash = c === 47 || (special && c === 92);
                if (isDoubleDot(buffer)) {
                    shortenPath(url);
                    if (!slash)
                        url.path.push("");
                } else if (isSingleDot(buffer)) {
                    if (!slash)
                        url.path.push("");
                } else {
                    if (url.scheme === "file" && url.path.length === 0 && isWindowsDriveLetter(buffer, false))
                        buffer = buffer[0] + ":";
                    url.path.push(buffer);
                }
                buffer = "";
                if (c === 63) {
                    url.query = "";
                    state = S_QUERY;
                } else if (c === 35) {
                    url.fragment = "";
                    state = S_FRAGMENT;
                }
            } else {
                // Take the run of characters that need no encoding in one step.
                let j = p;
                for (; j < len; j++) {
                    const d = input.charCodeAt(j);
                    if (d >= 0x80 || PE_TABLE[d] & PE_PATH || d === 47 || d === 92 || d === 63 || d === 35)
                        break;
                }
                if (j > p) {
                    buffer += input.slice(p, j);
                    p = j - 1;
                    w = 1;
                } else {
                    buffer += percentEncodeCodePoint(c, PE_PATH);
                }
            }
            break;
        }

        case S_OPAQUE_PATH:
            if (c === 63) {
                url.query = "";
                state = S_QUERY;
            } else if (c === 35) {
                url.fragment = "";
                state = S_FRAGMENT;
            } else if (c === 32) {
                const next = input.charCodeAt(p + 1);
                url.path += next === 63 || next === 35 ? "%20" : " ";
            } else if (c !== EOF) {
                url.path += percentEncodeCodePoint(c, PE_C0);
            }
            break;

        case S_QUERY:
            if (c === EOF || (!override && c === 35)) {
                url.query += percentEncodeString(buffer, isSpecialScheme(url.scheme) ? PE_SPECIAL_QUERY : PE_QUERY);
                buffer = "";
                if (c === 35) {
                    url.fragment = "";
                    state = S_FRAGMENT;
                }
            } else {
                let j = override ? -1 : input.indexOf("#", p);
                if (j < 0)
                    j = len;
                buffer += input.slice(p, j);
                p = j - 1;
                w = 1;
            }
            break;

        case S_FRAGMENT:
            if (c !== EOF) {
                url.fragment += percentEncodeString(input.slice(p), PE_FRAGMENT);
                p = len - 1;
                w = 1;
            }
            break;
        }
        if (p >= len)
            break;
        p += w;
    }
    return url;
}

function serializePath(r) {
    if (typeof r.path === "string")
        return r.path;
    let out = "";
    for (let i = 0; i < r.path.length; i++)
        out += "/" + r.path[i];
    return out;
}

function serializeURL(r, excludeFragment = false) {
    let out = r.scheme + ":";
    if (r.host !== null) {
        out += "//";
        if (r.username !== "" || r.password !== "") {
            out += r.username;
            if (r.password !== "")
                out += ":" + r.password;
            out += "@";
        }
        out += r.host;
        if (r.port !== null)
            out += ":" + r.port;
    } else if (typeof r.path !== "string" && r.path.length > 1 && r.path[0] === "") {
        out += "/.";
    }
    out += serializePath(r);
    if (r.query !== null)
        out += "?" + r.query;
    if (!excludeFragment && r.fragment !== null)
        out += "#" + r.fragment;
    return out;
}

function serializeOrigin(r) {
    switch (r.scheme) {
    case "blob": {
        if (typeof r.path !== "string")
            return "null";
        const inner = basicParse(r.path, null);
        return inner !== null && (inner.scheme === "http" || inner.scheme === "https") ? serializeOrigin(inner) : "null";
    }
    case "ftp": case "http": case "https": case "ws": case "wss":
        return r.scheme + "://" + r.host + (r.port !== null ? ":" + r.port : "");
    default:
        return "null";
    }
}

// The last absolute URL string parsed and its record: `new URL(request.url)`
// right after the runtime normalized request.url is the common case.
let lastParsedInput = null;
let lastParsedRecord = null;

// Lets the next parse of s reuse r (the caller keeps its own copy).
function rememberParsed(s, r) {
    lastParsedInput = s;
    lastParsedRecord = r.clone();
}

// Parses a URL string as the APIs do (scalar values first). Returns a new record or null.
function parseURLString(s, baseString = undefined) {
    if (baseString === undefined) {
        if (s === lastParsedInput)
            return lastParsedRecord === null ? null : lastParsedRecord.clone();
        const r = basicParse(toUSVString(s), null);
        if (typeof s === "string") {
            lastParsedInput = s;
            lastParsedRecord = r === null ? null : r.clone();
        }
        return r;
    }
    const base = basicParse(toUSVString(baseString), null);
    if (base === null)
        return null;
    return basicParse(toUSVString(s), base);
}
