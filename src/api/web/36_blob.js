// Blob and File (File API), FormData (XHR Standard), and the multipart/form-data encoding of
// FormData bodies; parsing multipart bodies is native (src/api/multipart.c).

const BLOB_TYPE_RE = /^[\x20-\x7e]*$/;

function blobNormalizeType(t) {
    const s = toDOMString(t);
    return BLOB_TYPE_RE.test(s) ? s.toLowerCase() : "";
}

let blobBytes;   // (blob) => Uint8Array (shared, do not modify)
let isBlob;
let newBlobFrom; // (bytes, type) => Blob, owning bytes

// Concatenates blob parts (strings, BufferSources, Blobs) into one Uint8Array.
function blobPartsBytes(parts, what) {
    if (parts === undefined)
        return new Uint8Array(0);
    if (!isObject(parts) || typeof parts[Symbol.iterator] !== "function")
        throw new TypeError(`${what}: the parts must be an iterable (for example an array).`);
    const chunks = [];
    let total = 0;
    for (const p of parts) {
        let bytes;
        if (isBlob(p)) {
            bytes = blobBytes(p);
        } else {
            const view = isObject(p) ? bufferSourceView(p) : undefined;
            bytes = view !== undefined ? view : native.encode(toUSVString(p));
        }
        chunks.push(bytes);
        total += bytes.byteLength;
    }
    if (chunks.length === 1)
        return chunks[0].slice();
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
        out.set(c, at);
        at += c.byteLength;
    }
    return out;
}

function relativeIndex(v, size, dflt) {
    if (v === undefined)
        return dflt;
    let n = Math.trunc(Number(v));
    if (Number.isNaN(n))
        n = 0;
    return n < 0 ? Math.max(size + n, 0) : Math.min(n, size);
}

class Blob {
    #bytes;
    #type = "";

