// Streams, part 2: ReadableStream.tee and pipeTo, and WritableStream with its writer and
// controller (the Streams Standard's abstract operations, as in 34_streams.js).

// ---- tee -----------------------------------------------------------------------------------------

function cloneChunkBytes(chunk) {
    const v = bufferSourceView(chunk);
    return v === undefined ? chunk : new Uint8Array(v);
}

function rsTee(rs) {
    const bytes = rs.controller instanceof ByteControllerRecord;
    const reader = new ReaderRecord("default");
    readerGenericInitialize(reader, rs);
    let reading = false, readAgain = false, canceled1 = false, canceled2 = false;
    let reason1, reason2;
    let branch1, branch2;
    const cancelPromise = newPromise();
    const enqueueTo = (branch, chunk) => {
        const c = branch.controller;
        if (bytes) {
            if (c.closeRequested || branch.state !== "readable")
                return;
            const v = bufferSourceView(chunk);
            if (v !== undefined && v.byteLength > 0)
                bcEnqueue(c, v);
        } else {
            dcEnqueue(c, chunk);
        }
    };
    const closeBranch = (branch) => {
        if (bytes) {
            bcClose(branch.controller);
            if (branch.state === "closed" && branch.controller.pendingPullIntos.length > 0)
                bcRespond(branch.controller, 0);
        } else {
            dcClose(branch.controller);
        }
    };
    const errorBranch = (branch, e) => (bytes ? bcError(branch.controller, e) : dcError(branch.controller, e));
    const pull = () => {
        if (reading) {
            readAgain = true;
            return Promise.resolve();
        }
        reading = true;
        defaultReaderRead(reader, {
            chunk: (chunk) => {
                queueMicrotask(() => {
                    readAgain = false;
                    const c1 = chunk;
                    const c2 = bytes ? cloneChunkBytes(chunk) : chunk;
                    if (!canceled1)
                        enqueueTo(branch1, c1);
                    if (!canceled2)
                        enqueueTo(branch2, c2);
                    reading = false;
                    if (readAgain)
                        pull();
                });
            },
            close: () => {
                reading = false;
                if (!canceled1)
                    closeBranch(branch1);
                if (!canceled2)
                    closeBranch(branch2);
                if (!canceled1 || !canceled2)
                    settleResolve(cancelPromise, undefined);
            },
            error: () => {
                reading = false;
            },
        });
        return Promise.resolve();
    };
    const cancel1 = (reason) => {
        canceled1 = true;
        reason1 = reason;
        if (canceled2)
            settleResolve(cancelPromise, rsCancel(rs, [reason1, reason2]));
        return cancelPromise.promise;
    };
    const cancel2 = (reason) => {
        canceled2 = true;
        reason2 = reason;
        if (canceled1)
            settleResolve(cancelPromise, rsCancel(rs, [reason1, reason2]));
        return cancelPromise.promise;
    };
    const make = (cancel) => {
        const b = new RSRecord();
        newRSFrom(b);
        if (bytes) {
            const c = new ByteControllerRecord(b);
            c.object = new ReadableByteStreamController(INTERNAL, c);
            setUpByteController(b, c, () => undefined, pull, cancel, 0, undefined);
        } else {
            const c = new DefaultControllerRecord(b);
            c.object = new ReadableStreamDefaultController(INTERNAL, c);
            setUpDefaultController(b, c, () => undefined, pull, cancel, 1, () => 1);
        }
        return b;
    };
    branch1 = make(cancel1);
    branch2 = make(cancel2);
    reader.closed.promise.then(undefined, (e) => {
        errorBranch(branch1, e);
        errorBranch(branch2, e);
        if (!canceled1 || !canceled2)
            settleResolve(cancelPromise, undefined);
    });
    return [branch1, branch2];
}

// ---- pipeTo --------------------------------------------------------------------------------------

