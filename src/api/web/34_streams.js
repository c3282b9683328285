// Streams (WHATWG Streams Standard), part 1: ReadableStream (default and byte sources, default and
// BYOB readers, async iteration, from), and what bodies need of streams. tee, pipeTo and
// WritableStream are in 35_streams_pipes.js, TransformStream and the strategies in
// 35_streams_transform.js. The algorithms follow the standard's abstract operations, on internal
// records the public objects point to.

const AsyncIteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype);

function newPromise() {
    let resolve, reject;
    const promise = new Promise((a, b) => {
        resolve = a;
        reject = b;
    });
    return { promise, resolve, reject, settled: false };
}

function settleResolve(d, v) {
    if (!d.settled) {
        d.settled = true;
        d.resolve(v);
    }
}

function settleReject(d, e) {
    if (!d.settled) {
        d.settled = true;
        d.reject(e);
    }
}

function markHandled(p) {
    p.then(undefined, () => {});
    return p;
}

function rejectedHandled(e) {
    const d = newPromise();
    markHandled(d.promise);
    settleReject(d, e);
    return d;
}

function resolvedDeferred(v = undefined) {
    const d = newPromise();
    settleResolve(d, v);
    return d;
}

// Calls a user's algorithm and gives its outcome as a promise.
function promiseCall(fn, thisArg, ...args) {
    try {
        return Promise.resolve(fn === undefined ? undefined : fn.apply(thisArg, args));
    } catch (e) {
        return Promise.reject(e);
    }
}

function getMethod(obj, name, what) {
    const m = obj[name];
    if (m === undefined || m === null)
        return undefined;
    if (typeof m !== "function")
        throw new TypeError(`${what}: ${name} must be a function.`);
    return m;
}

function extractHighWaterMark(strategy, dflt) {
    if (strategy.highWaterMark === undefined)
        return dflt;
    const hwm = Number(strategy.highWaterMark);
    if (Number.isNaN(hwm) || hwm < 0)
        throw new RangeError(`highWaterMark must be a non-negative number, got ${strategy.highWaterMark}.`);
    return hwm;
}

function extractSizeAlgorithm(strategy) {
    const size = strategy.size;
    if (size === undefined)
        return () => 1;
    if (typeof size !== "function")
        throw new TypeError("The queuing strategy's size must be a function.");
    return (chunk) => size(chunk);
}

// ---- queue-with-sizes ----------------------------------------------------------------------------

function resetQueue(c) {
    c.queue = [];
    c.queueHead = 0;
    c.queueTotalSize = 0;
}

function queueLength(c) {
    return c.queue.length - c.queueHead;
}

function enqueueValueWithSize(c, value, size) {
    size = Number(size);
    if (!Number.isFinite(size) || size < 0)
        throw new RangeError(`The size of a chunk must be a finite, non-negative number, got ${size}.`);
    c.queue.push({ value, size });
    c.queueTotalSize += size;
}

function dequeueValue(c) {
    const pair = c.queue[c.queueHead];
    c.queue[c.queueHead++] = undefined;
    if (c.queueHead > 64 && c.queueHead * 2 > c.queue.length) {
        c.queue = c.queue.slice(c.queueHead);
        c.queueHead = 0;
    }
    c.queueTotalSize -= pair.size;
    if (c.queueTotalSize < 0)
        c.queueTotalSize = 0;
    return pair.value;
}

function peekQueueValue(c) {
    return c.queue[c.queueHead].value;
}

// ---- bytes ---------------------------------------------------------------------------------------

// Moves an ArrayBuffer's contents to a new one and detaches the old (the standard's "transfer").
function transferBuffer(ab) {
    return native.transferBuffer(ab);
}

function isDetached(ab) {
    return native.isDetached(ab);
}

function viewInfo(view) {
    if (!ArrayBuffer.isView(view))
        return null;
    const ctor = view instanceof DataView ? DataView : view.constructor;
    const elementSize = view instanceof DataView ? 1 : view.BYTES_PER_ELEMENT;
    return { buffer: view.buffer, byteOffset: view.byteOffset, byteLength: view.byteLength, ctor, elementSize };
}

function makeView(ctor, buffer, byteOffset, byteLength, elementSize) {
    if (ctor === DataView)
        return new DataView(buffer, byteOffset, byteLength);
    return new ctor(buffer, byteOffset, byteLength / elementSize);
}

// ================================================================================ ReadableStream

class RSRecord {
    constructor() {
        this.state = "readable";
        this.storedError = undefined;
        this.reader = undefined;
        this.disturbed = false;
        this.controller = undefined;
        this.object = undefined;    // the public ReadableStream
        this.bytesBody = undefined; // a BodyState whose bytes this stream serves, while untouched
    }
}

class ReaderRecord {
    constructor(mode) {
        this.mode = mode; // "default" or "byob"
        this.stream = undefined;
        this.closed = newPromise();
        this.requests = [];
        this.requestsHead = 0;
    }
}

function readerRequestCount(r) {
    return r.requests.length - r.requestsHead;
}

function readerShiftRequest(r) {
    const req = r.requests[r.requestsHead];
    r.requests[r.requestsHead++] = undefined;
    if (r.requestsHead === r.requests.length) {
        r.requests = [];
        r.requestsHead = 0;
    }
    return req;
}

function rsLocked(rs) {
    return rs.reader !== undefined;
}

function rsNumReadRequests(rs) {
    return rs.reader === undefined ? 0 : readerRequestCount(rs.reader);
}

function rsHasReader(rs, mode) {
    return rs.reader !== undefined && rs.reader.mode === mode;
}

function rsAddReadRequest(rs, req) {
    rs.reader.requests.push(req);
}

function rsFulfillReadRequest(rs, chunk, done) {
    const req = readerShiftRequest(rs.reader);
    if (done)
        req.close();
    else
        req.chunk(chunk);
}

function rsClose(rs) {
    rs.state = "closed";
    const reader = rs.reader;
    if (reader === undefined)
        return;
    settleResolve(reader.closed, undefined);
    if (reader.mode === "default") {
        while (readerRequestCount(reader) > 0)
            readerShiftRequest(reader).close();
    }
}

function rsError(rs, e) {
    rs.state = "errored";
    rs.storedError = e;
    const reader = rs.reader;
    if (reader === undefined)
        return;
    markHandled(reader.closed.promise);
    settleReject(reader.closed, e);
    while (readerRequestCount(reader) > 0)
        readerShiftRequest(reader).error(e);
}

