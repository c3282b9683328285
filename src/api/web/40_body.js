// Bodies of Request and Response: extracting one from what a user passes, and reading it exactly once.

// The state of a non-null body. data is a string (kept as given until someone
// needs bytes) or a Uint8Array that owns its whole ArrayBuffer. It is dropped
// once read, so a used body holds no memory.
class BodyState {
    constructor(data) {
        this.data = data;
        this.used = false;   // disturbed: read, or sent
        this.locked = false; // a reader of .body holds it
        this.stream = null;  // the object .body returns, made on first use
    }
}

let streamState; // (value) => the BodyState behind a body stand-in, or null

// What `body` returns until real streams arrive: a stand-in named
// ReadableStream with `locked`, `getReader()` (one chunk with all the bytes,
// then done), `cancel()` and async iteration. Passing it as the body of a new
// Request or Response moves the bytes without copying them.
class ReadableStream {
    #state;
    constructor(key = undefined, state = undefined) {
        if (key !== INTERNAL)
            throw new TypeError("ReadableStream is not constructible yet: streams are not supported.");
        this.#state = state;
    }
    get locked() {
        return this.#state.locked;
    }
    getReader(options = undefined) {
        const st = this.#state;
        if (st.locked)
            throw new TypeError("This ReadableStream is locked to a reader.");
        if (options !== undefined && options !== null && options.mode !== undefined)
            throw new TypeError("ReadableStream.getReader: only the default reader is supported.");
        st.locked = true;
        return new ReadableStreamDefaultReader(INTERNAL, st);
    }
    async cancel(reason = undefined) {
        const st = this.#state;
        if (st.locked)
            throw new TypeError("This ReadableStream is locked to a reader.");
        st.used = true;
        st.data = null;
    }
    async *[Symbol.asyncIterator]() {
        const reader = this.getReader();
        try {
            for (;;) {
                const { value, done } = await reader.read();
                if (done)
                    return;
                yield value;
            }
        } finally {
            reader.releaseLock();
        }
    }
    [INSPECT]() {
        return { locked: this.#state.locked };
    }
    static {
        streamState = (s) => (isObject(s) && #state in s ? s.#state : null);
    }
}
setToStringTag(ReadableStream, "ReadableStream");

class ReadableStreamDefaultReader {
    #state;
    #released = false;
    constructor(key = undefined, state = undefined) {
        if (key !== INTERNAL)
            throw new TypeError("ReadableStreamDefaultReader is not constructible yet: streams are not supported.");
        this.#state = state;
    }
    async read() {
        if (this.#released)
            throw new TypeError("This reader has been released.");
        const st = this.#state;
        if (st.data === null) {
            st.used = true;
            return { value: undefined, done: true };
        }
        const d = st.data;
        st.data = null;
        st.used = true;
        const bytes = typeof d === "string" ? native.encode(d) : bytesOwningBuffer(d);
        if (bytes.length === 0)
            return { value: undefined, done: true };
        return { value: bytes, done: false };
    }
    releaseLock() {
        if (!this.#released) {
            this.#released = true;
            this.#state.locked = false;
        }
    }
    async cancel(reason = undefined) {
        this.#state.used = true;
        this.#state.data = null;
    }
    get closed() {
        return Promise.resolve(undefined);
    }
}
setToStringTag(ReadableStreamDefaultReader, "ReadableStreamDefaultReader");

function bodyStream(st) {
    return st.stream ?? (st.stream = new ReadableStream(INTERNAL, st));
}

function bodyUnusable(st) {
    return st.used || st.locked;
}

// Takes the data out of a body (marking it used); throws when it cannot be read.
function bodyTake(st) {
    if (st.used)
        throw new TypeError("Body has already been used. It can only be read once; use clone() to read it twice.");
    if (st.locked)
        throw new TypeError("Body is locked to a reader of .body; release the reader first.");
    st.used = true;
    const d = st.data;
    st.data = null;
    return d;
}

function bytesOwningBuffer(u8) {
    return u8.byteOffset === 0 && u8.byteLength === u8.buffer.byteLength ? u8 : u8.slice();
}

function bodyTakeBytes(st) {
    const d = bodyTake(st);
    return typeof d === "string" ? native.encode(d) : bytesOwningBuffer(d);
}

function bodyTakeText(st) {
    const d = bodyTake(st);
    return typeof d === "string" ? d : utf8DecodeBody(d);
}

// A copy of a body for clone(): strings are shared, bytes are copied.
function bodyClone(st) {
    if (bodyUnusable(st))
        throw new TypeError("Body has already been used or is locked, so it cannot be cloned.");
    return new BodyState(typeof st.data === "string" ? st.data : st.data.slice());
}

// Extract a body (Fetch): returns [data, contentType or null].
function extractBody(v) {
    if (typeof v === "string")
        return [toUSVString(v), "text/plain;charset=UTF-8"];
    if (isObject(v)) {
        const view = bufferSourceView(v);
        if (view !== undefined)
            return [copyBytes(view), null];
        if (isSearchParams(v))
            return [searchParamsSerialize(v), "application/x-www-form-urlencoded;charset=UTF-8"];
        const st = streamState(v);
        if (st !== null) {
            if (bodyUnusable(st))
                throw new TypeError("The body stream has already been read or is locked, so it cannot be used as a body.");
            st.used = true;
            const d = st.data;
            st.data = null;
            return [d, null];
        }
    }
    return [toUSVString(v), "text/plain;charset=UTF-8"];
}

// The read methods Request and Response share, given the body (or null).
function bodyReadText(st) {
    return st === null ? "" : bodyTakeText(st);
}

function bodyReadJSON(st) {
    return JSON.parse(bodyReadText(st));
}

function bodyReadBytes(st) {
    return st === null ? new Uint8Array(0) : bodyTakeBytes(st);
}

function bodyReadFormData(st) {
    throw new TypeError("formData() is not supported yet; read the body with text() and parse it (for example with URLSearchParams).");
}