function rsPipeTo(source, dest, preventClose, preventAbort, preventCancel, signal) {
    const reader = new ReaderRecord("default");
    readerGenericInitialize(reader, source);
    const writer = new WriterRecord();
    writerInitialize(writer, dest);
    source.disturbed = true;
    let shuttingDown = false;
    let currentWrite = Promise.resolve();
    const done = newPromise();
    let abortAlgorithm;

    const finalize = (isError, error) => {
        writerRelease(writer);
        readerGenericRelease(reader);
        if (signal !== undefined)
            signalRemoveAlgorithm(signal, abortAlgorithm);
        if (isError)
            settleReject(done, error);
        else
            settleResolve(done, undefined);
    };
    const waitForWrites = () => {
        const w = currentWrite;
        return w.then(() => (w !== currentWrite ? waitForWrites() : undefined), () => undefined);
    };
    const shutdownWithAction = (action, originalIsError, originalError) => {
        if (shuttingDown)
            return;
        shuttingDown = true;
        const doAction = () => {
            action().then(() => finalize(originalIsError, originalError), (e) => finalize(true, e));
        };
        if (dest.state === "writable" && !wsCloseQueuedOrInFlight(dest))
            waitForWrites().then(doAction);
        else
            doAction();
    };
    const shutdown = (isError, error) => {
        if (shuttingDown)
            return;
        shuttingDown = true;
        if (dest.state === "writable" && !wsCloseQueuedOrInFlight(dest))
            waitForWrites().then(() => finalize(isError, error));
        else
            finalize(isError, error);
    };

    if (signal !== undefined) {
        abortAlgorithm = () => {
            const error = signal.reason;
            const actions = [];
            if (!preventAbort)
                actions.push(() => (dest.state === "writable" ? wsAbort(dest, error) : Promise.resolve()));
            if (!preventCancel)
                actions.push(() => (source.state === "readable" ? rsCancel(source, error) : Promise.resolve()));
            shutdownWithAction(() => Promise.all(actions.map((a) => a())), true, error);
        };
        if (signal.aborted) {
            abortAlgorithm();
            return done.promise;
        }
        signalAddAlgorithm(signal, abortAlgorithm);
    }

    // Errors and closes, in the order the standard checks them.
    const checkStates = () => {
        if (source.state === "errored") {
            if (!preventAbort)
                shutdownWithAction(() => wsAbort(dest, source.storedError), true, source.storedError);
            else
                shutdown(true, source.storedError);
            return true;
        }
        if (dest.state === "errored" || dest.state === "erroring") {
            if (!preventCancel)
                shutdownWithAction(() => rsCancel(source, dest.storedError), true, dest.storedError);
            else
                shutdown(true, dest.storedError);
            return true;
        }
        if (source.state === "closed") {
            if (!preventClose)
                shutdownWithAction(() => writerCloseWithErrorPropagation(writer), false);
            else
                shutdown(false);
            return true;
        }
        if (wsCloseQueuedOrInFlight(dest) || dest.state === "closed") {
            const e = new TypeError("The destination stream closed before the pipe finished.");
            if (!preventCancel)
                shutdownWithAction(() => rsCancel(source, e), true, e);
            else
                shutdown(true, e);
            return true;
        }
        return false;
    };

    reader.closed.promise.then(() => checkStates(), () => checkStates());
    writer.closed.promise.then(() => checkStates(), () => checkStates());

    const step = () => {
        if (shuttingDown || checkStates())
            return;
        writer.ready.promise.then(() => {
            if (shuttingDown)
                return;
            defaultReaderRead(reader, {
                chunk: (chunk) => {
                    currentWrite = markHandled(writerWrite(writer, chunk));
                    queueMicrotask(step);
                },
                close: () => checkStates(),
                error: () => checkStates(),
            });
        }, () => checkStates());
    };
    queueMicrotask(step);
    return done.promise;
}

// ================================================================================ WritableStream

const CLOSE_SENTINEL = Symbol("close");

class WSRecord {
    constructor() {
        this.state = "writable";
        this.storedError = undefined;
        this.writer = undefined;
        this.controller = undefined;
        this.inFlightWriteRequest = undefined;
        this.closeRequest = undefined;
        this.inFlightCloseRequest = undefined;
        this.pendingAbortRequest = undefined;
        this.writeRequests = [];
        this.backpressure = false;
        this.object = undefined;
    }
}

class WriterRecord {
    constructor() {
        this.stream = undefined;
        this.ready = newPromise();
        this.closed = newPromise();
    }
}

