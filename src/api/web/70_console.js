// console, and inspect(): the short form of Node's util.inspect that formats what console prints.

const INSPECT_DEPTH = 2;
const BREAK_LENGTH = 80;
const MAX_ARRAY_ITEMS = 100;
const MAX_STRING_LENGTH = 10000;
const MAX_BUFFER_BYTES = 50;
const EXTRAS_OBJECT = 0, EXTRAS_ARRAY = 1;

const mapSizeGet = Object.getOwnPropertyDescriptor(Map.prototype, "size").get;
const setSizeGet = Object.getOwnPropertyDescriptor(Set.prototype, "size").get;
const regExpSourceGet = Object.getOwnPropertyDescriptor(RegExp.prototype, "source").get;
const objectToString = Object.prototype.toString;
const functionToString = Function.prototype.toString;
const IDENTIFIER_RE = /^[A-Za-z_$][A-Za-z_$0-9]*$/;
const INDEX_RE = /^(?:0|[1-9][0-9]*)$/;

// True when fn accepts v as its receiver: the engine's own brand check.
function hasBrand(fn, v, arg = undefined) {
    try {
        fn.call(v, arg);
        return true;
    } catch {
        return false;
    }
}

function hex2(c) {
    return (c < 16 ? "0" : "") + c.toString(16).toUpperCase();
}

const NAMED_ESCAPES = { 8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r" };

// A string as a quoted literal: single quotes unless the text holds them.
function quoteString(s) {
    let q = "'";
    if (s.indexOf("'") >= 0) {
        if (s.indexOf('"') < 0)
            q = '"';
        else if (s.indexOf("`") < 0 && s.indexOf("${") < 0)
            q = "`";
    }
    let more = "";
    if (s.length > MAX_STRING_LENGTH) {
        more = `... ${s.length - MAX_STRING_LENGTH} more character${s.length - MAX_STRING_LENGTH > 1 ? "s" : ""}`;
        s = s.slice(0, MAX_STRING_LENGTH);
    }
    const qc = q.charCodeAt(0);
    let out = "", last = 0;
    for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        let esc = null;
        if (c < 0x20 || c === 0x7f)
            esc = NAMED_ESCAPES[c] ?? "\\x" + hex2(c);
        else if (c === 92)
            esc = "\\\\";
        else if (c === qc)
            esc = "\\" + q;
        else if (c >= 0xd800 && c <= 0xdfff) {
            const d = s.charCodeAt(i + 1);
            if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff)
                i++;
            else
                esc = "\\u" + c.toString(16).toUpperCase();
        }
        if (esc !== null) {
            out += s.slice(last, i) + esc;
            last = i + 1;
        }
    }
    return q + out + s.slice(last) + q + more;
}

function formatNumber(n) {
    return Object.is(n, -0) ? "-0" : `${n}`;
}

function formatPrimitive(v) {
    switch (typeof v) {
    case "string": return quoteString(v);
    case "number": return formatNumber(v);
    case "bigint": return `${v}n`;
    case "symbol": return v.toString();
    default: return `${v}`;
    }
}

function constructorName(v) {
    let o = v;
    while (o !== null) {
        const d = Object.getOwnPropertyDescriptor(o, "constructor");
        if (d !== undefined && typeof d.value === "function" && d.value.name !== "")
            return d.value.name;
        o = Object.getPrototypeOf(o);
    }
    return null;
}

function toStringTagOf(v) {
    try {
        const t = v[Symbol.toStringTag];
        return typeof t === "string" ? t : "";
    } catch {
        return "";
    }
}

function prefixFor(name, tag, fallback, size = "") {
    if (name === null)
        return `[${fallback}${size}: null prototype]${tag !== "" && tag !== fallback ? ` [${tag}]` : ""} `;
    return `${name}${size}${tag !== "" && tag !== name ? ` [${tag}]` : ""} `;
}

function ownKeys(v, skipIndices) {
    const keys = [];
    for (const k of Reflect.ownKeys(v)) {
        if (skipIndices && typeof k === "string" && INDEX_RE.test(k))
            continue;
        const d = Object.getOwnPropertyDescriptor(v, k);
        if (d !== undefined && d.enumerable)
            keys.push(k);
    }
    return keys;
}

