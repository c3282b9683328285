// Streams: ReadableStream (default and byte sources, readers, iteration, tee, pipes), WritableStream,
// TransformStream, strategies, text streams, and bodies as streams.

const u8 = (...b) => new Uint8Array(b);
const tick = () => new Promise((r) => queueMicrotask(r));
async function ticks(n = 10) {
    for (let i = 0; i < n; i++)
        await tick();
}
async function readAll(stream) {
    const out = [];
    for await (const c of stream)
        out.push(c);
    return out;
}

test("a default stream gives its chunks in order, then done", async () => {
    const rs = new ReadableStream({
        start(c) {
            c.enqueue("a");
            c.enqueue("b");
            c.close();
        },
    });
    const r = rs.getReader();
    assertEq(rs.locked, true);
    assertEq(await r.read(), { value: "a", done: false });
    assertEq(await r.read(), { value: "b", done: false });
    assertEq(await r.read(), { value: undefined, done: true });
    assertEq(await r.read(), { value: undefined, done: true });
    await r.closed;
    r.releaseLock();
    assertEq(rs.locked, false);
});

test("pull is called while the queue is below the high-water mark, and not again while pulling", async () => {
    let pulls = 0;
    let n = 0;
    const rs = new ReadableStream({
        pull(c) {
            pulls++;
            c.enqueue(n++);
            if (n === 5)
                c.close();
        },
    }, { highWaterMark: 2 });
    await ticks();
    assertEq(pulls, 2, "filled up to the high-water mark before anyone read");
    assertEq(await readAll(rs), [0, 1, 2, 3, 4]);
    assertEq(pulls, 5);

    let resolvePull;
    let calls = 0;
    const slow = new ReadableStream({
        pull() {
            calls++;
            return new Promise((r) => (resolvePull = r));
        },
    });
    const reader = slow.getReader();
    await ticks();
    assertEq(calls, 1, "pulled once to fill the queue");
    reader.read();
    reader.read();
    await ticks();
    assertEq(calls, 1, "a pending pull promise holds the next pull back");
    resolvePull();
    await ticks();
    assertEq(calls, 2, "reads that came during a pull make it pull again once it is done");
});

test("desiredSize and a size strategy", async () => {
    let ctl;
    new ReadableStream({ start(c) {
        ctl = c;
    } }, { highWaterMark: 10, size: (chunk) => chunk.length });
    assertEq(ctl.desiredSize, 10);
    ctl.enqueue("abcd");
    assertEq(ctl.desiredSize, 6);
    ctl.enqueue("abcdefgh");
    assertEq(ctl.desiredSize, -2);
    ctl.close();
    assertEq(ctl.desiredSize, -2, "closing keeps the queue");
    assertThrows(() => ctl.enqueue("x"), TypeError, /closed or closing/);
    assertThrows(() => new ReadableStream({}, { highWaterMark: -1 }), RangeError);
    assertThrows(() => new ReadableStream({}, { size: 3 }), TypeError);
    let bad;
    const rs = new ReadableStream({ start(c) {
        bad = c;
    } }, { size: () => -1 });
    assertThrows(() => bad.enqueue(1), RangeError);
    await assertRejects(rs.getReader().read(), RangeError, /size/, "a bad size errors the stream");
});

test("errors reach readers, and a read after an error rejects", async () => {
    const boom = new Error("boom");
    const rs = new ReadableStream({ start(c) {
        c.enqueue(1);
        c.error(boom);
    } });
    const r = rs.getReader();
    await assertRejects(r.read(), Error, /boom/, "an error drops queued chunks");
    await assertRejects(r.closed, Error, /boom/);
    const rs2 = new ReadableStream({ pull() {
        throw new TypeError("pull failed");
    } });
    await assertRejects(rs2.getReader().read(), TypeError, /pull failed/);
    const rs3 = new ReadableStream({ start() {
        return Promise.reject(new RangeError("start failed"));
    } });
    await assertRejects(rs3.getReader().closed, RangeError);
    assertThrows(() => new ReadableStream({ start() {
        throw new SyntaxError("sync");
    } }), SyntaxError, /sync/, "a synchronous throw from start comes out of the constructor");
});