function rsCancel(rs, reason) {
    rs.disturbed = true;
    if (rs.state === "closed")
        return Promise.resolve(undefined);
    if (rs.state === "errored")
        return Promise.reject(rs.storedError);
    rsClose(rs);
    const reader = rs.reader;
    if (reader !== undefined && reader.mode === "byob") {
        while (readerRequestCount(reader) > 0)
            readerShiftRequest(reader).close(undefined);
    }
    return rs.controller.cancelSteps(reason).then(() => undefined);
}

function readerGenericInitialize(reader, rs) {
    reader.stream = rs;
    rs.reader = reader;
    if (rs.state === "readable") {
        // pending
    } else if (rs.state === "closed") {
        settleResolve(reader.closed, undefined);
    } else {
        markHandled(reader.closed.promise);
        settleReject(reader.closed, rs.storedError);
    }
}

function readerGenericRelease(reader) {
    const rs = reader.stream;
    const err = new TypeError("The reader was released.");
    if (rs.state === "readable") {
        markHandled(reader.closed.promise);
        settleReject(reader.closed, err);
    } else {
        reader.closed = rejectedHandled(err);
    }
    rs.controller.releaseSteps();
    rs.reader = undefined;
    reader.stream = undefined;
    while (readerRequestCount(reader) > 0)
        readerShiftRequest(reader).error(err);
}

function readerGenericCancel(reader, reason) {
    return rsCancel(reader.stream, reason);
}

// A read on a default reader: calls req.chunk(v), req.close() or req.error(e), now or later.
function defaultReaderRead(reader, req) {
    const rs = reader.stream;
    rs.disturbed = true;
    if (rs.state === "closed")
        req.close();
    else if (rs.state === "errored")
        req.error(rs.storedError);
    else
        rs.controller.pullSteps(req);
}

function defaultReaderReadPromise(reader) {
    return new Promise((resolve, reject) => {
        defaultReaderRead(reader, {
            chunk: (value) => resolve({ value, done: false }),
            close: () => resolve({ value: undefined, done: true }),
            error: reject,
        });
    });
}

// ---- the default controller ----------------------------------------------------------------------

class DefaultControllerRecord {
    constructor(rs) {
        this.stream = rs;
        resetQueue(this);
        this.started = false;
        this.closeRequested = false;
        this.pullAgain = false;
        this.pulling = false;
        this.strategyHWM = 1;
        this.strategySize = () => 1;
        this.pullAlgorithm = undefined;
        this.cancelAlgorithm = undefined;
        this.object = undefined;
    }

    cancelSteps(reason) {
        resetQueue(this);
        const r = this.cancelAlgorithm(reason);
        dcClearAlgorithms(this);
        return r;
    }

    pullSteps(req) {
        const rs = this.stream;
        if (queueLength(this) > 0) {
            const chunk = dequeueValue(this);
            if (this.closeRequested && queueLength(this) === 0) {
                dcClearAlgorithms(this);
                rsClose(rs);
            } else {
                dcCallPullIfNeeded(this);
            }
            req.chunk(chunk);
        } else {
            rsAddReadRequest(rs, req);
            dcCallPullIfNeeded(this);
        }
    }

    releaseSteps() {}
}

function dcCanCloseOrEnqueue(c) {
    return !c.closeRequested && c.stream.state === "readable";
}

function dcDesiredSize(c) {
    const s = c.stream.state;
    if (s === "errored")
        return null;
    if (s === "closed")
        return 0;
    return c.strategyHWM - c.queueTotalSize;
}

function dcShouldCallPull(c) {
    if (!dcCanCloseOrEnqueue(c) || !c.started)
        return false;
    if (rsLocked(c.stream) && rsNumReadRequests(c.stream) > 0)
        return true;
    return dcDesiredSize(c) > 0;
}

function dcCallPullIfNeeded(c) {
    if (!dcShouldCallPull(c))
        return;
    if (c.pulling) {
        c.pullAgain = true;
        return;
    }
    c.pulling = true;
    c.pullAlgorithm().then(() => {
        c.pulling = false;
        if (c.pullAgain) {
            c.pullAgain = false;
            dcCallPullIfNeeded(c);
        }
    }, (e) => dcError(c, e));
}

function dcClearAlgorithms(c) {
    c.pullAlgorithm = undefined;
    c.cancelAlgorithm = undefined;
    c.strategySize = undefined;
}

function dcClose(c) {
    if (!dcCanCloseOrEnqueue(c))
        return;
    c.closeRequested = true;
    if (queueLength(c) === 0) {
        dcClearAlgorithms(c);
        rsClose(c.stream);
    }
}

function dcEnqueue(c, chunk) {
    if (!dcCanCloseOrEnqueue(c))
        return;
    const rs = c.stream;
    if (rsLocked(rs) && rsNumReadRequests(rs) > 0) {
        rsFulfillReadRequest(rs, chunk, false);
    } else {
        let size;
        try {
            size = c.strategySize(chunk);
        } catch (e) {
            dcError(c, e);
            throw e;
        }
        try {
            enqueueValueWithSize(c, chunk, size);
        } catch (e) {
            dcError(c, e);
            throw e;
        }
    }
    dcCallPullIfNeeded(c);
}

function dcError(c, e) {
    if (c.stream.state !== "readable")
        return;
    resetQueue(c);
    dcClearAlgorithms(c);
    rsError(c.stream, e);
}

function setUpDefaultController(rs, c, start, pull, cancel, hwm, size) {
    c.strategyHWM = hwm;
    c.strategySize = size;
    c.pullAlgorithm = pull;
    c.cancelAlgorithm = cancel;
    rs.controller = c;
    let startResult;
    startResult = start();
    Promise.resolve(startResult).then(() => {
        c.started = true;
        dcCallPullIfNeeded(c);
    }, (e) => dcError(c, e));
}

