// URL Standard building blocks: percent-encoding, the URL record, and the host parser (IPv4, IPv6, domains, IDNA approximated).

// Percent-encode sets, one bit each; code points past U+007E are in every set.
const PE_C0 = 1, PE_FRAGMENT = 2, PE_QUERY = 4, PE_SPECIAL_QUERY = 8, PE_PATH = 16, PE_USERINFO = 32,
    PE_COMPONENT = 64, PE_FORM = 128;
const PE_TABLE = new Uint8Array(128);
(function buildPercentEncodeTable() {
    const add = (bits, chars) => {
        for (const ch of chars)
            PE_TABLE[ch.charCodeAt(0)] |= bits;
    };
    for (let c = 0; c < 0x20; c++)
        PE_TABLE[c] = 0xff;
    PE_TABLE[0x7f] = 0xff;
    add(PE_FRAGMENT | PE_QUERY | PE_SPECIAL_QUERY | PE_PATH | PE_USERINFO | PE_COMPONENT | PE_FORM, " \"<>");
    add(PE_FRAGMENT | PE_PATH | PE_USERINFO | PE_COMPONENT | PE_FORM, "`");
    add(PE_QUERY | PE_SPECIAL_QUERY | PE_PATH | PE_USERINFO | PE_COMPONENT | PE_FORM, "#");
    add(PE_SPECIAL_QUERY | PE_USERINFO | PE_COMPONENT | PE_FORM, "'");
    add(PE_PATH | PE_USERINFO | PE_COMPONENT | PE_FORM, "?^{}");
    add(PE_USERINFO | PE_COMPONENT | PE_FORM, "/:;=@[\\]|");
    add(PE_COMPONENT | PE_FORM, "$%&+,");
    add(PE_FORM, "!()~");
})();

const HEX_UPPER = "0123456789ABCDEF";

function percentEncodeByte(b) {
    return "%" + HEX_UPPER[b >> 4] + HEX_UPPER[b & 15];
}

// UTF-8 percent-encodes one code point if the set asks for it.
function percentEncodeCodePoint(cp, bit) {
    if (cp < 0x80)
        return PE_TABLE[cp] & bit ? percentEncodeByte(cp) : String.fromCharCode(cp);
    if (cp < 0x800)
        return percentEncodeByte(0xc0 | (cp >> 6)) + percentEncodeByte(0x80 | (cp & 63));
    if (cp >= 0xd800 && cp <= 0xdfff)
        cp = 0xfffd;
    if (cp < 0x10000)
        return percentEncodeByte(0xe0 | (cp >> 12)) + percentEncodeByte(0x80 | ((cp >> 6) & 63)) +
            percentEncodeByte(0x80 | (cp & 63));
    return percentEncodeByte(0xf0 | (cp >> 18)) + percentEncodeByte(0x80 | ((cp >> 12) & 63)) +
        percentEncodeByte(0x80 | ((cp >> 6) & 63)) + percentEncodeByte(0x80 | (cp & 63));
}

// UTF-8 percent-encodes a whole string; spaceAsPlus is the form-urlencoded rule.
function percentEncodeString(s, bit, spaceAsPlus = false) {
    const n = s.length;
    let i = 0;
    for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80 || PE_TABLE[c] & bit)
            break;
    }
    if (i === n)
        return s;
    let out = s.slice(0, i);
    for (; i < n; i++) {
        let c = s.charCodeAt(i);
        if (c < 0x80) {
            if (c === 32 && spaceAsPlus)
                out += "+";
            else
                out += PE_TABLE[c] & bit ? percentEncodeByte(c) : s[i];
            continue;
        }
        if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
            const d = s.charCodeAt(i + 1);
            if (d >= 0xdc00 && d <= 0xdfff) {
                c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
                i++;
            }
        }
        out += percentEncodeCodePoint(c, bit);
    }
    return out;
}

function hexValue(c) {
    if (c >= 48 && c <= 57)
        return c - 48;
    c |= 0x20;
    if (c >= 97 && c <= 102)
        return c - 87;
    return -1;
}

// Percent-decodes a string to bytes (the string is UTF-8 encoded first).
function percentDecodeBytes(s) {
    const bytes = native.encode(s);
    const out = new Uint8Array(bytes.length);
    let j = 0;
    for (let i = 0; i < bytes.length; i++) {
        const b = bytes[i];
        if (b === 37 && i + 2 < bytes.length) {
            const h = hexValue(bytes[i + 1]), l = hexValue(bytes[i + 2]);
            if (h >= 0 && l >= 0) {
                out[j++] = (h << 4) | l;
                i += 2;
                continue;
            }
        }
        out[j++] = b;
    }
    return out.subarray(0, j);
}