test("cancel reaches the source, and locks are enforced", async () => {
    let reason;
    const rs = new ReadableStream({ cancel(r) {
        reason = r;
        return "ignored";
    } });
    assertEq(await rs.cancel("why"), undefined);
    assertEq(reason, "why");
    assertEq(await rs.getReader().read(), { value: undefined, done: true });

    const locked = new ReadableStream();
    const r = locked.getReader();
    assertThrows(() => locked.getReader(), TypeError, /locked/);
    await assertRejects(locked.cancel(), TypeError, /locked/);
    const pending = r.read();
    r.releaseLock();
    await assertRejects(pending, TypeError, /released/, "releasing rejects pending reads");
    await assertRejects(r.closed, TypeError, /released/);
    await assertRejects(r.read(), TypeError, /released/);
    assertThrows(() => new ReadableStream({ type: "other" }), TypeError, /bytes/);
    assertThrows(() => locked.getReader({ mode: "x" }), TypeError, /byob/);
    assertThrows(() => new ReadableStream().getReader({ mode: "byob" }), TypeError, /byte stream/);
});

test("async iteration, breaking out cancels unless preventCancel", async () => {
    let cancelled = 0;
    const mk = () => new ReadableStream({
        start(c) {
            for (let i = 0; i < 5; i++)
                c.enqueue(i);
        },
        cancel() {
            cancelled++;
        },
    });
    const rs = mk();
    const seen = [];
    for await (const v of rs) {
        seen.push(v);
        if (v === 2)
            break;
    }
    assertEq(seen, [0, 1, 2]);
    assertEq(cancelled, 1);
    assertEq(rs.locked, false);
    const rs2 = mk();
    for await (const v of rs2.values({ preventCancel: true })) {
        if (v === 1)
            break;
    }
    assertEq(cancelled, 1);
    assertEq((await rs2.getReader().read()).value, 2, "the rest stays readable");
    const it = new ReadableStream({ start(c) {
        c.enqueue("x");
        c.close();
    } })[Symbol.asyncIterator]();
    assertEq(await Promise.all([it.next(), it.next(), it.next()]),
        [{ value: "x", done: false }, { value: undefined, done: true }, { value: undefined, done: true }]);
});

test("ReadableStream.from takes sync and async iterables", async () => {
    assertEq(await readAll(ReadableStream.from([1, 2, 3])), [1, 2, 3]);
    async function* gen() {
        yield "a";
        await tick();
        yield "b";
    }
    assertEq(await readAll(ReadableStream.from(gen())), ["a", "b"]);
    assertEq(await readAll(ReadableStream.from([Promise.resolve(7)])), [7], "promises from a sync iterable are awaited");
    let returned = false;
    const src = { [Symbol.asyncIterator]() {
        return { next: async () => ({ value: 1, done: false }), return: async () => {
            returned = true;
            return { done: true };
        } };
    } };
    const rs = ReadableStream.from(src);
    await rs.getReader().cancel();
    assertEq(returned, true);
    assertThrows(() => ReadableStream.from(5), TypeError, /iterable/);
});

test("tee gives both branches every chunk; cancelling both cancels the source", async () => {
    let reason;
    const rs = new ReadableStream({
        start(c) {
            c.enqueue("a");
            c.enqueue("b");
            c.close();
        },
        cancel(r) {
            reason = r;
        },
    });
    const [a, b] = rs.tee();
    assertEq(rs.locked, true);
    assertEq(await readAll(a), ["a", "b"]);
    assertEq(await readAll(b), ["a", "b"]);

    const src = new ReadableStream({ cancel(r) {
        reason = r;
    } });
    const [x, y] = src.tee();
    const p1 = x.cancel("one");
    await ticks();
    assertEq(reason, undefined, "one branch cancelling does not cancel the source");
    await Promise.all([p1, y.cancel("two")]);
    assertEq(reason, ["one", "two"]);

    const bytes = new Response(u8(1, 2, 3)).body;
    const [p, q] = bytes.tee();
    const pa = await readAll(p), qa = await readAll(q);
    assertEq([pa.length, qa.length], [1, 1]);
    assert(pa[0] !== qa[0], "byte branches get their own copies");
    assertEq([pa[0], qa[0]], [u8(1, 2, 3), u8(1, 2, 3)]);
});