function functionBase(fn) {
    let src = "";
    try {
        src = functionToString.call(fn);
    } catch {}
    const name = typeof fn.name === "string" ? fn.name : "";
    if (/^class\b/.test(src)) {
        let b = `[class ${name || "(anonymous)"}`;
        const sup = Object.getPrototypeOf(fn);
        if (sup !== null && sup !== Function.prototype && sup.name)
            b += ` extends ${sup.name}`;
        return b + "]";
    }
    const type = toStringTagOf(fn) || "Function";
    return name ? `[${type}: ${name}]` : `[${type} (anonymous)]`;
}

function errorHead(e) {
    let name = "Error", message = "";
    try {
        name = `${e.name ?? "Error"}`;
        message = e.message === undefined ? "" : `${e.message}`;
    } catch {}
    return message !== "" ? `${name}: ${message}` : name;
}

function errorBase(ctx, e) {
    let stack = "";
    try {
        stack = typeof e.stack === "string" ? e.stack.replace(/\n+$/, "") : "";
    } catch {}
    const head = errorHead(e);
    if (stack === "")
        return `[${head}]`;
    // QuickJS's stack holds only the frames; V8's starts with the head line.
    let s = stack.startsWith(head) ? stack : `${head}\n${stack}`;
    if (ctx.indentLvl > 0)
        s = s.replace(/\n/g, "\n" + " ".repeat(ctx.indentLvl));
    return s;
}

function isError(v) {
    return v instanceof Error || objectToString.call(v) === "[object Error]";
}

function newInspectContext(depth) {
    return { depth, seen: [], circular: null, indentLvl: 0, currentDepth: 0 };
}

function inspect(v, options = undefined) {
    const depth = options !== undefined && options.depth !== undefined ? (options.depth === null ? Infinity : options.depth) : INSPECT_DEPTH;
    return formatValue(newInspectContext(depth), v, 0);
}

function formatValue(ctx, v, level) {
    if (!isObject(v))
        return formatPrimitive(v);
    if (ctx.seen.includes(v)) {
        if (ctx.circular === null)
            ctx.circular = new Map();
        let index = ctx.circular.get(v);
        if (index === undefined) {
            index = ctx.circular.size + 1;
            ctx.circular.set(v, index);
        }
        return `[Circular *${index}]`;
    }
    return formatRaw(ctx, v, level);
}