class WSControllerRecord {
    constructor(ws) {
        this.stream = ws;
        resetQueue(this);
        this.started = false;
        this.strategyHWM = 1;
        this.strategySize = () => 1;
        this.writeAlgorithm = undefined;
        this.closeAlgorithm = undefined;
        this.abortAlgorithm = undefined;
        this.abortController = new AbortController();
    }
}

function wsLocked(ws) {
    return ws.writer !== undefined;
}

function wsCloseQueuedOrInFlight(ws) {
    return ws.closeRequest !== undefined || ws.inFlightCloseRequest !== undefined;
}

function wsHasOperationMarkedInFlight(ws) {
    return ws.inFlightWriteRequest !== undefined || ws.inFlightCloseRequest !== undefined;
}

function wsAbort(ws, reason) {
    if (ws.state === "closed" || ws.state === "errored")
        return Promise.resolve(undefined);
    ws.controller.abortController.abort(reason);
    const state = ws.state;
    if (state === "closed" || state === "errored")
        return Promise.resolve(undefined);
    if (ws.pendingAbortRequest !== undefined)
        return ws.pendingAbortRequest.promise.promise;
    let wasAlreadyErroring = false;
    if (state === "erroring") {
        wasAlreadyErroring = true;
        reason = undefined;
    }
    const promise = newPromise();
    ws.pendingAbortRequest = { promise, reason, wasAlreadyErroring };
    if (!wasAlreadyErroring)
        wsStartErroring(ws, reason);
    return promise.promise;
}

function wsClose(ws) {
    const state = ws.state;
    if (state === "closed" || state === "errored")
        return Promise.reject(new TypeError("The stream is closed or errored, so it cannot be closed."));
    const promise = newPromise();
    ws.closeRequest = promise;
    const writer = ws.writer;
    if (writer !== undefined && ws.backpressure && state === "writable")
        settleResolve(writer.ready, undefined);
    const c = ws.controller;
    enqueueValueWithSize(c, CLOSE_SENTINEL, 0);
    wscAdvanceQueueIfNeeded(c);
    return promise.promise;
}

function wsDealWithRejection(ws, error) {
    if (ws.state === "writable") {
        wsStartErroring(ws, error);
        return;
    }
    wsFinishErroring(ws);
}

function wsStartErroring(ws, reason) {
    const c = ws.controller;
    ws.state = "erroring";
    ws.storedError = reason;
    const writer = ws.writer;
    if (writer !== undefined)
        writerEnsureReadyPromiseRejected(writer, reason);
    if (!wsHasOperationMarkedInFlight(ws) && c.started)
        wsFinishErroring(ws);
}

function wsFinishErroring(ws) {
    ws.state = "errored";
    const c = ws.controller;
    resetQueue(c);
    const storedError = ws.storedError;
    for (const req of ws.writeRequests)
        settleReject(req, storedError);
    ws.writeRequests = [];
    if (ws.pendingAbortRequest === undefined) {
        wsRejectCloseAndClosedPromiseIfNeeded(ws);
        return;
    }
    const abortRequest = ws.pendingAbortRequest;
    ws.pendingAbortRequest = undefined;
    if (abortRequest.wasAlreadyErroring) {
        settleReject(abortRequest.promise, storedError);
        wsRejectCloseAndClosedPromiseIfNeeded(ws);
        return;
    }
    const p = c.abortAlgorithm(abortRequest.reason);
    wscClearAlgorithms(c);
    p.then(() => {
        settleResolve(abortRequest.promise, undefined);
        wsRejectCloseAndClosedPromiseIfNeeded(ws);
    }, (r) => {
        settleReject(abortRequest.promise, r);
        wsRejectCloseAndClosedPromiseIfNeeded(ws);
    });
}

function wsFinishInFlightWrite(ws) {
    settleResolve(ws.inFlightWriteRequest, undefined);
    ws.inFlightWriteRequest = undefined;
}

function wsFinishInFlightWriteWithError(ws, error) {
    settleReject(ws.inFlightWriteRequest, error);
    ws.inFlightWriteRequest = undefined;
    wsDealWithRejection(ws, error);
}

function wsFinishInFlightClose(ws) {
    settleResolve(ws.inFlightCloseRequest, undefined);
    ws.inFlightCloseRequest = undefined;
    if (ws.state === "erroring") {
        ws.storedError = undefined;
        if (ws.pendingAbortRequest !== undefined) {
            settleResolve(ws.pendingAbortRequest.promise, undefined);
            ws.pendingAbortRequest = undefined;
        }
    }
    ws.state = "closed";
    if (ws.writer !== undefined)
        settleResolve(ws.writer.closed, undefined);
}