// Percent-decode, then UTF-8 decode without BOM handling, replacing errors.
function percentDecodeString(s) {
    if (s.indexOf("%") < 0)
        return s;
    return native.decode(percentDecodeBytes(s), false);
}

const SPECIAL_SCHEMES = new Map([["ftp", 21], ["file", null], ["http", 80], ["https", 443], ["ws", 80], ["wss", 443]]);

class URLRecord {
    constructor() {
        this.scheme = "";
        this.username = "";
        this.password = "";
        this.host = null;  // serialized host: domain, "1.2.3.4", "[::1]", opaque host or ""
        this.port = null;
        this.path = [];    // a list of segments, or a string for an opaque path
        this.query = null;
        this.fragment = null;
    }
    clone() {
        const r = new URLRecord();
        r.scheme = this.scheme;
        r.username = this.username;
        r.password = this.password;
        r.host = this.host;
        r.port = this.port;
        r.path = typeof this.path === "string" ? this.path : this.path.slice();
        r.query = this.query;
        r.fragment = this.fragment;
        return r;
    }
}

function isSpecialScheme(s) {
    return SPECIAL_SCHEMES.has(s);
}

function hasCredentials(r) {
    return r.username !== "" || r.password !== "";
}

function cannotHaveCredentialsOrPort(r) {
    return r.host === null || r.host === "" || r.scheme === "file";
}