function formatRaw(ctx, v, level) {
    let name = constructorName(v);
    let tag = toStringTagOf(v);
    if (tag === name)
        tag = "";
    let target = v;          // whose properties are listed
    let keys;
    let base = "";
    let braces;
    let extras = EXTRAS_OBJECT;
    let entries = null;      // function (ctx, level) => output lines, before the keys

    let view = null;
    if (typeof v !== "function" && typeof v[INSPECT] === "function") {
        try {
            view = v[INSPECT]();
        } catch {
            view = null; // a prototype, say: show it like any object
        }
    }
    if (view !== null) {
        tag = "";
        if (view instanceof InspectEntries) {
            keys = [];
            braces = [`${name ?? "Object"} {`, "}"];
            entries = (c, l) => formatEntries(c, view.pairs, l);
        } else {
            target = view;
            keys = ownKeys(view, false);
            braces = [`${name ?? "Object"} {`, "}"];
        }
        if (keys.length === 0 && (entries === null || view.pairs.length === 0))
            return `${braces[0]}}`;
    } else if (Array.isArray(v)) {
        keys = ownKeys(v, true);
        const p = name !== "Array" || tag !== "" ? prefixFor(name, tag, "Array", `(${v.length})`) : "";
        braces = [`${p}[`, "]"];
        if (v.length === 0 && keys.length === 0)
            return `${braces[0]}]`;
        extras = EXTRAS_ARRAY;
        entries = (c, l) => formatArray(c, v, l);
    } else if (hasBrand(setSizeGet, v)) {
        const size = setSizeGet.call(v);
        keys = ownKeys(v, false);
        braces = [`${prefixFor(name, tag, "Set", `(${size})`)}{`, "}"];
        if (size === 0 && keys.length === 0)
            return `${braces[0]}}`;
        entries = (c, l) => formatList(c, Array.from(Set.prototype.values.call(v)), l);
    } else if (hasBrand(mapSizeGet, v)) {
        const size = mapSizeGet.call(v);
        keys = ownKeys(v, false);
        braces = [`${prefixFor(name, tag, "Map", `(${size})`)}{`, "}"];
        if (size === 0 && keys.length === 0)
            return `${braces[0]}}`;
        entries = (c, l) => formatEntries(c, Array.from(Map.prototype.entries.call(v)), l);
    } else if (ArrayBuffer.isView(v) && typedArrayTag.call(v) !== undefined) {
        const ta = typedArrayTag.call(v);
        keys = ownKeys(v, true);
        braces = [`${prefixFor(name, tag === ta ? "" : tag, ta, `(${v.length})`)}[`, "]"];
        if (v.length === 0 && keys.length === 0)
            return `${braces[0]}]`;
        extras = EXTRAS_ARRAY;
        entries = (c, l) => formatTypedArray(v);
    } else {
        keys = ownKeys(v, false);
        braces = ["{", "}"];
        if (objectToString.call(v) === "[object Arguments]") {
            braces = ["[Arguments] [", "]"];
            keys = ownKeys(v, true);
            extras = EXTRAS_ARRAY;
            if (v.length === 0 && keys.length === 0)
                return "[Arguments] []";
            entries = (c, l) => formatArray(c, v, l);
        } else if (typeof v === "function") {
            base = functionBase(v);
            keys = keys.filter((k) => k !== "prototype");
            if (keys.length === 0)
                return base;
        } else if (hasBrand(regExpSourceGet, v) && v !== RegExp.prototype) {
            base = RegExp.prototype.toString.call(v);
            if (keys.length === 0)
                return base;
        } else if (hasBrand(Date.prototype.getTime, v)) {
            const t = Date.prototype.getTime.call(v);
            base = Number.isNaN(t) ? "Invalid Date" : Date.prototype.toISOString.call(v);
            if (keys.length === 0)
                return base;
        } else if (isError(v)) {
            base = errorBase(ctx, v);
            keys = keys.filter((k) => k !== "stack" && k !== "message");
            if (Object.hasOwn(v, "cause") && !keys.includes("cause"))
                keys.push("[cause]");
            if (Object.hasOwn(v, "errors") && Array.isArray(v.errors) && !keys.includes("errors"))
                keys.push("[errors]");
            if (keys.length === 0)
                return base;
        } else if (isArrayBuffer(v)) {
            braces = [`${prefixFor(name, tag, "ArrayBuffer")}{`, "}"];
            entries = () => [formatArrayBufferContents(v), `byteLength: ${arrayBufferByteLength.call(v)}`];
        } else if (ArrayBuffer.isView(v)) {
            braces = [`${prefixFor(name, tag, "DataView")}{`, "}"];
            entries = (c, l) => [`byteLength: ${v.byteLength}`, `byteOffset: ${v.byteOffset}`,
                `buffer: ${formatValue(c, v.buffer, l + 1)}`];
        } else if (native.promiseState(v) >= 0) {
            braces = [`${prefixFor(name, tag, "Promise")}{`, "}"];
            entries = (c, l) => {
                const state = native.promiseState(v);
                if (state === 0)
                    return ["<pending>"];
                c.indentLvl += 2;
                const s = formatValue(c, native.promiseResult(v), l + 1);
                c.indentLvl -= 2;
                return [state === 2 ? `<rejected> ${s}` : s];
            };
        } else if (hasBrand(WeakMap.prototype.has, v, {}) || hasBrand(WeakSet.prototype.has, v, {})) {
            return `${prefixFor(name, tag, hasBrand(WeakMap.prototype.has, v, {}) ? "WeakMap" : "WeakSet")}{ <items unknown> }`;
        } else if (hasBrand(Number.prototype.valueOf, v)) {
            base = `[Number: ${formatNumber(Number.prototype.valueOf.call(v))}]`;
        } else if (hasBrand(String.prototype.valueOf, v)) {
            base = `[String: ${quoteString(String.prototype.valueOf.call(v))}]`;
            keys = ownKeys(v, true);
        } else if (hasBrand(Boolean.prototype.valueOf, v)) {
            base = `[Boolean: ${Boolean.prototype.valueOf.call(v)}]`;
        } else if (hasBrand(BigInt.prototype.valueOf, v)) {
            base = `[BigInt: ${BigInt.prototype.valueOf.call(v)}n]`;
        } else if (hasBrand(Symbol.prototype.valueOf, v)) {
            base = `[Symbol: ${Symbol.prototype.valueOf.call(v).toString()}]`;
        } else if (name === "Object") {
            if (tag !== "")
                braces[0] = `${prefixFor(name, tag, "Object")}{`;
            if (keys.length === 0)
                return `${braces[0]}}`;
        } else {
            braces[0] = `${prefixFor(name, tag, "Object")}{`;
            if (keys.length === 0)
                return `${braces[0]}}`;
        }
        if (base !== "" && keys.length === 0 && entries === null)
            return base;
    }

    if (level > ctx.depth)
        return Array.isArray(v) ? "[Array]" : `[${name ?? (tag || "Object")}]`;

    ctx.seen.push(v);
    ctx.currentDepth = level;
    let output;
    try {
        output = entries !== null ? entries(ctx, level) : [];
        for (const k of keys)
            output.push(formatProperty(ctx, target, k, level));
    } finally {
        ctx.seen.pop();
    }
    let res = reduceToSingleString(ctx, output, base, braces, extras, level, extras === EXTRAS_ARRAY ? v : undefined);
    if (ctx.circular !== null) {
        const index = ctx.circular.get(v);
        if (index !== undefined)
            res = `<ref *${index}> ${res}`;
    }
    return res;
}

