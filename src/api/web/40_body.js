// Bodies of Request and Response: extracting one from what a user passes, reading it exactly once,
// cloning (a tee for streams), and handing it to the runtime.

// The state of a non-null body. A body starts either as bytes (data: a string, kept as given until
// someone needs bytes, or a Uint8Array that owns its whole ArrayBuffer) or as a ReadableStream.
// Bytes get a stream only when someone asks for .body; until that stream is read, the bytes can
// still be moved elsewhere without copying. Read bytes are dropped, so a used body holds no memory.
class BodyState {
    constructor(data, stream = null) {
        this.data = data;
        this.stream = stream;
        this.used = false; // read without a stream
    }
}

function bodyStream(st) {
    if (st.stream === null) {
        st.stream = bodyBytesStream(st);
        if (st.used)
            streamDetachBytes(st.stream);
    }
    return st.stream;
}

function bodyUnusable(st) {
    return st.stream !== null ? streamIsDisturbed(st.stream) || streamIsLocked(st.stream) : st.used;
}

function bodyIsUsed(st) {
    return st.stream !== null ? streamIsDisturbed(st.stream) : st.used;
}

function bodyCheckUsable(st) {
    if (st.stream !== null ? streamIsDisturbed(st.stream) : st.used)
        throw new TypeError("Body has already been used. It can only be read once; use clone() to read it twice.");
    if (st.stream !== null && streamIsLocked(st.stream))
        throw new TypeError("Body is locked to a reader of .body; release the reader first.");
}

// Takes the bytes of a body that has them at hand (marking it used); undefined when the body is a
// stream that must be read.
function bodyTakeSync(st) {
    if (st.stream === null) {
        st.used = true;
        const d = st.data;
        st.data = null;
        return d ?? new Uint8Array(0);
    }
    if (streamBytesBody(st.stream) === st) {
        const d = st.data;
        st.data = null;
        streamDetachBytes(st.stream);
        return d ?? new Uint8Array(0);
    }
    return undefined;
}

function bytesOwningBuffer(u8) {
    return u8.byteOffset === 0 && u8.byteLength === u8.buffer.byteLength ? u8 : u8.slice();
}

function dataBytes(d) {
    return typeof d === "string" ? native.encode(d) : bytesOwningBuffer(d);
}

async function bodyTakeBytes(st) {
    bodyCheckUsable(st);
    const d = bodyTakeSync(st);
    if (d !== undefined)
        return dataBytes(d);
    return streamReadAll(st.stream);
}

async function bodyTakeText(st) {
    bodyCheckUsable(st);
    const d = bodyTakeSync(st);
    if (typeof d === "string")
        return d;
    return utf8DecodeBody(d !== undefined ? d : await streamReadAll(st.stream));
}

// A copy of a body for clone(): strings are shared, bytes are copied, streams are teed.
function bodyClone(st) {
    if (bodyUnusable(st))
        throw new TypeError("Body has already been used or is locked, so it cannot be cloned.");
    if (st.stream === null || streamBytesBody(st.stream) === st)
        return new BodyState(typeof st.data === "string" || st.data === null ? st.data : st.data.slice());
    const [a, b] = st.stream.tee();
    st.stream = a;
    return new BodyState(null, b);
}

// Moves a body to a new owner (new Request(request)): the old one reads as used afterwards.
function bodyMove(st) {
    bodyCheckUsable(st);
    const d = bodyTakeSync(st);
    if (d !== undefined)
        return new BodyState(d);
    const s = st.stream;
    const used = new BodyState(null);
    used.used = true;
    st.stream = bodyStream(used);
    return new BodyState(null, s);
}

// Extract a body (Fetch): returns [BodyState, contentType or null].
function extractBody(v) {
    if (typeof v === "string")
        return [new BodyState(toUSVString(v)), "text/plain;charset=UTF-8"];
    if (isObject(v)) {
        const view = bufferSourceView(v);
        if (view !== undefined)
            return [new BodyState(copyBytes(view)), null];
        if (isSearchParams(v))
            return [new BodyState(searchParamsSerialize(v)), "application/x-www-form-urlencoded;charset=UTF-8"];
        if (isBlob(v))
            return [new BodyState(blobBytes(v).slice()), v.type === "" ? null : v.type];
        if (isFormData(v)) {
            const [bytes, type] = formDataSerialize(v);
            return [new BodyState(bytes), type];
        }
        if (rsRecord(v) !== null) {
            if (streamIsDisturbed(v) || streamIsLocked(v))
                throw new TypeError("The body stream has already been read or is locked, so it cannot be used as a body.");
            const src = streamBytesBody(v);
            if (src !== undefined) {
                // The bytes move to the new body; the old stream reads as used.
                const d = src.data;
                src.data = null;
                streamDetachBytes(v);
                return [new BodyState(d ?? new Uint8Array(0)), null];
            }
            return [new BodyState(null, v), null];
        }
    }
    return [new BodyState(toUSVString(v)), "text/plain;charset=UTF-8"];
}

// The read methods Request and Response share, given the body (or null) and the headers.
function bodyReadText(st) {
    return st === null ? Promise.resolve("") : bodyTakeText(st);
}

async function bodyReadJSON(st) {
    return JSON.parse(await bodyReadText(st));
}

function bodyReadBytes(st) {
    return st === null ? Promise.resolve(new Uint8Array(0)) : bodyTakeBytes(st);
}

async function bodyReadFormData(st, headers) {
    const bytes = await bodyReadBytes(st);
    return formDataParse(bytes, headers.get("content-type"));
}

async function bodyReadBlob(st, headers) {
    const bytes = await bodyReadBytes(st);
    const t = headers.get("content-type");
    return newBlobFrom(bytes, t === null ? "" : blobNormalizeType(t));
}

// What the runtime sends: the bytes when they are at hand, else a pump over the stream.
function bodyForWire(st) {
    const d = bodyTakeSync(st);
    if (d !== undefined)
        return d;
    return streamPump(st.stream);
}

// The body of an outgoing fetch(): its bytes when they are at hand (null for none), else a pump
// over the stream, which fetch() sends as it is produced.
function bodyForFetch(st) {
    if (st === null)
        return null;
    bodyCheckUsable(st);
    const d = bodyTakeSync(st);
    if (d !== undefined)
        return dataBytes(d);
    return streamPump(st.stream, "fetch");
}
