// Streams, part 3: TransformStream, Workers' IdentityTransformStream and FixedLengthStream, and
// the queuing strategies.

// =============================================================================== TransformStream

class TSRecord {
    constructor() {
        this.readable = undefined; // RSRecord
        this.writable = undefined; // WSRecord
        this.backpressure = undefined;
        this.backpressureChange = undefined;
        this.controller = undefined;
    }
}

class TSControllerRecord {
    constructor(ts) {
        this.stream = ts;
        this.transformAlgorithm = undefined;
        this.flushAlgorithm = undefined;
        this.cancelAlgorithm = undefined;
        this.finish = undefined;
        this.object = undefined;
    }
}

function tsSetBackpressure(ts, bp) {
    if (ts.backpressureChange !== undefined)
        settleResolve(ts.backpressureChange, undefined);
    ts.backpressureChange = newPromise();
    ts.backpressure = bp;
}

function tsUnblockWrite(ts) {
    if (ts.backpressure)
        tsSetBackpressure(ts, false);
}

function tsErrorWritableAndUnblockWrite(ts, e) {
    tscClearAlgorithms(ts.controller);
    wscErrorIfNeeded(ts.writable.controller, e);
    tsUnblockWrite(ts);
}

function tsError(ts, e) {
    dcError(ts.readable.controller, e);
    tsErrorWritableAndUnblockWrite(ts, e);
}

function tscClearAlgorithms(c) {
    c.transformAlgorithm = undefined;
    c.flushAlgorithm = undefined;
    c.cancelAlgorithm = undefined;
}

function tscEnqueue(c, chunk) {
    const ts = c.stream;
    const rc = ts.readable.controller;
    if (!dcCanCloseOrEnqueue(rc))
        throw new TypeError("The readable side is closed or errored, so nothing more can be enqueued.");
    try {
        dcEnqueue(rc, chunk);
    } catch (e) {
        tsErrorWritableAndUnblockWrite(ts, e);
        throw ts.readable.storedError;
    }
    const bp = !dcShouldCallPull(rc);
    if (bp !== ts.backpressure)
        tsSetBackpressure(ts, true);
}

function tscTerminate(c) {
    const ts = c.stream;
    dcClose(ts.readable.controller);
    tsErrorWritableAndUnblockWrite(ts, new TypeError("The TransformStream was terminated."));
}

function tscPerformTransform(c, chunk) {
    return c.transformAlgorithm(chunk).then(undefined, (r) => {
        tsError(c.stream, r);
        throw r;
    });
}

function tsSinkWrite(ts, chunk) {
    const c = ts.controller;
    if (ts.backpressure) {
        return ts.backpressureChange.promise.then(() => {
            const w = ts.writable;
            if (w.state === "erroring")
                throw w.storedError;
            return tscPerformTransform(c, chunk);
        });
    }
    return tscPerformTransform(c, chunk);
}

function tsSinkAbort(ts, reason) {
    const c = ts.controller;
    if (c.finish !== undefined)
        return c.finish.promise;
    const readable = ts.readable;
    c.finish = newPromise();
    const p = c.cancelAlgorithm(reason);
    tscClearAlgorithms(c);
    p.then(() => {
        if (readable.state === "errored") {
            settleReject(c.finish, readable.storedError);
        } else {
            dcError(readable.controller, reason);
            settleResolve(c.finish, undefined);
        }
    }, (r) => {
        dcError(readable.controller, r);
        settleReject(c.finish, r);
    });
    return c.finish.promise;
}

function tsSinkClose(ts) {
    const c = ts.controller;
    if (c.finish !== undefined)
        return c.finish.promise;
    const readable = ts.readable;
    c.finish = newPromise();
    const p = c.flushAlgorithm();
    tscClearAlgorithms(c);
    p.then(() => {
        if (readable.state === "errored") {
            settleReject(c.finish, readable.storedError);
        } else {
            dcClose(readable.controller);
            settleResolve(c.finish, undefined);
        }
    }, (r) => {
        dcError(readable.controller, r);
        settleReject(c.finish, r);
    });
    return c.finish.promise;
}

function tsSourcePull(ts) {
    tsSetBackpressure(ts, false);
    return ts.backpressureChange.promise;
}