test("byte streams: BYOB reads fill the caller's view, with min", async () => {
    let ctl;
    const rs = new ReadableStream({ type: "bytes", start(c) {
        ctl = c;
    } });
    const r = rs.getReader({ mode: "byob" });
    const view = new Uint8Array(8);
    const p = r.read(view);
    assertEq(view.byteLength, 0, "the view's buffer is transferred to the stream");
    const req = ctl.byobRequest;
    assert(req !== null);
    assertEq(req.view.byteLength, 8);
    req.view.set([5, 6, 7]);
    req.respond(3);
    const got = await p;
    assertEq([got.done, [...got.value], got.value.buffer.byteLength], [false, [5, 6, 7], 8]);

    ctl.enqueue(u8(1, 2, 3, 4, 5));
    const two = await r.read(new Uint16Array(2));
    assert(two.value instanceof Uint16Array);
    assertEq(two.value.length, 2, "fills whole elements");
    const rest = await r.read(new Uint8Array(10));
    assertEq([...rest.value], [5]);

    const pmin = r.read(new Uint8Array(4), { min: 4 });
    ctl.enqueue(u8(1, 2));
    await ticks();
    ctl.enqueue(u8(3, 4, 9));
    assertEq([...(await pmin).value], [1, 2, 3, 4], "min: waits until 4 bytes are there");
    const last = await r.read(new Uint8Array(4));
    assertEq([last.done, [...last.value]], [false, [9]], "what was left in the queue");
    const pending = r.read(new Uint8Array(4));
    await ticks();
    ctl.close();
    assert(ctl.byobRequest !== null, "a closed stream still has the pending BYOB request");
    ctl.byobRequest.respond(0);
    const end = await pending;
    assertEq([end.done, end.value.byteLength, end.value.buffer.byteLength], [true, 0, 4]);
    await assertRejects(r.read(new Uint8Array(0)), TypeError, /empty/);
});

test("byte streams: default readers, autoAllocateChunkSize, enqueue checks", async () => {
    const rs = new ReadableStream({
        type: "bytes",
        autoAllocateChunkSize: 16,
        pull(c) {
            const v = c.byobRequest.view;
            v[0] = 42;
            c.byobRequest.respond(1);
            c.close();
        },
    });
    const r = rs.getReader();
    const a = await r.read();
    assertEq([a.done, [...a.value]], [false, [42]]);
    assertEq((await r.read()).done, true);
    let ctl;
    new ReadableStream({ type: "bytes", start(c) {
        ctl = c;
    } });
    assertThrows(() => ctl.enqueue("text"), TypeError, /ArrayBufferView/);
    assertThrows(() => ctl.enqueue(new Uint8Array(0)), TypeError, /empty/);
    const chunk = u8(1, 2);
    ctl.enqueue(chunk);
    assertEq(chunk.byteLength, 0, "an enqueued chunk's buffer is transferred");
    assertThrows(() => new ReadableStream({ type: "bytes" }, { size: () => 1 }), RangeError);
});

test("WritableStream: writes run one at a time, in order, then close", async () => {
    const log = [];
    let release;
    const ws = new WritableStream({
        write(chunk) {
            log.push("w" + chunk);
            if (chunk === 1)
                return new Promise((r) => (release = r));
        },
        close() {
            log.push("close");
        },
    });
    const w = ws.getWriter();
    assertEq(ws.locked, true);
    assertEq(w.desiredSize, 1);
    const p1 = w.write(1), p2 = w.write(2);
    const pc = w.close();
    await ticks();
    assertEq(log, ["w1"], "the second write waits for the first");
    assertEq(w.desiredSize, -1);
    release();
    await Promise.all([p1, p2, pc, w.closed]);
    assertEq(log, ["w1", "w2", "close"]);
    await assertRejects(w.write(3), TypeError, /closing or closed/);
    w.releaseLock();
    assertEq(ws.locked, false);
    await assertRejects(w.closed, TypeError, /released/);
});