function isAsciiAlpha(c) {
    return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function isAsciiDigit(c) {
    return c >= 48 && c <= 57;
}

function isWindowsDriveLetter(s, normalizedOnly) {
    if (s.length !== 2 || !isAsciiAlpha(s.charCodeAt(0)))
        return false;
    const c = s.charCodeAt(1);
    return c === 58 || (!normalizedOnly && c === 124);
}

function startsWithWindowsDriveLetter(s, p) {
    if (s.length - p < 2 || !isAsciiAlpha(s.charCodeAt(p)))
        return false;
    const c = s.charCodeAt(p + 1);
    if (c !== 58 && c !== 124)
        return false;
    if (s.length - p === 2)
        return true;
    const d = s.charCodeAt(p + 2);
    return d === 47 || d === 92 || d === 63 || d === 35;
}

function shortenPath(r) {
    const path = r.path;
    if (r.scheme === "file" && path.length === 1 && isWindowsDriveLetter(path[0], true))
        return;
    path.pop();
}

function isSingleDot(s) {
    return s === "." || (s.length === 3 && s.toLowerCase() === "%2e");
}

function isDoubleDot(s) {
    switch (s.length) {
    case 2: return s === "..";
    case 4: {
        const l = s.toLowerCase();
        return l === ".%2e" || l === "%2e.";
    }
    case 6: return s.toLowerCase() === "%2e%2e";
    default: return false;
    }
}

// ---- hosts --------------------------------------------------------------

const FORBIDDEN_HOST_RE = /[\0\t\n\r #/:<>?@[\\\]^|]/;
const FORBIDDEN_DOMAIN_RE = /[\0-\x20#%/:<>?@[\\\]^|\x7f]/;
const ASCII_RE = /^[\0-\x7f]*$/;

function parseIPv4Number(s) {
    if (s === "")
        return NaN;
    let radix = 10, i = 0;
    if (s.length >= 2 && s.charCodeAt(0) === 48 && (s.charCodeAt(1) | 0x20) === 120) {
        radix = 16;
        i = 2;
    } else if (s.length >= 2 && s.charCodeAt(0) === 48) {
        radix = 8;
        i = 1;
    }
    if (i === s.length)
        return 0;
    let v = 0;
    for (; i < s.length; i++) {
        const d = hexValue(s.charCodeAt(i));
        if (d < 0 || d >= radix)
            return NaN;
        v = v * radix + d;
    }
    return v;
}

function endsInANumber(s) {
    const parts = s.split(".");
    if (parts[parts.length - 1] === "") {
        if (parts.length === 1)
            return false;
        parts.pop();
    }
    const last = parts[parts.length - 1];
    if (last !== "" && /^[0-9]+$/.test(last))
        return true;
    return !Number.isNaN(parseIPv4Number(last));
}

// Returns the dotted serialization, or null on failure.
function parseIPv4(s) {
    const parts = s.split(".");
    if (parts[parts.length - 1] === "" && parts.length > 1)
        parts.pop();
    if (parts.length > 4)
        return null;
    const nums = [];
    for (const p of parts) {
        const v = parseIPv4Number(p);
        if (Number.isNaN(v))
            return null;
        nums.push(v);
    }
    for (let i = 0; i < nums.length - 1; i++) {
        if (nums[i] > 255)
            return null;
    }
    const last = nums[nums.length - 1];
    if (last >= 256 ** (5 - nums.length))
        return null;
    let addr = last;
    for (let i = 0; i < nums.length - 1; i++)
        addr += nums[i] * 256 ** (3 - i);
    return `${Math.floor(addr / 16777216)}.${Math.floor(addr / 65536) % 256}.${Math.floor(addr / 256) % 256}.${addr % 256}`;
}

// Returns the eight 16-bit pieces, or null on failure.
function parseIPv6(s) {
    const a = [0, 0, 0, 0, 0, 0, 0, 0];
    const n = s.length;
    let piece = 0, compress = -1, p = 0;
    const at = (i) => (i < n ? s.charCodeAt(i) : -1);
    if (at(0) === 58) {
        if (at(1) !== 58)
            return null;
        p = 2;
        piece = 1;
        compress = 1;
    }
    while (p < n) {
        if (piece === 8)
            return null;
        if (at(p) === 58) {
            if (compress >= 0)
                return null;
            p++;
            piece++;
            compress = piece;
            continue;
        }
        let value = 0, len = 0;
        while (len < 4 && p < n && hexValue(at(p)) >= 0) {
            value = value * 16 + hexValue(at(p));
            p++;
            len++;
        }
        if (at(p) === 46) {
            if (len === 0)
                return null;
            p -= len;
            if (piece > 6)
                return null;
            let seen = 0;
            while (p < n) {
                let v4 = -1;
                if (seen > 0) {
                    if (at(p) === 46 && seen < 4)
                        p++;
                    else
                        return null;
                }
                if (!isAsciiDigit(at(p)))
                    return null;
                while (isAsciiDigit(at(p))) {
                    const d = at(p) - 48;
                    if (v4 < 0)
                        v4 = d;
                    else if (v4 === 0)
                        return null;
                    else
                        v4 = v4 * 10 + d;
                    if (v4 > 255)
                        return null;
                    p++;
                }
                a[piece] = a[piece] * 256 + v4;
                seen++;
                if (seen === 2 || seen === 4)
                    piece++;
            }
            if (seen !== 4)
                return null;
            break;
        } else if (at(p) === 58) {
            p++;
            if (p >= n)
                return null;
        } else if (p < n) {
            return null;
        }
        a[piece] = value;
        piece++;
    }
    if (compress >= 0) {
        let swaps = piece - compress;
        piece = 7;
        while (piece !== 0 && swaps > 0) {
            const t = a[piece];
            a[piece] = a[compress + swaps - 1];
            a[compress + swaps - 1] = t;
            piece--;
            swaps--;
        }
    } else if (piece !== 8) {
        return null;
    }
    return a;
}

function serializeIPv6(a) {
    // The first longest run of two or more zero pieces becomes "::".
    let best = -1, bestLen = 1;
    for (let i = 0; i < 8;) {
        if (a[i] !== 0) {
            i++;
            continue;
        }
        let j = i;
        while (j < 8 && a[j] === 0)
            j++;
        if (j - i > bestLen) {
            best = i;
            bestLen = j - i;
        }
        i = j;
    }
    let out = "";
    for (let i = 0; i < 8; i++) {
        if (i === best) {
            out += i === 0 ? "::" : ":";
            i += bestLen - 1;
            continue;
        }
        out += a[i].toString(16);
        if (i < 7)
            out += ":";
    }
    return out;
}

// Punycode (RFC 3492) for internationalized domain labels.
const PUNY_BASE = 36, PUNY_TMIN = 1, PUNY_TMAX = 26, PUNY_SKEW = 38, PUNY_DAMP = 700;

function punyAdapt(delta, count, first) {
    delta = first ? Math.floor(delta / PUNY_DAMP) : delta >> 1;
    delta += Math.floor(delta / count);
    let k = 0;
    while (delta > ((PUNY_BASE - PUNY_TMIN) * PUNY_TMAX) >> 1) {
        delta = Math.floor(delta / (PUNY_BASE - PUNY_TMIN));
        k += PUNY_BASE;
    }
    return k + Math.floor(((PUNY_BASE - PUNY_TMIN + 1) * delta) / (delta + PUNY_SKEW));
}

function punyThreshold(k, bias) {
    return k <= bias ? PUNY_TMIN : k >= bias + PUNY_TMAX ? PUNY_TMAX : k - bias;
}

function punyDigit(d) {
    return String.fromCharCode(d < 26 ? 97 + d : 22 + d);
}

function punycodeEncode(label) {
    const cps = Array.from(label, (ch) => ch.codePointAt(0));
    let out = "";
    for (const cp of cps) {
        if (cp < 0x80)
            out += String.fromCharCode(cp);
    }
    const basic = out.length;
    let handled = basic;
    if (basic > 0)
        out += "-";
    let n = 128, delta = 0, bias = 72;
    while (handled < cps.length) {
        let m = Infinity;
        for (const cp of cps) {
            if (cp >= n && cp < m)
                m = cp;
        }
        delta += (m - n) * (handled + 1);
        n = m;
        for (const cp of cps) {
            if (cp < n)
                delta++;
            if (cp !== n)
                continue;
            let q = delta;
            for (let k = PUNY_BASE; ; k += PUNY_BASE) {
                const t = punyThreshold(k, bias);
                if (q < t)
                    break;
                out += punyDigit(t + ((q - t) % (PUNY_BASE - t)));
                q = Math.floor((q - t) / (PUNY_BASE - t));
            }
            out += punyDigit(q);
            bias = punyAdapt(delta, handled + 1, handled === basic);
            delta = 0;
            handled++;
        }
        delta++;
        n++;
    }
    return out;
}

// Returns the decoded label, or null when s is not valid punycode.
function punycodeDecode(s) {
    const dash = s.lastIndexOf("-");
    const out = [];
    for (let i = 0; i < Math.max(dash, 0); i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80)
            return null;
        out.push(c);
    }
    let n = 128, bias = 72, i = 0;
    for (let p = dash > 0 ? dash + 1 : 0; p < s.length;) {
        const old = i;
        let w = 1;
        for (let k = PUNY_BASE; ; k += PUNY_BASE) {
            if (p >= s.length)
                return null;
            const c = s.charCodeAt(p++);
            const d = c >= 48 && c <= 57 ? c - 22 : (c | 0x20) >= 97 && (c | 0x20) <= 122 ? (c | 0x20) - 97 : -1;
            if (d < 0)
                return null;
            i += d * w;
            const t = punyThreshold(k, bias);
            if (d < t)
                break;
            w *= PUNY_BASE - t;
            if (i > 0x7fffffff || w > 0x7fffffff)
                return null;
        }
        bias = punyAdapt(i - old, out.length + 1, old === 0);
        n += Math.floor(i / (out.length + 1));
        i %= out.length + 1;
        if (n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff))
            return null;
        out.splice(i++, 0, n);
    }
    return String.fromCodePoint(...out);
}

// Code points UTS #46 maps to nothing, and the dots it maps to ".".
const IDNA_IGNORED_RE = /[\u00ad\u034f\u180b-\u180d\u200b\u2060\ufe00-\ufe0f\ufeff]/g;
const IDNA_DOTS_RE = /[\u3002\uff0e\uff61]/g;
const XN_LABEL_RE = /(?:^|\.)xn--/i;

// Domain to ASCII. Non-ASCII domains are mapped approximately (NFKC and
// lowercasing stand in for the UTS #46 mapping table; the Bidi and ContextJ
// rules are not checked), then each non-ASCII label is punycode-encoded.
// Returns null on failure.
function domainToASCII(domain) {
    if (ASCII_RE.test(domain) && !XN_LABEL_RE.test(domain))
        return domain.toLowerCase();
    const mapped = domain.replace(IDNA_IGNORED_RE, "").normalize("NFKC").toLowerCase().normalize("NFC")
        .replace(IDNA_DOTS_RE, ".");
    const labels = mapped.split(".");
    for (let i = 0; i < labels.length; i++) {
        const label = labels[i];
        if (label.startsWith("xn--")) {
            if (!ASCII_RE.test(label))
                return null;
            const decoded = punycodeDecode(label.slice(4));
            if (decoded === null || decoded === "" || ASCII_RE.test(decoded))
                return null;
        } else if (!ASCII_RE.test(label)) {
            labels[i] = "xn--" + punycodeEncode(label);
        }
    }
    const out = labels.join(".");
    return out === "" ? null : out;
}

// Host parser: returns the serialized host, or null on failure.
function parseHost(input, isOpaque) {
    if (input.charCodeAt(0) === 91) {
        if (input.charCodeAt(input.length - 1) !== 93)
            return null;
        const a = parseIPv6(input.slice(1, -1));
        return a === null ? null : `[${serializeIPv6(a)}]`;
    }
    if (isOpaque) {
        if (FORBIDDEN_HOST_RE.test(input))
            return null;
        return percentEncodeString(input, PE_C0);
    }
    let ascii;
    if (/^[a-z0-9\-._]+$/.test(input) && input.indexOf("xn--") < 0) {
        ascii = input; // the common case: already a lowercase ASCII domain
    } else {
        ascii = domainToASCII(percentDecodeString(input));
        if (ascii === null || FORBIDDEN_DOMAIN_RE.test(ascii))
            return null;
    }
    const last = ascii.charCodeAt(ascii.length - 1);
    if ((isAsciiDigit(last) || last === 46 || ascii.indexOf("x") >= 0) &&
        endsInANumber(ascii))
        return parseIPv4(ascii);
    return ascii;
}