function wsFinishInFlightCloseWithError(ws, error) {
    settleReject(ws.inFlightCloseRequest, error);
    ws.inFlightCloseRequest = undefined;
    if (ws.pendingAbortRequest !== undefined) {
        settleReject(ws.pendingAbortRequest.promise, error);
        ws.pendingAbortRequest = undefined;
    }
    wsDealWithRejection(ws, error);
}

function wsRejectCloseAndClosedPromiseIfNeeded(ws) {
    if (ws.closeRequest !== undefined) {
        settleReject(ws.closeRequest, ws.storedError);
        ws.closeRequest = undefined;
    }
    const writer = ws.writer;
    if (writer !== undefined) {
        markHandled(writer.closed.promise);
        settleReject(writer.closed, ws.storedError);
    }
}

function wsUpdateBackpressure(ws, backpressure) {
    const writer = ws.writer;
    if (writer !== undefined && backpressure !== ws.backpressure) {
        if (backpressure)
            writer.ready = newPromise();
        else
            settleResolve(writer.ready, undefined);
    }
    ws.backpressure = backpressure;
}

// ---- the writable controller ---------------------------------------------------------------------

function wscClearAlgorithms(c) {
    c.writeAlgorithm = undefined;
    c.closeAlgorithm = undefined;
    c.abortAlgorithm = undefined;
    c.strategySize = undefined;
}

function wscDesiredSize(c) {
    return c.strategyHWM - c.queueTotalSize;
}

function wscBackpressure(c) {
    return wscDesiredSize(c) <= 0;
}

function wscAdvanceQueueIfNeeded(c) {
    const ws = c.stream;
    if (!c.started || ws.inFlightWriteRequest !== undefined)
        return;
    if (ws.state === "erroring") {
        wsFinishErroring(ws);
        return;
    }
    if (queueLength(c) === 0)
        return;
    const value = peekQueueValue(c);
    if (value === CLOSE_SENTINEL)
        wscProcessClose(c);
    else
        wscProcessWrite(c, value);
}

function wscProcessClose(c) {
    const ws = c.stream;
    ws.inFlightCloseRequest = ws.closeRequest;
    ws.closeRequest = undefined;
    dequeueValue(c);
    const p = c.closeAlgorithm();
    wscClearAlgorithms(c);
    p.then(() => wsFinishInFlightClose(ws), (r) => wsFinishInFlightCloseWithError(ws, r));
}

function wscProcessWrite(c, chunk) {
    const ws = c.stream;
    ws.inFlightWriteRequest = ws.writeRequests.shift();
    c.writeAlgorithm(chunk).then(() => {
        wsFinishInFlightWrite(ws);
        const state = ws.state;
        dequeueValue(c);
        if (!wsCloseQueuedOrInFlight(ws) && state === "writable")
            wsUpdateBackpressure(ws, wscBackpressure(c));
        wscAdvanceQueueIfNeeded(c);
    }, (r) => {
        if (ws.state === "writable")
            wscClearAlgorithms(c);
        wsFinishInFlightWriteWithError(ws, r);
    });
}

function wscErrorIfNeeded(c, e) {
    if (c.stream.state === "writable")
        wscError(c, e);
}

function wscError(c, e) {
    wscClearAlgorithms(c);
    wsStartErroring(c.stream, e);
}

function wscGetChunkSize(c, chunk) {
    if (c.strategySize === undefined)
        return 1;
    try {
        return c.strategySize(chunk);
    } catch (e) {
        wscErrorIfNeeded(c, e);
        return 1;
    }
}

function wscWrite(c, chunk, size) {
    try {
        enqueueValueWithSize(c, chunk, size);
    } catch (e) {
        wscErrorIfNeeded(c, e);
        return;
    }
    const ws = c.stream;
    if (!wsCloseQueuedOrInFlight(ws) && ws.state === "writable")
        wsUpdateBackpressure(ws, wscBackpressure(c));
    wscAdvanceQueueIfNeeded(c);
}