function formatPropertyKey(k) {
    if (typeof k === "symbol")
        return `[${k.toString()}]`;
    return IDENTIFIER_RE.test(k) ? k : quoteString(k);
}

function formatProperty(ctx, obj, k, level) {
    let str;
    if (k === "[cause]" || k === "[errors]") {
        ctx.indentLvl += 2;
        str = formatValue(ctx, k === "[cause]" ? obj.cause : obj.errors, level + 1);
        ctx.indentLvl -= 2;
        return `${k}: ${str}`;
    }
    const d = Object.getOwnPropertyDescriptor(obj, k);
    if (d === undefined || "value" in d) {
        ctx.indentLvl += 2;
        str = formatValue(ctx, d === undefined ? obj[k] : d.value, level + 1);
        ctx.indentLvl -= 2;
    } else if (d.get !== undefined) {
        str = d.set !== undefined ? "[Getter/Setter]" : "[Getter]";
    } else {
        str = d.set !== undefined ? "[Setter]" : "undefined";
    }
    return `${formatPropertyKey(k)}: ${str}`;
}

function formatArray(ctx, arr, level) {
    const out = [];
    const len = arr.length;
    let i = 0;
    for (; i < len && out.length < MAX_ARRAY_ITEMS; i++) {
        if (!Object.hasOwn(arr, i)) {
            let j = i;
            while (j < len && !Object.hasOwn(arr, j))
                j++;
            const holes = j - i;
            out.push(`<${holes} empty item${holes > 1 ? "s" : ""}>`);
            i = j - 1;
            continue;
        }
        ctx.indentLvl += 2;
        out.push(formatValue(ctx, arr[i], level + 1));
        ctx.indentLvl -= 2;
    }
    if (i < len)
        out.push(`... ${len - i} more item${len - i > 1 ? "s" : ""}`);
    return out;
}

function formatTypedArray(ta) {
    const out = [];
    const n = Math.min(ta.length, MAX_ARRAY_ITEMS);
    for (let i = 0; i < n; i++)
        out.push(formatPrimitive(ta[i]));
    if (ta.length > n)
        out.push(`... ${ta.length - n} more item${ta.length - n > 1 ? "s" : ""}`);
    return out;
}

function formatList(ctx, items, level) {
    const out = [];
    ctx.indentLvl += 2;
    for (const item of items)
        out.push(formatValue(ctx, item, level + 1));
    ctx.indentLvl -= 2;
    return out;
}

function formatEntries(ctx, pairs, level) {
    const out = [];
    ctx.indentLvl += 2;
    for (const [k, v] of pairs)
        out.push(`${formatValue(ctx, k, level + 1)} => ${formatValue(ctx, v, level + 1)}`);
    ctx.indentLvl -= 2;
    return out;
}

function formatArrayBufferContents(ab) {
    const u8 = new Uint8Array(ab);
    let s = "";
    const n = Math.min(u8.length, MAX_BUFFER_BYTES);
    for (let i = 0; i < n; i++)
        s += (i > 0 ? " " : "") + (u8[i] < 16 ? "0" : "") + u8[i].toString(16);
    if (u8.length > n)
        s += ` ... ${u8.length - n} more byte${u8.length - n > 1 ? "s" : ""}`;
    return `[Uint8Contents]: <${s}>`;
}