test("WritableStream: backpressure through ready, errors, abort and its signal", async () => {
    let release;
    const ws = new WritableStream({ write() {
        return new Promise((r) => (release = r));
    } }, new CountQueuingStrategy({ highWaterMark: 2 }));
    const w = ws.getWriter();
    await w.ready;
    w.write("a");
    w.write("b");
    let ready = false;
    w.ready.then(() => (ready = true));
    await ticks();
    assertEq(ready, false, "two queued chunks reach the high-water mark");
    release();
    await ticks();
    assertEq(ready, true);

    const failing = new WritableStream({ write() {
        throw new RangeError("disk full");
    } });
    const fw = failing.getWriter();
    await assertRejects(fw.write("x"), RangeError, /disk full/);
    await assertRejects(fw.closed, RangeError);
    await assertRejects(fw.write("y"), RangeError, /disk full/, "the stream stays errored");

    let abortReason, signalAborted = null;
    const ab = new WritableStream({
        start(c) {
            c.signal.addEventListener("abort", () => (signalAborted = c.signal.reason));
        },
        abort(r) {
            abortReason = r;
        },
    });
    const aw = ab.getWriter();
    await aw.abort("stop");
    assertEq([abortReason, signalAborted], ["stop", "stop"]);
    let closedWith;
    await aw.closed.catch((e) => (closedWith = e));
    assertEq(closedWith, "stop", "closed rejects with the abort reason");
    assertThrows(() => new WritableStream({ type: "bytes" }), RangeError);
    const c2 = new WritableStream({ start(c) {
        c.error(new TypeError("controller error"));
    } });
    await assertRejects(c2.getWriter().write(1), TypeError, /controller error/);
});

test("pipeTo moves every chunk and closes; errors propagate both ways", async () => {
    const out = [];
    await ReadableStream.from([1, 2, 3]).pipeTo(new WritableStream({ write(c) {
        out.push(c);
    } }));
    assertEq(out, [1, 2, 3]);

    let aborted;
    const src = new ReadableStream({ start(c) {
        c.enqueue(1);
        c.error(new Error("source broke"));
    } });
    await assertRejects(src.pipeTo(new WritableStream({ abort(r) {
        aborted = r;
    } })), Error, /source broke/);
    assertEq(aborted?.message, "source broke");

    let cancelled;
    const src2 = new ReadableStream({ pull(c) {
        c.enqueue("x");
    }, cancel(r) {
        cancelled = r;
    } });
    await assertRejects(src2.pipeTo(new WritableStream({ write() {
        throw new TypeError("sink broke");
    } })), TypeError, /sink broke/);
    assertEq(cancelled?.message, "sink broke");

    let closedDest = false;
    const keep = new WritableStream({ close() {
        closedDest = true;
    } });
    await ReadableStream.from(["a"]).pipeTo(keep, { preventClose: true });
    assertEq([closedDest, keep.locked], [false, false]);

    const ac = new AbortController();
    let srcCancelled;
    const endless = new ReadableStream({ pull(c) {
        c.enqueue(0);
        return new Promise((r) => setTimeoutOrTick(r));
    }, cancel(r) {
        srcCancelled = r;
    } });
    const piping = endless.pipeTo(new WritableStream(), { signal: ac.signal });
    await ticks();
    ac.abort(new RangeError("user stop"));
    await assertRejects(piping, RangeError, /user stop/);
    assertEq(srcCancelled?.message, "user stop");
    await assertRejects(new ReadableStream().pipeTo({}), TypeError, /WritableStream/);
});