function setUpWritableController(ws, c, start, write, close, abort, hwm, size) {
    ws.controller = c;
    c.strategyHWM = hwm;
    c.strategySize = size;
    c.writeAlgorithm = write;
    c.closeAlgorithm = close;
    c.abortAlgorithm = abort;
    wsUpdateBackpressure(ws, wscBackpressure(c));
    const startResult = start();
    Promise.resolve(startResult).then(() => {
        c.started = true;
        wscAdvanceQueueIfNeeded(c);
    }, (r) => {
        c.started = true;
        wsDealWithRejection(ws, r);
    });
}

class WritableStreamDefaultController {
    #c;
    constructor(key = undefined, rec = undefined) {
        if (key !== INTERNAL)
            throw new TypeError("Illegal constructor: WritableStreamDefaultController is made by WritableStream.");
        this.#c = rec;
    }
    get signal() {
        return this.#c.abortController.signal;
    }
    error(e = undefined) {
        if (this.#c.stream.state !== "writable")
            return;
        wscError(this.#c, e);
    }
}
setToStringTag(WritableStreamDefaultController, "WritableStreamDefaultController");

// ---- the writer ----------------------------------------------------------------------------------

function writerInitialize(w, ws) {
    if (wsLocked(ws))
        throw new TypeError("This WritableStream is locked to a writer.");
    w.stream = ws;
    ws.writer = w;
    const state = ws.state;
    if (state === "writable") {
        if (!wsCloseQueuedOrInFlight(ws) && ws.backpressure)
            w.ready = newPromise();
        else
            w.ready = resolvedDeferred();
        w.closed = newPromise();
    } else if (state === "erroring") {
        w.ready = rejectedHandled(ws.storedError);
        w.closed = newPromise();
    } else if (state === "closed") {
        w.ready = resolvedDeferred();
        w.closed = resolvedDeferred();
    } else {
        w.ready = rejectedHandled(ws.storedError);
        w.closed = rejectedHandled(ws.storedError);
    }
}

function writerEnsureReadyPromiseRejected(w, error) {
    if (w.ready.settled)
        w.ready = newPromise();
    markHandled(w.ready.promise);
    settleReject(w.ready, error);
}

function writerEnsureClosedPromiseRejected(w, error) {
    if (w.closed.settled)
        w.closed = newPromise();
    markHandled(w.closed.promise);
    settleReject(w.closed, error);
}

function writerRelease(w) {
    const ws = w.stream;
    const err = new TypeError("The writer was released.");
    writerEnsureReadyPromiseRejected(w, err);
    writerEnsureClosedPromiseRejected(w, err);
    ws.writer = undefined;
    w.stream = undefined;
}

function writerDesiredSize(w) {
    const ws = w.stream;
    if (ws.state === "errored" || ws.state === "erroring")
        return null;
    if (ws.state === "closed")
        return 0;
    return wscDesiredSize(ws.controller);
}

function writerWrite(w, chunk) {
    const ws = w.stream;
    const c = ws.controller;
    const size = wscGetChunkSize(c, chunk);
    if (ws !== w.stream)
        return Promise.reject(new TypeError("The writer was released."));
    const state = ws.state;
    if (state === "errored")
        return Promise.reject(ws.storedError);
    if (wsCloseQueuedOrInFlight(ws) || state === "closed")
        return Promise.reject(new TypeError("The stream is closing or closed, so nothing more can be written."));
    if (state === "erroring")
        return Promise.reject(ws.storedError);
    const p = newPromise();
    ws.writeRequests.push(p);
    wscWrite(c, chunk, size);
    return p.promise;
}

function writerCloseWithErrorPropagation(w) {
    const ws = w.stream;
    const state = ws.state;
    if (wsCloseQueuedOrInFlight(ws) || state === "closed")
        return Promise.resolve(undefined);
    if (state === "errored")
        return Promise.reject(ws.storedError);
    return wsClose(ws);
}

class WritableStreamDefaultWriter {
    #w = new WriterRecord();
    constructor(stream) {
        requireArgs(arguments.length, 1, "WritableStreamDefaultWriter");
        const ws = wsRecord(stream);
        if (ws === null)
            throw new TypeError("WritableStreamDefaultWriter needs a WritableStream.");
        writerInitialize(this.#w, ws);
    }
    get closed() {
        return this.#w.closed.promise;
    }
    get ready() {
        return this.#w.ready.promise;
    }
    get desiredSize() {
        if (this.#w.stream === undefined)
            throw new TypeError("This writer has been released.");
        return writerDesiredSize(this.#w);
    }
    abort(reason = undefined) {
        if (this.#w.stream === undefined)
            return Promise.reject(new TypeError("This writer has been released."));
        return wsAbort(this.#w.stream, reason);
    }
    close() {
        const ws = this.#w.stream;
        if (ws === undefined)
            return Promise.reject(new TypeError("This writer has been released."));
        if (wsCloseQueuedOrInFlight(ws))
            return Promise.reject(new TypeError("The stream is already closing."));
        return wsClose(ws);
    }
    releaseLock() {
        if (this.#w.stream !== undefined)
            writerRelease(this.#w);
    }
    write(chunk = undefined) {
        if (this.#w.stream === undefined)
            return Promise.reject(new TypeError("This writer has been released."));
        return writerWrite(this.#w, chunk);
    }
}
setToStringTag(WritableStreamDefaultWriter, "WritableStreamDefaultWriter");

let wsRecord;
let newWSFrom;

function createWritableStream(start, write, close, abort, hwm = 1, size = () => 1) {
    const ws = new WSRecord();
    const obj = newWSFrom(ws);
    const c = new WSControllerRecord(ws);
    c.object = new WritableStreamDefaultController(INTERNAL, c);
    setUpWritableController(ws, c, () => start(c.object), write, close, abort, hwm, size);
    return obj;
}

class WritableStream {
    #ws;
    constructor(underlyingSink = undefined, strategy = undefined) {
        if (underlyingSink === INTERNAL) {
            this.#ws = strategy;
            strategy.object = this;
            return;
        }
        const ws = (this.#ws = new WSRecord());
        ws.object = this;
        if (underlyingSink === null)
            underlyingSink = undefined;
        if (underlyingSink !== undefined && !isObject(underlyingSink))
            throw new TypeError("WritableStream: the underlying sink must be an object.");
        const sink = underlyingSink ?? EMPTY_DICTIONARY;
        const st = dictionary(strategy, "WritableStream");
        const start = getMethod(sink, "start", "WritableStream");
        const write = getMethod(sink, "write", "WritableStream");
        const close = getMethod(sink, "close", "WritableStream");
        const abort = getMethod(sink, "abort", "WritableStream");
        if (sink.type !== undefined)
            throw new RangeError("WritableStream: the underlying sink's type must be left out.");
        const size = extractSizeAlgorithm(st);
        const hwm = extractHighWaterMark(st, 1);
        const c = new WSControllerRecord(ws);
        c.object = new WritableStreamDefaultController(INTERNAL, c);
        setUpWritableController(ws, c, () => (start === undefined ? undefined : start.call(sink, c.object)),
            (chunk) => promiseCall(write, sink, chunk, c.object), () => promiseCall(close, sink),
            (r) => promiseCall(abort, sink, r), hwm, size);
    }
    get locked() {
        return wsLocked(this.#ws);
    }
    abort(reason = undefined) {
        if (wsLocked(this.#ws))
            return Promise.reject(new TypeError("This WritableStream is locked to a writer."));
        return wsAbort(this.#ws, reason);
    }
    close() {
        const ws = this.#ws;
        if (wsLocked(ws))
            return Promise.reject(new TypeError("This WritableStream is locked to a writer."));
        if (wsCloseQueuedOrInFlight(ws))
            return Promise.reject(new TypeError("The stream is already closing."));
        return wsClose(ws);
    }
    getWriter() {
        return new WritableStreamDefaultWriter(this);
    }
    [INSPECT]() {
        return { locked: wsLocked(this.#ws), state: this.#ws.state };
    }
    static {
        wsRecord = (v) => (isObject(v) && #ws in v ? v.#ws : null);
        newWSFrom = (rec) => new WritableStream(INTERNAL, rec);
    }
}
setToStringTag(WritableStream, "WritableStream");

defineGlobal("WritableStream", WritableStream);
defineGlobal("WritableStreamDefaultWriter", WritableStreamDefaultWriter);
defineGlobal("WritableStreamDefaultController", WritableStreamDefaultController);