function tsSourceCancel(ts, reason) {
    const c = ts.controller;
    if (c.finish !== undefined)
        return c.finish.promise;
    const writable = ts.writable;
    c.finish = newPromise();
    const p = c.cancelAlgorithm(reason);
    tscClearAlgorithms(c);
    p.then(() => {
        if (writable.state === "errored") {
            settleReject(c.finish, writable.storedError);
        } else {
            wscErrorIfNeeded(writable.controller, reason);
            tsUnblockWrite(ts);
            settleResolve(c.finish, undefined);
        }
    }, (r) => {
        wscErrorIfNeeded(writable.controller, r);
        tsUnblockWrite(ts);
        settleReject(c.finish, r);
    });
    return c.finish.promise;
}

class TransformStreamDefaultController {
    #c;
    constructor(key = undefined, rec = undefined) {
        if (key !== INTERNAL)
            throw new TypeError("Illegal constructor: TransformStreamDefaultController is made by TransformStream.");
        this.#c = rec;
    }
    get desiredSize() {
        return dcDesiredSize(this.#c.stream.readable.controller);
    }
    enqueue(chunk = undefined) {
        tscEnqueue(this.#c, chunk);
    }
    error(reason = undefined) {
        tsError(this.#c.stream, reason);
    }
    terminate() {
        tscTerminate(this.#c);
    }
}
setToStringTag(TransformStreamDefaultController, "TransformStreamDefaultController");

function initializeTransformStream(ts, startPromise, writableHWM, writableSize, readableHWM, readableSize) {
    const startAlgorithm = () => startPromise;
    const w = new WSRecord();
    newWSFrom(w);
    const wc = new WSControllerRecord(w);
    wc.object = new WritableStreamDefaultController(INTERNAL, wc);
    setUpWritableController(w, wc, startAlgorithm, (chunk) => tsSinkWrite(ts, chunk), () => tsSinkClose(ts),
        (r) => tsSinkAbort(ts, r), writableHWM, writableSize);
    ts.writable = w;
    const r = new RSRecord();
    newRSFrom(r);
    const rc = new DefaultControllerRecord(r);
    rc.object = new ReadableStreamDefaultController(INTERNAL, rc);
    setUpDefaultController(r, rc, startAlgorithm, () => tsSourcePull(ts), (reason) => tsSourceCancel(ts, reason),
        readableHWM, readableSize);
    ts.readable = r;
    ts.backpressure = undefined;
    ts.backpressureChange = undefined;
    tsSetBackpressure(ts, true);
}

class TransformStream {
    #ts = new TSRecord();
    constructor(transformer = undefined, writableStrategy = undefined, readableStrategy = undefined) {
        if (transformer === null)
            transformer = undefined;
        if (transformer !== undefined && !isObject(transformer))
            throw new TypeError("TransformStream: the transformer must be an object.");
        const t = transformer ?? EMPTY_DICTIONARY;
        const ws = dictionary(writableStrategy, "TransformStream");
        const rs = dictionary(readableStrategy, "TransformStream");
        const start = getMethod(t, "start", "TransformStream");
        const transform = getMethod(t, "transform", "TransformStream");
        const flush = getMethod(t, "flush", "TransformStream");
        const cancel = getMethod(t, "cancel", "TransformStream");
        if (t.readableType !== undefined)
            throw new RangeError("TransformStream: readableType must be left out.");
        if (t.writableType !== undefined)
            throw new RangeError("TransformStream: writableType must be left out.");
        const readableHWM = extractHighWaterMark(rs, 0);
        const readableSize = extractSizeAlgorithm(rs);
        const writableHWM = extractHighWaterMark(ws, 1);
        const writableSize = extractSizeAlgorithm(ws);
        const startPromise = newPromise();
        const ts = this.#ts;
        initializeTransformStream(ts, startPromise.promise, writableHWM, writableSize, readableHWM, readableSize);
        const c = new TSControllerRecord(ts);
        c.object = new TransformStreamDefaultController(INTERNAL, c);
        ts.controller = c;
        c.transformAlgorithm = transform !== undefined ? (chunk) => promiseCall(transform, t, chunk, c.object)
            : (chunk) => {
                try {
                    tscEnqueue(c, chunk);
                    return Promise.resolve();
                } catch (e) {
                    return Promise.reject(e);
                }
            };
        c.flushAlgorithm = () => promiseCall(flush, t, c.object);
        c.cancelAlgorithm = (r) => promiseCall(cancel, t, r);
        if (start !== undefined)
            settleResolve(startPromise, start.call(t, c.object));
        else
            settleResolve(startPromise, undefined);
    }
    get readable() {
        return this.#ts.readable.object;
    }
    get writable() {
        return this.#ts.writable.object;
    }
}
setToStringTag(TransformStream, "TransformStream");

// Workers' byte-only pass-through: what a write gives is what a read returns.
class IdentityTransformStream extends TransformStream {
    constructor(options = undefined) {
        dictionary(options, "IdentityTransformStream");
        super({
            transform(chunk, controller) {
                const v = bufferSourceView(chunk);
                if (v === undefined)
                    throw new TypeError("IdentityTransformStream takes bytes (ArrayBuffer or an ArrayBufferView), not " + typeof chunk + ".");
                if (v.byteLength > 0)
                    controller.enqueue(new Uint8Array(v));
            },
        });
    }
}
setToStringTag(IdentityTransformStream, "IdentityTransformStream");

// Workers' pass-through that must carry exactly `length` bytes.
class FixedLengthStream extends TransformStream {
    constructor(length, options = undefined) {
        requireArgs(arguments.length, 1, "FixedLengthStream");
        const total = Number(length);
        if (!Number.isInteger(total) || total < 0)
            throw new TypeError(`FixedLengthStream: the length must be a non-negative integer, got ${length}.`);
        let seen = 0;
        super({
            transform(chunk, controller) {
                const v = bufferSourceView(chunk);
                if (v === undefined)
                    throw new TypeError("FixedLengthStream takes bytes (ArrayBuffer or an ArrayBufferView).");
                seen += v.byteLength;
                if (seen > total)
                    throw new TypeError(`FixedLengthStream: more than the declared ${total} bytes were written.`);
                if (v.byteLength > 0)
                    controller.enqueue(new Uint8Array(v));
            },
            flush() {
                if (seen !== total)
                    throw new TypeError(`FixedLengthStream: ${seen} bytes were written, ${total} were declared.`);
            },
        });
    }
}
setToStringTag(FixedLengthStream, "FixedLengthStream");

// ===================================================================================== strategies

function byteLengthSize(chunk) {
    return chunk.byteLength;
}
function countSize() {
    return 1;
}
ObjectDefineProperty(byteLengthSize, "name", { value: "size" });
ObjectDefineProperty(countSize, "name", { value: "size" });

class ByteLengthQueuingStrategy {
    #hwm;
    constructor(init) {
        requireArgs(arguments.length, 1, "ByteLengthQueuingStrategy");
        if (!isObject(init) || init.highWaterMark === undefined)
            throw new TypeError("ByteLengthQueuingStrategy needs { highWaterMark }.");
        this.#hwm = Number(init.highWaterMark);
    }
    get highWaterMark() {
        return this.#hwm;
    }
    get size() {
        return byteLengthSize;
    }
}
setToStringTag(ByteLengthQueuingStrategy, "ByteLengthQueuingStrategy");

class CountQueuingStrategy {
    #hwm;
    constructor(init) {
        requireArgs(arguments.length, 1, "CountQueuingStrategy");
        if (!isObject(init) || init.highWaterMark === undefined)
            throw new TypeError("CountQueuingStrategy needs { highWaterMark }.");
        this.#hwm = Number(init.highWaterMark);
    }
    get highWaterMark() {
        return this.#hwm;
    }
    get size() {
        return countSize;
    }
}
setToStringTag(CountQueuingStrategy, "CountQueuingStrategy");

defineGlobal("TransformStream", TransformStream);
defineGlobal("TransformStreamDefaultController", TransformStreamDefaultController);
defineGlobal("IdentityTransformStream", IdentityTransformStream);
defineGlobal("FixedLengthStream", FixedLengthStream);
defineGlobal("ByteLengthQueuingStrategy", ByteLengthQueuingStrategy);
defineGlobal("CountQueuingStrategy", CountQueuingStrategy);