// setTimeout needs an instance; in these tests a microtask stands in for it.
function setTimeoutOrTick(fn) {
    queueMicrotask(fn);
}

test("TransformStream: transform, flush, default identity, terminate, errors", async () => {
    const ts = new TransformStream({
        transform(chunk, c) {
            c.enqueue(chunk.toUpperCase());
            c.enqueue("|");
        },
        flush(c) {
            c.enqueue("end");
        },
    });
    const reading = readAll(ts.readable);
    const w = ts.writable.getWriter();
    await w.write("a");
    await w.write("b");
    await w.close();
    assertEq(await reading, ["A", "|", "B", "|", "end"]);

    const id = new TransformStream();
    const idw = id.writable.getWriter();
    idw.write(1);
    idw.close();
    assertEq(await readAll(id.readable), [1]);

    const t = new TransformStream({ transform(chunk, c) {
        c.enqueue(chunk);
        c.terminate();
    } });
    const tw = t.writable.getWriter();
    const tr = readAll(t.readable);
    await tw.write("only");
    assertEq(await tr, ["only"]);
    await assertRejects(tw.write("more"), TypeError, /terminated/);

    const bad = new TransformStream({ transform() {
        throw new SyntaxError("bad chunk");
    } });
    const bw = bad.writable.getWriter();
    const read = bad.readable.getReader().read(); // the readable side's high-water mark is 0: a write waits for a read
    await assertRejects(bw.write(1), SyntaxError);
    await assertRejects(read, SyntaxError, /bad chunk/);

    let cancelReason;
    const cancelT = new TransformStream({ cancel(r) {
        cancelReason = r;
    } });
    await cancelT.readable.cancel("no more");
    assertEq(cancelReason, "no more");
    let writeErr;
    await cancelT.writable.getWriter().write(1).catch((e) => (writeErr = e));
    assertEq(writeErr, "no more", "cancelling the readable side errors the writable side with the reason");
    assertThrows(() => new TransformStream({ readableType: "bytes" }), RangeError);
});

test("pipeThrough chains transforms; backpressure holds writes until the readable is read", async () => {
    const double = new TransformStream({ transform(c, ctl) {
        ctl.enqueue(c * 2);
    } });
    const plus = new TransformStream({ transform(c, ctl) {
        ctl.enqueue(c + 1);
    } });
    assertEq(await readAll(ReadableStream.from([1, 2]).pipeThrough(double).pipeThrough(plus)), [3, 5]);

    const ts = new TransformStream();
    const w = ts.writable.getWriter();
    let done = false;
    w.write("x").then(() => (done = true));
    await ticks();
    const reader = ts.readable.getReader();
    assertEq((await reader.read()).value, "x");
    await ticks();
    assertEq(done, true);
    assertThrows(() => ReadableStream.from([]).pipeThrough({}), TypeError, /ReadableStream/);
});

test("queuing strategies", () => {
    const b = new ByteLengthQueuingStrategy({ highWaterMark: 16 });
    assertEq([b.highWaterMark, b.size(u8(1, 2, 3)), b.size.name], [16, 3, "size"]);
    const c = new CountQueuingStrategy({ highWaterMark: 4 });
    assertEq([c.highWaterMark, c.size("anything")], [4, 1]);
    assertThrows(() => new CountQueuingStrategy({}), TypeError);
});

test("IdentityTransformStream and FixedLengthStream carry bytes", async () => {
    const id = new IdentityTransformStream();
    const w = id.writable.getWriter();
    const r = readAll(id.readable);
    await w.write(u8(1));
    await w.write(new Uint8Array([2, 3]).buffer);
    await w.close();
    assertEq(await r, [u8(1), u8(2, 3)]);
    const badStream = new IdentityTransformStream();
    badStream.readable.getReader().read().catch(() => {});
    await assertRejects(badStream.writable.getWriter().write("text"), TypeError, /bytes/);

    const fixed = new FixedLengthStream(3);
    const fw = fixed.writable.getWriter();
    const fr = readAll(fixed.readable);
    await fw.write(u8(1, 2, 3));
    await fw.close();
    assertEq(await fr, [u8(1, 2, 3)]);
    const short = new FixedLengthStream(5);
    const sw = short.writable.getWriter();
    const sr = short.readable.getReader();
    sw.write(u8(1));
    sr.read();
    await assertRejects(sw.close(), TypeError, /1 bytes were written, 5 were declared/);
});