    constructor(blobParts = undefined, options = undefined) {
        if (blobParts === INTERNAL) {
            this.#bytes = options.bytes;
            this.#type = options.type;
            return;
        }
        const o = dictionary(options, "Blob");
        if (o.endings !== undefined && o.endings !== "transparent" && o.endings !== "native")
            throw new TypeError(`Blob: endings must be "transparent" or "native", got ${JSON.stringify(o.endings)}.`);
        this.#bytes = blobPartsBytes(blobParts, "Blob");
        if (o.type !== undefined)
            this.#type = blobNormalizeType(o.type);
    }
    get size() {
        return this.#bytes.byteLength;
    }
    get type() {
        return this.#type;
    }
    slice(start = undefined, end = undefined, contentType = undefined) {
        const size = this.#bytes.byteLength;
        const from = relativeIndex(start, size, 0);
        const to = relativeIndex(end, size, size);
        const bytes = this.#bytes.slice(from, Math.max(from, to));
        return new Blob(INTERNAL, { bytes, type: contentType === undefined ? "" : blobNormalizeType(contentType) });
    }
    async text() {
        return native.decode(this.#bytes, false).replace(/^\ufeff/, "");
    }
    async arrayBuffer() {
        return this.#bytes.slice().buffer;
    }
    async bytes() {
        return this.#bytes.slice();
    }
    stream() {
        const bytes = this.#bytes;
        let sent = false;
        return createByteStream(() => undefined, (c) => {
            if (!sent && bytes.byteLength > 0) {
                sent = true;
                c.enqueue(bytes.slice());
            }
            c.close();
            if (c.byobRequest !== null)
                c.byobRequest.respond(0);
        }, () => Promise.resolve(), 0);
    }
    [INSPECT]() {
        return { size: this.size, type: this.#type };
    }
    static {
        blobBytes = (b) => b.#bytes;
        isBlob = (b) => isObject(b) && #bytes in b;
        newBlobFrom = (bytes, type) => new Blob(INTERNAL, { bytes, type });
    }
}
setToStringTag(Blob, "Blob");

class File extends Blob {
    #name;
    #lastModified;
    constructor(fileBits, fileName, options = undefined) {
        requireArgs(arguments.length, 2, "File");
        const o = dictionary(options, "File");
        super(fileBits, o);
        this.#name = toUSVString(fileName);
        this.#lastModified = o.lastModified === undefined ? Date.now() : Math.trunc(Number(o.lastModified)) || 0;
    }
    get name() {
        return this.#name;
    }
    get lastModified() {
        return this.#lastModified;
    }
    get webkitRelativePath() {
        return "";
    }
    [INSPECT]() {
        return { size: this.size, type: this.type, name: this.#name, lastModified: this.#lastModified };
    }
}
setToStringTag(File, "File");

function isFile(v) {
    return v instanceof File;
}

// "Create an entry" (XHR): a Blob value becomes a File; a string is a USVString.
function formEntry(name, value, filename, argc) {
    name = toUSVString(name);
    if (isBlob(value)) {
        let fname;
        if (argc > 2 && filename !== undefined)
            fname = toUSVString(filename);
        else
            fname = isFile(value) ? value.name : "blob";
        if (!isFile(value) || fname !== value.name)
            value = new File([value], fname, { type: value.type, lastModified: isFile(value) ? value.lastModified : undefined });
        return [name, value];
    }
    if (argc > 2)
        throw new TypeError("FormData: a filename can only be given with a Blob value.");
    return [name, toUSVString(value)];
}

let formDataEntries; // (fd) => [[name, value], ...] (live)
let isFormData;
let newFormDataFrom; // (entries) => FormData

class FormData {
    #entries = [];
    constructor(form = undefined) {
        if (form !== undefined)
            throw new TypeError("FormData: there are no HTML forms here; build it with append().");
    }
    append(name, value, filename = undefined) {
        requireArgs(arguments.length, 2, "FormData.append");
        this.#entries.push(formEntry(name, value, filename, arguments.length));
    }
    delete(name) {
        requireArgs(arguments.length, 1, "FormData.delete");
        name = toUSVString(name);
        this.#entries = this.#entries.filter((e) => e[0] !== name);
    }
    get(name) {
        requireArgs(arguments.length, 1, "FormData.get");
        name = toUSVString(name);
        const e = this.#entries.find((x) => x[0] === name);
        return e === undefined ? null : e[1];
    }
    getAll(name) {
        requireArgs(arguments.length, 1, "FormData.getAll");
        name = toUSVString(name);
        return this.#entries.filter((e) => e[0] === name).map((e) => e[1]);
    }
    has(name) {
        requireArgs(arguments.length, 1, "FormData.has");
        name = toUSVString(name);
        return this.#entries.some((e) => e[0] === name);
    }
    set(name, value, filename = undefined) {
        requireArgs(arguments.length, 2, "FormData.set");
        const entry = formEntry(name, value, filename, arguments.length);
        const i = this.#entries.findIndex((e) => e[0] === entry[0]);
        if (i < 0) {
            this.#entries.push(entry);
            return;
        }
        this.#entries[i] = entry;
        this.#entries = this.#entries.filter((e, j) => j <= i || e[0] !== entry[0]);
    }
    forEach(callback, thisArg = undefined) {
        requireArgs(arguments.length, 1, "FormData.forEach");
        if (typeof callback !== "function")
            throw new TypeError("FormData.forEach: the callback must be a function.");
        for (let i = 0; i < this.#entries.length; i++)
            callback.call(thisArg, this.#entries[i][1], this.#entries[i][0], this);
    }
    *entries() {
        for (let i = 0; i < this.#entries.length; i++)
            yield [this.#entries[i][0], this.#entries[i][1]];
    }
    *keys() {
        for (let i = 0; i < this.#entries.length; i++)
            yield this.#entries[i][0];
    }
    *values() {
        for (let i = 0; i < this.#entries.length; i++)
            yield this.#entries[i][1];
    }
    [INSPECT]() {
        return new InspectEntries(this.#entries.map((e) => [e[0], e[1]]));
    }
    static {
        formDataEntries = (f) => f.#entries;
        isFormData = (f) => isObject(f) && #entries in f;
        newFormDataFrom = (entries) => {
            const f = new FormData();
            f.#entries = entries;
            return f;
        };
    }
}
FormData.prototype[Symbol.iterator] = FormData.prototype.entries;
ObjectDefineProperty(FormData.prototype, Symbol.iterator, { enumerable: false });
setToStringTag(FormData, "FormData");

// Names and filenames in a multipart header escape the three bytes that would end them (HTML).
function multipartEscape(s) {
    return s.replace(/\n/g, "%0A").replace(/\r/g, "%0D").replace(/"/g, "%22");
}

// FormData as a multipart/form-data body: [bytes, the content type with its boundary].
function formDataSerialize(fd) {
    const rnd = new Uint8Array(16);
    native.randomFill(rnd);
    let boundary = "----formdata-dorm-";
    for (const b of rnd)
        boundary += (b < 16 ? "0" : "") + b.toString(16);
    const parts = [];
    let total = 0;
    const push = (u8) => {
        parts.push(u8);
        total += u8.byteLength;
    };
    for (const [name, value] of formDataEntries(fd)) {
        let head = `--${boundary}\r\nContent-Disposition: form-data; name="${multipartEscape(name)}"`;
        if (typeof value === "string") {
            push(native.encode(head + "\r\n\r\n" + value.replace(/\r(?!\n)|(?<!\r)\n/g, "\r\n") + "\r\n"));
        } else {
            head += `; filename="${multipartEscape(value.name)}"\r\nContent-Type: ${value.type || "application/octet-stream"}\r\n\r\n`;
            push(native.encode(head));
            push(blobBytes(value));
            push(native.encode("\r\n"));
        }
    }
    push(native.encode(`--${boundary}--\r\n`));
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
        out.set(p, at);
        at += p.byteLength;
    }
    return [out, `multipart/form-data; boundary=${boundary}`];
}

// A MIME type parameter's value (token or quoted string), or null.
function mimeParameter(contentType, name) {
    const re = new RegExp(`;\\s*${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, "i");
    const m = re.exec(contentType);
    if (m === null)
        return null;
    return m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2];
}

function mimeEssence(contentType) {
    return contentType.split(";")[0].trim().toLowerCase();
}

// The body's bytes as FormData, by its content type (multipart or urlencoded).
function formDataParse(bytes, contentType) {
    const essence = contentType === null ? "" : mimeEssence(contentType);
    if (essence === "multipart/form-data") {
        const boundary = mimeParameter(contentType, "boundary");
        if (boundary === null || boundary === "")
            throw new TypeError("formData(): the multipart/form-data content type has no boundary parameter.");
        const parts = native.parseMultipart(bytes, boundary);
        const entries = [];
        for (const [name, filename, type, data] of parts) {
            const n = native.decode(name, false);
            if (filename === null) {
                entries.push([n, native.decode(data, false)]);
            } else {
                const t = type === null ? "" : blobNormalizeType(native.decode(type, false));
                entries.push([n, new File([data], native.decode(filename, false), { type: t })]);
            }
        }
        return newFormDataFrom(entries);
    }
    if (essence === "application/x-www-form-urlencoded") {
        const entries = parseFormUrlencoded(utf8DecodeBody(bytes));
        return newFormDataFrom(entries.map(([k, v]) => [k, v]));
    }
    throw new TypeError(`formData(): the body's content type is ${contentType === null ? "missing" : JSON.stringify(contentType)}; ` +
        "it must be multipart/form-data or application/x-www-form-urlencoded.");
}

defineGlobal("Blob", Blob);
defineGlobal("File", File);
defineGlobal("FormData", FormData);