// Lays out a long array of short items in aligned columns, as Node does:
// about 2.5 times as many columns as rows, at most 15 and within 80 characters.
function groupArrayElements(ctx, output, value) {
    let count = output.length;
    if (count > 0 && output[count - 1].startsWith("... ") && output[count - 1].includes(" more item"))
        count--;
    const SEP = 2;
    const lens = new Array(count);
    let total = 0, maxLen = 0;
    for (let i = 0; i < count; i++) {
        lens[i] = output[i].length;
        total += lens[i] + SEP;
        if (lens[i] > maxLen)
            maxLen = lens[i];
    }
    const cell = maxLen + SEP;
    if (cell * 3 + ctx.indentLvl >= BREAK_LENGTH || (total / cell <= 5 && maxLen > 6))
        return output;
    const bias = Math.sqrt(cell - total / output.length);
    const width = Math.max(cell - 3 - bias, 1);
    const columns = Math.min(Math.round(Math.sqrt(2.5 * width * count) / width),
        Math.floor((BREAK_LENGTH - ctx.indentLvl) / cell), 12, 15);
    if (columns <= 1)
        return output;
    const colWidth = [];
    for (let c = 0; c < columns; c++) {
        let w = 0;
        for (let j = c; j < count; j += columns) {
            if (lens[j] > w)
                w = lens[j];
        }
        colWidth.push(w + SEP);
    }
    let numeric = value !== undefined;
    if (numeric) {
        for (let i = 0; i < count; i++) {
            if (typeof value[i] !== "number" && typeof value[i] !== "bigint") {
                numeric = false;
                break;
            }
        }
    }
    const rows = [];
    for (let i = 0; i < count; i += columns) {
        const end = Math.min(i + columns, count);
        let line = "";
        for (let j = i; j < end - 1; j++) {
            const s = output[j] + ", ";
            line += numeric ? s.padStart(colWidth[j - i]) : s.padEnd(colWidth[j - i]);
        }
        line += numeric ? output[end - 1].padStart(colWidth[end - 1 - i] - SEP) : output[end - 1];
        rows.push(line);
    }
    for (let i = count; i < output.length; i++)
        rows.push(output[i]);
    return rows;
}

function fitsOnOneLine(output, start, base) {
    let total = output.length + start;
    if (total + output.length > BREAK_LENGTH)
        return false;
    for (const e of output) {
        total += e.length;
        if (total > BREAK_LENGTH)
            return false;
    }
    return base === "" || base.indexOf("\n") < 0;
}

function reduceToSingleString(ctx, output, base, braces, extras, level, value) {
    const count = output.length;
    if (extras === EXTRAS_ARRAY && count > 6)
        output = groupArrayElements(ctx, output, value);
    const head = base !== "" ? `${base} ${braces[0]}` : braces[0];
    if (ctx.currentDepth - level < 3 && count === output.length) {
        const start = output.length + ctx.indentLvl + braces[0].length + base.length + 10;
        if (fitsOnOneLine(output, start, base)) {
            const joined = output.join(", ");
            if (joined.indexOf("\n") < 0)
                return `${head} ${joined} ${braces[1]}`;
        }
    }
    const ind = "\n" + " ".repeat(ctx.indentLvl);
    return `${head}${ind}  ${output.join(`,${ind}  `)}${ind}${braces[1]}`;
}

// console.log's formatting: printf-style specifiers in a first string, then
// every other argument, strings bare and the rest through inspect().
function formatLogArgs(args) {
    if (args.length === 0)
        return "";
    let out = "";
    let next = 1;
    const first = args[0];
    if (typeof first !== "string") {
        out = inspect(first);
    } else if (args.length === 1 || first.indexOf("%") < 0) {
        out = first;
    } else {
        let last = 0;
        for (let i = 0; i < first.length - 1; i++) {
            if (first.charCodeAt(i) !== 37)
                continue;
            const spec = first[i + 1];
            let rep;
            if (spec === "%") {
                rep = "%";
            } else if (next >= args.length || "sdifjoOc".indexOf(spec) < 0) {
                continue;
            } else {
                const a = args[next++];
                switch (spec) {
                case "s":
                    rep = typeof a === "string" ? a : typeof a === "bigint" ? `${a}n` : typeof a === "symbol" ? a.toString() :
                        isObject(a) ? formatValue(newInspectContext(0), a, 0) : formatPrimitive(a);
                    break;
                case "d":
                    rep = typeof a === "bigint" ? `${a}n` : typeof a === "symbol" || isObject(a) ? "NaN" : formatNumber(Number(a));
                    break;
                case "i":
                    rep = typeof a === "bigint" ? `${a}n` : typeof a === "symbol" ? "NaN" : formatNumber(parseInt(a));
                    break;
                case "f":
                    rep = typeof a === "symbol" ? "NaN" : formatNumber(parseFloat(a));
                    break;
                case "j":
                    try {
                        rep = `${JSON.stringify(a)}`;
                    } catch {
                        rep = "[Circular]";
                    }
                    break;
                case "o":
                    rep = inspect(a, { depth: 4 });
                    break;
                case "O":
                    rep = inspect(a);
                    break;
                case "c":
                    rep = "";
                    break;
                }
            }
            out += first.slice(last, i) + rep;
            last = i + 2;
            i++;
        }
        out += first.slice(last);
    }
    for (let i = next; i < args.length; i++)
        out += " " + (typeof args[i] === "string" ? args[i] : inspect(args[i]));
    return out;
}

const LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3;
let consoleGroupIndent = "";
const consoleCounts = new Map();
const consoleTimers = new Map();

function emit(level, msg) {
    if (consoleGroupIndent !== "")
        msg = consoleGroupIndent + msg.replace(/\n/g, "\n" + consoleGroupIndent);
    native.log(level, msg);
}

// An exception nobody caught (a queueMicrotask callback, say), to the error log.
function reportException(e) {
    try {
        emit(LOG_ERROR, "Uncaught " + inspect(e));
    } catch {
        native.log(LOG_ERROR, "Uncaught exception (it could not be formatted)");
    }
}

const console = {
    log(...args) {
        emit(LOG_INFO, formatLogArgs(args));
    },
    info(...args) {
        emit(LOG_INFO, formatLogArgs(args));
    },
    debug(...args) {
        emit(LOG_DEBUG, formatLogArgs(args));
    },
    warn(...args) {
        emit(LOG_WARN, formatLogArgs(args));
    },
    error(...args) {
        emit(LOG_ERROR, formatLogArgs(args));
    },
    trace(...args) {
        const frames = (new Error().stack ?? "").replace(/\n+$/, "").split("\n").slice(1).join("\n");
        const msg = formatLogArgs(args);
        emit(LOG_INFO, `Trace${msg !== "" ? ": " + msg : ""}${frames !== "" ? "\n" + frames : ""}`);
    },
    assert(condition = false, ...args) {
        if (condition)
            return;
        if (typeof args[0] === "string")
            args[0] = `Assertion failed: ${args[0]}`;
        else
            args.unshift("Assertion failed");
        emit(LOG_WARN, formatLogArgs(args));
    },
    dir(value, options = undefined) {
        emit(LOG_INFO, inspect(value, isObject(options) ? options : undefined));
    },
    // A table is printed as its data, one line per value (no box drawing).
    table(...args) {
        emit(LOG_INFO, formatLogArgs(args));
    },
    count(label = "default") {
        label = `${label}`;
        const n = (consoleCounts.get(label) ?? 0) + 1;
        consoleCounts.set(label, n);
        emit(LOG_INFO, `${label}: ${n}`);
    },
    countReset(label = "default") {
        consoleCounts.delete(`${label}`);
    },
    time(label = "default") {
        label = `${label}`;
        if (consoleTimers.has(label))
            emit(LOG_WARN, `Warning: Label '${label}' already exists for console.time()`);
        else
            consoleTimers.set(label, native.now());
    },
    timeLog(label = "default", ...args) {
        label = `${label}`;
        const t = consoleTimers.get(label);
        if (t === undefined)
            return emit(LOG_WARN, `Warning: No such label '${label}' for console.timeLog()`);
        const extra = args.length > 0 ? " " + formatLogArgs(args) : "";
        emit(LOG_INFO, `${label}: ${(native.now() - t).toFixed(3)}ms${extra}`);
    },
    timeEnd(label = "default") {
        label = `${label}`;
        const t = consoleTimers.get(label);
        if (t === undefined)
            return emit(LOG_WARN, `Warning: No such label '${label}' for console.timeEnd()`);
        consoleTimers.delete(label);
        emit(LOG_INFO, `${label}: ${(native.now() - t).toFixed(3)}ms`);
    },
    group(...label) {
        if (label.length > 0)
            emit(LOG_INFO, formatLogArgs(label));
        consoleGroupIndent += "  ";
    },
    groupCollapsed(...label) {
        console.group(...label);
    },
    groupEnd() {
        consoleGroupIndent = consoleGroupIndent.slice(0, -2);
    },
};