test("TextEncoderStream and TextDecoderStream, with sequences split across chunks", async () => {
    const enc = new TextEncoderStream();
    assertEq(enc.encoding, "utf-8");
    const w = enc.writable.getWriter();
    const r = readAll(enc.readable);
    w.write("h\u00e9");
    w.write("\ud83d");
    w.write("\ude00!");
    w.write("\ud800");
    w.close();
    const bytes = [].concat(...(await r).map((c) => [...c]));
    assertEq(bytes, [0x68, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80, 0x21, 0xef, 0xbf, 0xbd],
        "a surrogate pair split across chunks is one code point; a lone one at the end is U+FFFD");

    const dec = new TextDecoderStream();
    const dw = dec.writable.getWriter();
    const dr = readAll(dec.readable);
    dw.write(u8(0x68, 0xc3));
    dw.write(u8(0xa9, 0xf0, 0x9f));
    dw.write(u8(0x98, 0x80));
    dw.close();
    assertEq((await dr).join(""), "h\u00e9\ud83d\ude00");
    const fatal = new TextDecoderStream("utf-8", { fatal: true });
    assertEq(fatal.fatal, true);
    const fw = fatal.writable.getWriter();
    fatal.readable.getReader().read().catch(() => {});
    await assertRejects(fw.write(u8(0xff)), TypeError);
    const enc2 = new TextEncoderStream();
    const chain = ReadableStream.from(["ab", "c"]).pipeThrough(enc2).pipeThrough(new TextDecoderStream());
    assertEq((await readAll(chain)).join(""), "abc");
});

test("a Response from a stream reads it; chunks must be bytes", async () => {
    const rs = ReadableStream.from([u8(104, 105), new TextEncoder().encode("!")]);
    const r = new Response(rs);
    assertEq(r.bodyUsed, false);
    assertEq(r.headers.get("content-type"), null);
    assertEq(await r.text(), "hi!");
    assertEq(r.bodyUsed, true);
    await assertRejects(r.text(), TypeError, /already been used/);
    await assertRejects(new Response(ReadableStream.from(["text"])).text(), TypeError, /must give bytes/);
    const locked = new ReadableStream();
    locked.getReader();
    assertThrows(() => new Response(locked), TypeError, /locked/);
    const q = new Request("http://h/", { method: "PUT", body: ReadableStream.from([u8(1, 2)]) });
    assertEq(await q.bytes(), u8(1, 2));
});

test("clone() of a streamed body tees it", async () => {
    const r = new Response(ReadableStream.from([u8(1), u8(2)]));
    const c = r.clone();
    assertEq(await c.bytes(), u8(1, 2));
    assertEq(await r.bytes(), u8(1, 2));
});

test("request.body is a byte stream over the bytes, passed on without a copy", async () => {
    const q = new Request("http://h/", { method: "POST", body: "payload" });
    const body = q.body;
    assert(body instanceof ReadableStream);
    const r = new Response(body);
    assertEq(q.bodyUsed, true);
    assertEq(await r.text(), "payload");
    const q2 = new Request("http://h/", { method: "POST", body: u8(1, 2, 3) });
    const reader = q2.body.getReader({ mode: "byob" });
    const a = await reader.read(new Uint8Array(2));
    const b = await reader.read(new Uint8Array(2));
    const c = await reader.read(new Uint8Array(2));
    assertEq([[...a.value], [...b.value], c.done], [[1, 2], [3], true]);
});

test("a Response keeps the very stream it was given", () => {
    const stream = ReadableStream.from([u8(1), u8(2, 3)]);
    assert(new Response(stream).body === stream);
});