class ReadableStreamDefaultController {
    #c;
    constructor(key = undefined, rec = undefined) {
        if (key !== INTERNAL)
            throw new TypeError("Illegal constructor: ReadableStreamDefaultController is made by ReadableStream.");
        this.#c = rec;
    }
    get desiredSize() {
        return dcDesiredSize(this.#c);
    }
    close() {
        if (!dcCanCloseOrEnqueue(this.#c))
            throw new TypeError("The stream is closed or closing, so it cannot be closed again.");
        dcClose(this.#c);
    }
    enqueue(chunk = undefined) {
        if (!dcCanCloseOrEnqueue(this.#c))
            throw new TypeError("The stream is closed or closing, so nothing more can be enqueued.");
        dcEnqueue(this.#c, chunk);
    }
    error(e = undefined) {
        dcError(this.#c, e);
    }
}
setToStringTag(ReadableStreamDefaultController, "ReadableStreamDefaultController");

// ---- the byte controller -------------------------------------------------------------------------

class ByteControllerRecord {
    constructor(rs) {
        this.stream = rs;
        resetQueue(this);
        this.started = false;
        this.closeRequested = false;
        this.pullAgain = false;
        this.pulling = false;
        this.strategyHWM = 0;
        this.pullAlgorithm = undefined;
        this.cancelAlgorithm = undefined;
        this.autoAllocateChunkSize = undefined;
        this.pendingPullIntos = [];
        this.byobRequest = null;
        this.object = undefined;
    }

    cancelSteps(reason) {
        bcClearPendingPullIntos(this);
        resetQueue(this);
        const r = this.cancelAlgorithm(reason);
        bcClearAlgorithms(this);
        return r;
    }

    pullSteps(req) {
        const rs = this.stream;
        if (this.queueTotalSize > 0) {
            bcFillReadRequestFromQueue(this, req);
            return;
        }
        if (this.autoAllocateChunkSize !== undefined) {
            let buffer;
            try {
                buffer = new ArrayBuffer(this.autoAllocateChunkSize);
            } catch (e) {
                req.error(e);
                return;
            }
            this.pendingPullIntos.push({
                buffer, bufferByteLength: buffer.byteLength, byteOffset: 0, byteLength: buffer.byteLength,
                bytesFilled: 0, minimumFill: 1, elementSize: 1, ctor: Uint8Array, readerType: "default",
            });
        }
        rsAddReadRequest(rs, req);
        bcCallPullIfNeeded(this);
    }

    releaseSteps() {
        if (this.pendingPullIntos.length > 0) {
            const first = this.pendingPullIntos[0];
            first.readerType = "none";
            this.pendingPullIntos = [first];
        }
    }
}

function bcDesiredSize(c) {
    const s = c.stream.state;
    if (s === "errored")
        return null;
    if (s === "closed")
        return 0;
    return c.strategyHWM - c.queueTotalSize;
}

function bcShouldCallPull(c) {
    const rs = c.stream;
    if (rs.state !== "readable" || c.closeRequested || !c.started)
        return false;
    if (rsHasReader(rs, "default") && rsNumReadRequests(rs) > 0)
        return true;
    if (rsHasReader(rs, "byob") && rsNumReadRequests(rs) > 0)
        return true;
    return bcDesiredSize(c) > 0;
}

function bcCallPullIfNeeded(c) {
    if (!bcShouldCallPull(c))
        return;
    if (c.pulling) {
        c.pullAgain = true;
        return;
    }
    c.pulling = true;
    c.pullAlgorithm().then(() => {
        c.pulling = false;
        if (c.pullAgain) {
            c.pullAgain = false;
            bcCallPullIfNeeded(c);
        }
    }, (e) => bcError(c, e));
}

function bcClearAlgorithms(c) {
    c.pullAlgorithm = undefined;
    c.cancelAlgorithm = undefined;
}

function bcInvalidateByobRequest(c) {
    if (c.byobRequest === null)
        return;
    byobRequestInvalidate(c.byobRequest);
    c.byobRequest = null;
}

function bcClearPendingPullIntos(c) {
    bcInvalidateByobRequest(c);
    c.pendingPullIntos = [];
}

function bcError(c, e) {
    if (c.stream.state !== "readable")
        return;
    bcClearPendingPullIntos(c);
    resetQueue(c);
    bcClearAlgorithms(c);
    rsError(c.stream, e);
}

function bcEnqueueChunk(c, buffer, byteOffset, byteLength) {
    c.queue.push({ value: { buffer, byteOffset, byteLength }, size: byteLength });
    c.queueTotalSize += byteLength;
}

function bcFillReadRequestFromQueue(c, req) {
    const entry = c.queue[c.queueHead].value;
    dequeueValue(c);
    bcHandleQueueDrain(c);
    req.chunk(new Uint8Array(entry.buffer, entry.byteOffset, entry.byteLength));
}

function bcHandleQueueDrain(c) {
    if (c.queueTotalSize === 0 && c.closeRequested) {
        bcClearAlgorithms(c);
        rsClose(c.stream);
    } else {
        bcCallPullIfNeeded(c);
    }
}

// Copies from the queue into a pull-into descriptor; true when it reached its minimum fill.
function bcFillPullIntoFromQueue(c, desc) {
    const maxBytesToCopy = Math.min(c.queueTotalSize, desc.byteLength - desc.bytesFilled);
    const maxBytesFilled = desc.bytesFilled + maxBytesToCopy;
    let totalBytesToCopyRemaining = maxBytesToCopy;
    let ready = false;
    const remainderBytes = maxBytesFilled % desc.elementSize;
    const maxAlignedBytes = maxBytesFilled - remainderBytes;
    if (maxAlignedBytes >= desc.minimumFill) {
        totalBytesToCopyRemaining = maxAlignedBytes - desc.bytesFilled;
        ready = true;
    }
    const dest = new Uint8Array(desc.buffer, desc.byteOffset, desc.byteLength);
    while (totalBytesToCopyRemaining > 0) {
        const head = c.queue[c.queueHead].value;
        const n = Math.min(totalBytesToCopyRemaining, head.byteLength);
        dest.set(new Uint8Array(head.buffer, head.byteOffset, n), desc.bytesFilled);
        if (head.byteLength === n) {
            dequeueValue(c);
        } else {
            head.byteOffset += n;
            head.byteLength -= n;
            c.queue[c.queueHead].size -= n;
            c.queueTotalSize -= n;
        }
        desc.bytesFilled += n;
        totalBytesToCopyRemaining -= n;
    }
    return ready;
}

function bcConvertPullIntoDescriptor(desc) {
    return makeView(desc.ctor, desc.buffer, desc.byteOffset, desc.bytesFilled - (desc.bytesFilled % desc.elementSize), desc.elementSize);
}

function bcCommitPullIntoDescriptor(rs, desc) {
    let done = false;
    if (rs.state === "closed")
        done = true;
    const view = bcConvertPullIntoDescriptor(desc);
    if (desc.readerType === "default") {
        rsFulfillReadRequest(rs, view, false);
    } else if (desc.readerType === "byob") {
        const req = readerShiftRequest(rs.reader);
        if (done)
            req.close(view);
        else
            req.chunk(view);
    }
}

function bcShiftPendingPullInto(c) {
    return c.pendingPullIntos.shift();
}

function bcProcessPullIntoDescriptorsUsingQueue(c) {
    while (c.pendingPullIntos.length > 0) {
        if (c.queueTotalSize === 0)
            return;
        const desc = c.pendingPullIntos[0];
        if (bcFillPullIntoFromQueue(c, desc)) {
            bcShiftPendingPullInto(c);
            bcCommitPullIntoDescriptor(c.stream, desc);
        }
    }
}

function bcProcessReadRequestsUsingQueue(c) {
    const reader = c.stream.reader;
    while (readerRequestCount(reader) > 0) {
        if (c.queueTotalSize === 0)
            return;
        bcFillReadRequestFromQueue(c, readerShiftRequest(reader));
    }
}

function bcEnqueue(c, chunk) {
    const rs = c.stream;
    if (c.closeRequested || rs.state !== "readable")
        return;
    const info = viewInfo(chunk);
    if (isDetached(info.buffer))
        throw new TypeError("The chunk's buffer is detached.");
    const buffer = transferBuffer(info.buffer);
    if (c.pendingPullIntos.length > 0) {
        const first = c.pendingPullIntos[0];
        if (isDetached(first.buffer))
            throw new TypeError("The BYOB request's buffer is detached.");
        bcInvalidateByobRequest(c);
        first.buffer = transferBuffer(first.buffer);
        if (first.readerType === "none") {
            bcShiftPendingPullInto(c);
            if (first.bytesFilled > 0)
                bcEnqueueChunk(c, first.buffer.slice(first.byteOffset, first.byteOffset + first.bytesFilled), 0, first.bytesFilled);
        }
    }
    if (rsHasReader(rs, "default")) {
        bcProcessReadRequestsUsingQueue(c);
        if (rsNumReadRequests(rs) === 0) {
            bcEnqueueChunk(c, buffer, info.byteOffset, info.byteLength);
        } else {
            if (c.pendingPullIntos.length > 0)
                bcShiftPendingPullInto(c);
            rsFulfillReadRequest(rs, new Uint8Array(buffer, info.byteOffset, info.byteLength), false);
        }
    } else if (rsHasReader(rs, "byob")) {
        bcEnqueueChunk(c, buffer, info.byteOffset, info.byteLength);
        bcProcessPullIntoDescriptorsUsingQueue(c);
    } else {
        bcEnqueueChunk(c, buffer, info.byteOffset, info.byteLength);
    }
    bcCallPullIfNeeded(c);
}

function bcClose(c) {
    const rs = c.stream;
    if (c.closeRequested || rs.state !== "readable")
        return;
    if (c.queueTotalSize > 0) {
        c.closeRequested = true;
        return;
    }
    if (c.pendingPullIntos.length > 0) {
        const first = c.pendingPullIntos[0];
        if (first.bytesFilled % first.elementSize !== 0) {
            const e = new TypeError("The stream closed with a partial element left in a BYOB request.");
            bcError(c, e);
            throw e;
        }
    }
    bcClearAlgorithms(c);
    rsClose(rs);
}

function bcRespondInClosedState(c, first) {
    if (first.readerType === "none")
        bcShiftPendingPullInto(c);
    const rs = c.stream;
    if (rsHasReader(rs, "byob")) {
        while (rsNumReadRequests(rs) > 0)
            bcCommitPullIntoDescriptor(rs, bcShiftPendingPullInto(c));
    }
}

function bcRespondInReadableState(c, bytesWritten, desc) {
    desc.bytesFilled += bytesWritten;
    if (desc.readerType === "none") {
        bcShiftPendingPullInto(c);
        if (desc.bytesFilled > 0)
            bcEnqueueChunk(c, desc.buffer.slice(desc.byteOffset, desc.byteOffset + desc.bytesFilled), 0, desc.bytesFilled);
        bcProcessPullIntoDescriptorsUsingQueue(c);
        return;
    }
    if (desc.bytesFilled < desc.minimumFill)
        return;
    bcShiftPendingPullInto(c);
    const remainder = desc.bytesFilled % desc.elementSize;
    if (remainder > 0) {
        const end = desc.byteOffset + desc.bytesFilled;
        bcEnqueueChunk(c, desc.buffer.slice(end - remainder, end), 0, remainder);
    }
    desc.bytesFilled -= remainder;
    bcCommitPullIntoDescriptor(c.stream, desc);
    bcProcessPullIntoDescriptorsUsingQueue(c);
}

function bcRespondInternal(c, bytesWritten) {
    const first = c.pendingPullIntos[0];
    bcInvalidateByobRequest(c);
    if (c.stream.state === "closed")
        bcRespondInClosedState(c, first);
    else
        bcRespondInReadableState(c, bytesWritten, first);
    bcCallPullIfNeeded(c);
}

function bcRespond(c, bytesWritten) {
    const first = c.pendingPullIntos[0];
    const state = c.stream.state;
    if (state === "closed") {
        if (bytesWritten !== 0)
            throw new TypeError("bytesWritten must be 0 once the stream is closed.");
    } else {
        if (bytesWritten === 0)
            throw new TypeError("bytesWritten must be more than 0 while the stream is readable.");
        if (first.bytesFilled + bytesWritten > first.byteLength)
            throw new RangeError("bytesWritten is larger than the BYOB request's view.");
    }
    first.buffer = transferBuffer(first.buffer);
    bcRespondInternal(c, bytesWritten);
}

function bcRespondWithNewView(c, view) {
    const first = c.pendingPullIntos[0];
    const state = c.stream.state;
    const info = viewInfo(view);
    if (state === "closed") {
        if (info.byteLength !== 0)
            throw new TypeError("The view's length must be 0 once the stream is closed.");
    } else if (info.byteLength === 0) {
        throw new TypeError("The view's length must be more than 0 while the stream is readable.");
    }
    if (first.byteOffset + first.bytesFilled !== info.byteOffset)
        throw new RangeError("The view does not start where the BYOB request's view did.");
    if (first.bufferByteLength !== info.buffer.byteLength)
        throw new RangeError("The view's buffer does not have the BYOB request's buffer length.");
    if (first.bytesFilled + info.byteLength > first.byteLength)
        throw new RangeError("The view is larger than the BYOB request's view.");
    first.buffer = transferBuffer(info.buffer);
    bcRespondInternal(c, info.byteLength);
}

function bcGetByobRequest(c) {
    if (c.byobRequest === null && c.pendingPullIntos.length > 0) {
        const first = c.pendingPullIntos[0];
        const view = new Uint8Array(first.buffer, first.byteOffset + first.bytesFilled, first.byteLength - first.bytesFilled);
        c.byobRequest = new ReadableStreamBYOBRequest(INTERNAL, c, view);
    }
    return c.byobRequest;
}

// A read on a BYOB reader into view.
function bcPullInto(c, view, min, req) {
    const rs = c.stream;
    const info = viewInfo(view);
    const minimumFill = min * info.elementSize;
    let buffer;
    try {
        buffer = transferBuffer(info.buffer);
    } catch (e) {
        req.error(e);
        return;
    }
    const desc = {
        buffer, bufferByteLength: buffer.byteLength, byteOffset: info.byteOffset, byteLength: info.byteLength,
        bytesFilled: 0, minimumFill, elementSize: info.elementSize, ctor: info.ctor, readerType: "byob",
    };
    if (c.pendingPullIntos.length > 0) {
        c.pendingPullIntos.push(desc);
        rsAddReadRequest(rs, req);
        return;
    }
    if (rs.state === "closed") {
        req.close(makeView(desc.ctor, desc.buffer, desc.byteOffset, 0, desc.elementSize));
        return;
    }
    if (c.queueTotalSize > 0) {
        if (bcFillPullIntoFromQueue(c, desc)) {
            const filled = bcConvertPullIntoDescriptor(desc);
            bcHandleQueueDrain(c);
            req.chunk(filled);
            return;
        }
        if (c.closeRequested) {
            const e = new TypeError("The stream closed before the BYOB request could be filled.");
            bcError(c, e);
            req.error(e);
            return;
        }
    }
    c.pendingPullIntos.push(desc);
    rsAddReadRequest(rs, req);
    bcCallPullIfNeeded(c);
}

function setUpByteController(rs, c, start, pull, cancel, hwm, autoAllocateChunkSize) {
    c.strategyHWM = hwm;
    c.pullAlgorithm = pull;
    c.cancelAlgorithm = cancel;
    c.autoAllocateChunkSize = autoAllocateChunkSize;
    rs.controller = c;
    const startResult = start();
    Promise.resolve(startResult).then(() => {
        c.started = true;
        bcCallPullIfNeeded(c);
    }, (e) => bcError(c, e));
}

let byobRequestInvalidate;

class ReadableStreamBYOBRequest {
    #c;
    #view;
    constructor(key = undefined, c = undefined, view = undefined) {
        if (key !== INTERNAL)
            throw new TypeError("Illegal constructor: ReadableStreamBYOBRequest is made by the stream.");
        this.#c = c;
        this.#view = view;
    }
    get view() {
        return this.#view;
    }
    respond(bytesWritten) {
        requireArgs(arguments.length, 1, "ReadableStreamBYOBRequest.respond");
        if (this.#c === null)
            throw new TypeError("This BYOB request has already been responded to.");
        const n = Number(bytesWritten);
        if (!Number.isInteger(n) || n < 0)
            throw new TypeError(`bytesWritten must be a non-negative integer, got ${bytesWritten}.`);
        if (isDetached(this.#view.buffer))
            throw new TypeError("The BYOB request's buffer is detached.");
        bcRespond(this.#c, n);
    }
    respondWithNewView(view) {
        requireArgs(arguments.length, 1, "ReadableStreamBYOBRequest.respondWithNewView");
        if (this.#c === null)
            throw new TypeError("This BYOB request has already been responded to.");
        if (!ArrayBuffer.isView(view))
            throw new TypeError("respondWithNewView needs an ArrayBufferView.");
        if (isDetached(view.buffer))
            throw new TypeError("The view's buffer is detached.");
        bcRespondWithNewView(this.#c, view);
    }
    static {
        byobRequestInvalidate = (r) => {
            r.#c = null;
            r.#view = null;
        };
    }
}
setToStringTag(ReadableStreamBYOBRequest, "ReadableStreamBYOBRequest");

class ReadableByteStreamController {
    #c;
    constructor(key = undefined, rec = undefined) {
        if (key !== INTERNAL)
            throw new TypeError("Illegal constructor: ReadableByteStreamController is made by ReadableStream.");
        this.#c = rec;
    }
    get byobRequest() {
        return bcGetByobRequest(this.#c);
    }
    get desiredSize() {
        return bcDesiredSize(this.#c);
    }
    close() {
        const c = this.#c;
        if (c.closeRequested)
            throw new TypeError("The stream is already closing.");
        if (c.stream.state !== "readable")
            throw new TypeError("The stream is not readable, so it cannot be closed.");
        bcClose(c);
    }
    enqueue(chunk) {
        requireArgs(arguments.length, 1, "ReadableByteStreamController.enqueue");
        const c = this.#c;
        if (!ArrayBuffer.isView(chunk))
            throw new TypeError("A byte stream's chunks must be ArrayBufferViews (for example Uint8Array).");
        if (chunk.byteLength === 0)
            throw new TypeError("A chunk must not be empty.");
        if (chunk.buffer.byteLength === 0)
            throw new TypeError("The chunk's buffer is empty or detached.");
        if (c.closeRequested)
            throw new TypeError("The stream is closing, so nothing more can be enqueued.");
        if (c.stream.state !== "readable")
            throw new TypeError("The stream is not readable, so nothing can be enqueued.");
        bcEnqueue(c, chunk);
    }
    error(e = undefined) {
        bcError(this.#c, e);
    }
}
setToStringTag(ReadableByteStreamController, "ReadableByteStreamController");

// ---- readers -------------------------------------------------------------------------------------

let defaultReaderRecord; // (reader) => ReaderRecord

class ReadableStreamDefaultReader {
    #r = new ReaderRecord("default");
    constructor(stream) {
        requireArgs(arguments.length, 1, "ReadableStreamDefaultReader");
        const rs = rsRecord(stream);
        if (rs === null)
            throw new TypeError("ReadableStreamDefaultReader needs a ReadableStream.");
        if (rsLocked(rs))
            throw new TypeError("This ReadableStream is locked to a reader.");
        readerGenericInitialize(this.#r, rs);
    }
    get closed() {
        return this.#r.closed.promise;
    }
    read() {
        const r = this.#r;
        if (r.stream === undefined)
            return Promise.reject(new TypeError("This reader has been released."));
        return defaultReaderReadPromise(r);
    }
    releaseLock() {
        if (this.#r.stream !== undefined)
            readerGenericRelease(this.#r);
    }
    cancel(reason = undefined) {
        if (this.#r.stream === undefined)
            return Promise.reject(new TypeError("This reader has been released."));
        return readerGenericCancel(this.#r, reason);
    }
    static {
        defaultReaderRecord = (x) => x.#r;
    }
}
setToStringTag(ReadableStreamDefaultReader, "ReadableStreamDefaultReader");

class ReadableStreamBYOBReader {
    #r = new ReaderRecord("byob");
    constructor(stream) {
        requireArgs(arguments.length, 1, "ReadableStreamBYOBReader");
        const rs = rsRecord(stream);
        if (rs === null)
            throw new TypeError("ReadableStreamBYOBReader needs a ReadableStream.");
        if (rsLocked(rs))
            throw new TypeError("This ReadableStream is locked to a reader.");
        if (!(rs.controller instanceof ByteControllerRecord))
            throw new TypeError("A BYOB reader needs a byte stream (a ReadableStream made with type: \"bytes\").");
        readerGenericInitialize(this.#r, rs);
    }
    get closed() {
        return this.#r.closed.promise;
    }
    read(view, options = undefined) {
        const r = this.#r;
        if (!ArrayBuffer.isView(view))
            return Promise.reject(new TypeError("ReadableStreamBYOBReader.read needs an ArrayBufferView."));
        if (view.byteLength === 0)
            return Promise.reject(new TypeError("The view must not be empty."));
        if (view.buffer.byteLength === 0 || isDetached(view.buffer))
            return Promise.reject(new TypeError("The view's buffer is empty or detached."));
        const opts = dictionary(options, "ReadableStreamBYOBReader.read");
        let min = 1;
        if (opts.min !== undefined) {
            min = Number(opts.min);
            if (!Number.isInteger(min) || min <= 0)
                return Promise.reject(new TypeError("options.min must be a positive integer."));
            const len = view instanceof DataView ? view.byteLength : view.length;
            if (min > len)
                return Promise.reject(new RangeError("options.min is larger than the view."));
        }
        if (r.stream === undefined)
            return Promise.reject(new TypeError("This reader has been released."));
        return new Promise((resolve, reject) => {
            const rs = r.stream;
            rs.disturbed = true;
            const req = {
                chunk: (v) => resolve({ value: v, done: false }),
                close: (v) => resolve({ value: v, done: true }),
                error: reject,
            };
            if (rs.state === "errored")
                req.error(rs.storedError);
            else
                bcPullInto(rs.controller, view, min, req);
        });
    }
    releaseLock() {
        if (this.#r.stream !== undefined)
            readerGenericRelease(this.#r);
    }
    cancel(reason = undefined) {
        if (this.#r.stream === undefined)
            return Promise.reject(new TypeError("This reader has been released."));
        return readerGenericCancel(this.#r, reason);
    }
}
setToStringTag(ReadableStreamBYOBReader, "ReadableStreamBYOBReader");

// ---- async iteration -----------------------------------------------------------------------------

const ReadableStreamAsyncIteratorPrototype = Object.create(AsyncIteratorPrototype);
const asyncIteratorState = new WeakMap();

function makeAsyncIterator(rs, preventCancel) {
    const reader = new ReadableStreamDefaultReader(rs.object);
    const it = Object.create(ReadableStreamAsyncIteratorPrototype);
    asyncIteratorState.set(it, { reader: defaultReaderRecord(reader), preventCancel, ongoing: null, finished: false });
    return it;
}

function iteratorState(it) {
    const s = asyncIteratorState.get(it);
    if (s === undefined)
        throw new TypeError("Not a ReadableStream async iterator.");
    return s;
}

function iterNextSteps(s) {
    if (s.finished)
        return Promise.resolve({ value: undefined, done: true });
    const r = s.reader;
    if (r.stream === undefined)
        return Promise.reject(new TypeError("The iterator's reader was released."));
    return new Promise((resolve, reject) => {
        defaultReaderRead(r, {
            chunk: (value) => resolve({ value, done: false }),
            close: () => {
                s.finished = true;
                readerGenericRelease(r);
                resolve({ value: undefined, done: true });
            },
            error: (e) => {
                s.finished = true;
                readerGenericRelease(r);
                reject(e);
            },
        });
    });
}

function iterReturnSteps(s, value) {
    if (s.finished)
        return Promise.resolve({ value, done: true });
    s.finished = true;
    const r = s.reader;
    if (r.stream === undefined)
        return Promise.resolve({ value, done: true });
    if (!s.preventCancel) {
        const p = readerGenericCancel(r, value);
        readerGenericRelease(r);
        return p.then(() => ({ value, done: true }));
    }
    readerGenericRelease(r);
    return Promise.resolve({ value, done: true });
}

ObjectDefineProperty(ReadableStreamAsyncIteratorPrototype, "next", {
    writable: true, configurable: true, enumerable: false,
    value: function next() {
        let s;
        try {
            s = iteratorState(this);
        } catch (e) {
            return Promise.reject(e);
        }
        const step = () => iterNextSteps(s);
        const p = s.ongoing !== null ? s.ongoing.then(step, step) : step();
        s.ongoing = p;
        // Once it settles nothing is ongoing, so a return() after it runs at once (WebIDL).
        const clear = () => {
            if (s.ongoing === p)
                s.ongoing = null;
        };
        p.then(clear, clear);
        return p;
    },
});
ObjectDefineProperty(ReadableStreamAsyncIteratorPrototype, "return", {
    writable: true, configurable: true, enumerable: false,
    value: function (value = undefined) {
        let s;
        try {
            s = iteratorState(this);
        } catch (e) {
            return Promise.reject(e);
        }
        const step = () => iterReturnSteps(s, value);
        s.ongoing = s.ongoing !== null ? s.ongoing.then(step, step) : step();
        return s.ongoing;
    },
});

// ---- ReadableStream ------------------------------------------------------------------------------

let rsRecord;   // (value) => RSRecord or null
let newRSFrom;  // (record) => ReadableStream

function createReadableStream(start, pull, cancel, hwm = 1, size = () => 1) {
    const rs = new RSRecord();
    const obj = newRSFrom(rs);
    const c = new DefaultControllerRecord(rs);
    c.object = new ReadableStreamDefaultController(INTERNAL, c);
    setUpDefaultController(rs, c, () => start(c.object), () => promiseCall(pull, undefined, c.object),
        (r) => promiseCall(cancel, undefined, r), hwm, size);
    return obj;
}

function createByteStream(start, pull, cancel, hwm = 0, autoAllocate = undefined) {
    const rs = new RSRecord();
    const obj = newRSFrom(rs);
    const c = new ByteControllerRecord(rs);
    c.object = new ReadableByteStreamController(INTERNAL, c);
    setUpByteController(rs, c, () => start(c.object), () => promiseCall(pull, undefined, c.object),
        (r) => promiseCall(cancel, undefined, r), hwm, autoAllocate);
    return obj;
}

class ReadableStream {
    #rs;

    constructor(underlyingSource = undefined, strategy = undefined) {
        if (underlyingSource === INTERNAL) {
            this.#rs = strategy;
            strategy.object = this;
            return;
        }
        const rs = (this.#rs = new RSRecord());
        rs.object = this;
        if (underlyingSource === null)
            underlyingSource = undefined;
        if (underlyingSource !== undefined && !isObject(underlyingSource))
            throw new TypeError("ReadableStream: the underlying source must be an object.");
        const src = underlyingSource ?? EMPTY_DICTIONARY;
        const st = dictionary(strategy, "ReadableStream");
        const start = getMethod(src, "start", "ReadableStream");
        const pull = getMethod(src, "pull", "ReadableStream");
        const cancel = getMethod(src, "cancel", "ReadableStream");
        const type = src.type === undefined ? undefined : toDOMString(src.type);
        if (type === "bytes") {
            if (st.size !== undefined)
                throw new RangeError("ReadableStream: a byte stream's strategy cannot have a size function.");
            const hwm = extractHighWaterMark(st, 0);
            let autoAllocate = src.autoAllocateChunkSize;
            if (autoAllocate !== undefined) {
                autoAllocate = Number(autoAllocate);
                if (!Number.isInteger(autoAllocate) || autoAllocate <= 0)
                    throw new TypeError("ReadableStream: autoAllocateChunkSize must be a positive integer.");
            }
            const c = new ByteControllerRecord(rs);
            c.object = new ReadableByteStreamController(INTERNAL, c);
            setUpByteController(rs, c, () => (start === undefined ? undefined : start.call(src, c.object)),
                () => promiseCall(pull, src, c.object), (r) => promiseCall(cancel, src, r), hwm, autoAllocate);
        } else if (type === undefined) {
            const size = extractSizeAlgorithm(st);
            const hwm = extractHighWaterMark(st, 1);
            const c = new DefaultControllerRecord(rs);
            c.object = new ReadableStreamDefaultController(INTERNAL, c);
            setUpDefaultController(rs, c, () => (start === undefined ? undefined : start.call(src, c.object)),
                () => promiseCall(pull, src, c.object), (r) => promiseCall(cancel, src, r), hwm, size);
        } else {
            throw new TypeError(`ReadableStream: type must be undefined or "bytes", got ${JSON.stringify(type)}.`);
        }
    }

    get locked() {
        return rsLocked(this.#rs);
    }

    cancel(reason = undefined) {
        const rs = this.#rs;
        if (rsLocked(rs))
            return Promise.reject(new TypeError("This ReadableStream is locked to a reader; cancel through the reader."));
        return rsCancel(rs, reason);
    }

    getReader(options = undefined) {
        const o = dictionary(options, "ReadableStream.getReader");
        if (o.mode === undefined)
            return new ReadableStreamDefaultReader(this);
        const mode = toDOMString(o.mode);
        if (mode !== "byob")
            throw new TypeError(`ReadableStream.getReader: mode must be "byob" or left out, got ${JSON.stringify(mode)}.`);
        return new ReadableStreamBYOBReader(this);
    }

    pipeThrough(transform, options = undefined) {
        requireArgs(arguments.length, 1, "ReadableStream.pipeThrough");
        if (!isObject(transform))
            throw new TypeError("pipeThrough needs a { writable, readable } pair, such as a TransformStream.");
        const readable = transform.readable, writable = transform.writable;
        if (rsRecord(readable) === null)
            throw new TypeError("pipeThrough: transform.readable must be a ReadableStream.");
        const ws = wsRecord(writable);
        if (ws === null)
            throw new TypeError("pipeThrough: transform.writable must be a WritableStream.");
        const o = pipeOptions(options);
        if (rsLocked(this.#rs))
            throw new TypeError("This ReadableStream is locked to a reader.");
        if (wsLocked(ws))
            throw new TypeError("The transform's WritableStream is locked to a writer.");
        markHandled(rsPipeTo(this.#rs, ws, o.preventClose, o.preventAbort, o.preventCancel, o.signal));
        return readable;
    }

    pipeTo(destination, options = undefined) {
        const ws = wsRecord(destination);
        if (ws === null)
            return Promise.reject(new TypeError("pipeTo needs a WritableStream."));
        let o;
        try {
            o = pipeOptions(options);
        } catch (e) {
            return Promise.reject(e);
        }
        if (rsLocked(this.#rs))
            return Promise.reject(new TypeError("This ReadableStream is locked to a reader."));
        if (wsLocked(ws))
            return Promise.reject(new TypeError("The destination WritableStream is locked to a writer."));
        return rsPipeTo(this.#rs, ws, o.preventClose, o.preventAbort, o.preventCancel, o.signal);
    }

    tee() {
        return rsTee(this.#rs).map((r) => r.object);
    }

    values(options = undefined) {
        const o = dictionary(options, "ReadableStream.values");
        return makeAsyncIterator(this.#rs, !!o.preventCancel);
    }

    static from(asyncIterable) {
        requireArgs(arguments.length, 1, "ReadableStream.from");
        if (rsRecord(asyncIterable) !== null)
            return asyncIterable;
        let method = asyncIterable?.[Symbol.asyncIterator];
        let iterator;
        if (method !== undefined && method !== null) {
            iterator = method.call(asyncIterable);
        } else {
            method = asyncIterable?.[Symbol.iterator];
            if (typeof method !== "function")
                throw new TypeError("ReadableStream.from needs an iterable or an async iterable.");
            const sync = method.call(asyncIterable);
            iterator = {
                next: () => {
                    const r = sync.next();
                    return Promise.resolve(r.value).then((value) => ({ value, done: r.done }));
                },
                return: (v) => Promise.resolve(typeof sync.return === "function" ? sync.return(v) : { value: v, done: true }),
            };
        }
        if (!isObject(iterator))
            throw new TypeError("ReadableStream.from: the iterator is not an object.");
        return createReadableStream(() => undefined, (c) => {
            let r;
            try {
                r = iterator.next();
            } catch (e) {
                return Promise.reject(e);
            }
            return Promise.resolve(r).then((res) => {
                if (!isObject(res))
                    throw new TypeError("ReadableStream.from: the iterator's result is not an object.");
                if (res.done)
                    c.close();
                else
                    c.enqueue(res.value);
            });
        }, (reason) => {
            let ret;
            try {
                ret = iterator.return;
            } catch (e) {
                return Promise.reject(e);
            }
            if (ret === undefined || ret === null)
                return Promise.resolve();
            return promiseCall(ret, iterator, reason).then((res) => {
                if (!isObject(res))
                    throw new TypeError("ReadableStream.from: the iterator's return() result is not an object.");
            });
        }, 0);
    }

    [INSPECT]() {
        const rs = this.#rs;
        return { locked: rsLocked(rs), state: rs.state, supportsBYOB: rs.controller instanceof ByteControllerRecord };
    }

    static {
        rsRecord = (v) => (isObject(v) && #rs in v ? v.#rs : null);
        newRSFrom = (rec) => new ReadableStream(INTERNAL, rec);
    }
}
ReadableStream.prototype[Symbol.asyncIterator] = ReadableStream.prototype.values;
ObjectDefineProperty(ReadableStream.prototype, Symbol.asyncIterator, { enumerable: false });
setToStringTag(ReadableStream, "ReadableStream");

function pipeOptions(options) {
    const o = dictionary(options, "pipeTo");
    const signal = o.signal;
    if (signal !== undefined && !isAbortSignal(signal))
        throw new TypeError("pipeTo: options.signal must be an AbortSignal.");
    return { preventClose: !!o.preventClose, preventAbort: !!o.preventAbort, preventCancel: !!o.preventCancel, signal };
}

// ============================================================================ helpers for bodies

// A byte stream serving the bytes of a body: one chunk, taken when first read. While nobody has
// read it, the body's bytes stay in the BodyState and can be moved elsewhere without copying.
function bodyBytesStream(body) {
    const stream = createByteStream(() => undefined, (c) => {
        const d = body.data;
        body.data = null;
        const rs = rsRecord(stream);
        rs.bytesBody = undefined;
        const bytes = d === null ? null : typeof d === "string" ? native.encode(d) : d;
        const rec = rs.controller;
        if (bytes !== null && bytes.byteLength > 0) {
            const byob = bcGetByobRequest(rec);
            if (byob !== null) {
                const view = byob.view;
                const n = Math.min(view.byteLength, bytes.byteLength);
                view.set(bytes.subarray(0, n));
                bcRespond(rec, n);
                if (n < bytes.byteLength)
                    bcEnqueue(rec, bytes.slice(n));
            } else {
                bcEnqueue(rec, bytes);
            }
        }
        bcClose(rec);
        if (rec.pendingPullIntos.length > 0 && rs.state === "closed")
            bcRespond(rec, 0);
        return Promise.resolve();
    }, () => {
        body.data = null;
        return Promise.resolve();
    }, 0);
    rsRecord(stream).bytesBody = body;
    return stream;
}

function streamIsDisturbed(stream) {
    return rsRecord(stream).disturbed;
}

function streamIsLocked(stream) {
    return rsLocked(rsRecord(stream));
}

// The BodyState whose bytes an untouched body stream still holds, or undefined.
function streamBytesBody(stream) {
    const rs = rsRecord(stream);
    return rs.disturbed || rsLocked(rs) ? undefined : rs.bytesBody;
}

// Marks a body stream as used up without reading it (its bytes went elsewhere).
function streamDetachBytes(stream) {
    const rs = rsRecord(stream);
    rs.bytesBody = undefined;
    rs.disturbed = true;
    if (rs.state === "readable") {
        bcClearAlgorithms(rs.controller);
        resetQueue(rs.controller);
        rsClose(rs);
    }
}

function chunkBytes(chunk, what) {
    const v = bufferSourceView(chunk);
    if (v === undefined)
        throw new TypeError(`${what}: the stream gave a ${chunk === null ? "null" : typeof chunk} chunk; a body stream must give bytes (Uint8Array or ArrayBuffer); encode text with TextEncoder.`);
    return v;
}

// Reads a whole stream into one Uint8Array.
async function streamReadAll(stream, what = "Body") {
    const reader = new ReaderRecord("default");
    const rs = rsRecord(stream);
    if (rsLocked(rs))
        throw new TypeError(`${what}: the body stream is locked to a reader.`);
    readerGenericInitialize(reader, rs);
    const parts = [];
    let total = 0;
    try {
        for (;;) {
            const { value, done } = await defaultReaderReadPromise(reader);
            if (done)
                break;
            const v = chunkBytes(value, what);
            parts.push(v);
            total += v.byteLength;
        }
    } finally {
        if (reader.stream !== undefined)
            readerGenericRelease(reader);
    }
    if (parts.length === 1)
        return bytesOwningBuffer(parts[0]);
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
        out.set(p, at);
        at += p.byteLength;
    }
    return out;
}

// What the runtime reads a streamed body through (a response it sends, a fetch() request body):
// next() gives a Uint8Array, or null at the end; cancel(reason) stops the stream when the other
// side has gone away. `what` names the body in errors.
function streamPump(stream, what = "Response") {
    const rs = rsRecord(stream);
    const reader = new ReaderRecord("default");
    readerGenericInitialize(reader, rs);
    rs.disturbed = true;
    return {
        next() {
            return defaultReaderReadPromise(reader).then(({ value, done }) => {
                if (done)
                    return null;
                const v = chunkBytes(value, what);
                return v.byteLength === 0 ? new Uint8Array(0) : v;
            });
        },
        cancel(reason) {
            if (reader.stream === undefined)
                return;
            markHandled(rsCancel(reader.stream, reason));
        },
    };
}

defineGlobal("ReadableStream", ReadableStream);
defineGlobal("ReadableStreamDefaultReader", ReadableStreamDefaultReader);
defineGlobal("ReadableStreamBYOBReader", ReadableStreamBYOBReader);
defineGlobal("ReadableStreamDefaultController", ReadableStreamDefaultController);
defineGlobal("ReadableByteStreamController", ReadableByteStreamController);
defineGlobal("ReadableStreamBYOBRequest", ReadableStreamBYOBRequest);
