// Event, CustomEvent, EventTarget, AbortController and AbortSignal.

test("Event defaults and init", () => {
    const e = new Event("ping");
    assertEq([e.type, e.bubbles, e.cancelable, e.composed, e.defaultPrevented, e.isTrusted, e.eventPhase, e.target],
        ["ping", false, false, false, false, false, Event.NONE, null]);
    assert(typeof e.timeStamp === "number");
    e.preventDefault();
    assertEq(e.defaultPrevented, false, "not cancelable: preventDefault does nothing");
    const c = new Event("x", { cancelable: true, bubbles: true });
    c.preventDefault();
    assertEq([c.defaultPrevented, c.returnValue, c.bubbles], [true, false, true]);
    assertThrows(() => new Event(), TypeError, /1 argument required/);
    assertEq([Event.AT_TARGET, new Event("a").BUBBLING_PHASE], [2, 3]);
    const ce = new CustomEvent("data", { detail: { n: 1 } });
    assertEq([ce.detail, new CustomEvent("y").detail, ce instanceof Event], [{ n: 1 }, null, true]);
});

test("EventTarget calls listeners in order with the right this, once, and dedups", () => {
    const t = new EventTarget();
    const calls = [];
    const f = function (ev) {
        calls.push(["f", this === t, ev.target === t, ev.currentTarget === t, ev.eventPhase]);
    };
    t.addEventListener("go", f);
    t.addEventListener("go", f); // the same listener again is ignored
    t.addEventListener("go", { handleEvent(ev) {
        calls.push(["obj", ev.type]);
    } });
    t.addEventListener("go", () => calls.push(["once"]), { once: true });
    const ev = new Event("go");
    assertEq(t.dispatchEvent(ev), true);
    assertEq(calls, [["f", true, true, true, Event.AT_TARGET], ["obj", "go"], ["once"]]);
    assertEq([ev.eventPhase, ev.currentTarget, ev.target], [Event.NONE, null, t]);
    calls.length = 0;
    t.dispatchEvent(new Event("go"));
    assertEq(calls.length, 2, "the once listener is gone");
    t.removeEventListener("go", f);
    calls.length = 0;
    t.dispatchEvent(new Event("go"));
    assertEq(calls, [["obj", "go"]]);
    t.addEventListener("go", null);
    t.removeEventListener("nothing", f);
});

test("dispatchEvent: stopImmediatePropagation, preventDefault, passive, errors are reported", () => {
    const t = new EventTarget();
    const seen = [];
    t.addEventListener("e", (ev) => {
        seen.push(1);
        ev.preventDefault();
        ev.stopImmediatePropagation();
    });
    t.addEventListener("e", () => seen.push(2));
    assertEq(t.dispatchEvent(new Event("e", { cancelable: true })), false);
    assertEq(seen, [1]);
    const p = new EventTarget();
    p.addEventListener("e", (ev) => ev.preventDefault(), { passive: true });
    assertEq(p.dispatchEvent(new Event("e", { cancelable: true })), true, "passive listeners cannot cancel");
    const bad = new EventTarget();
    let after = false;
    bad.addEventListener("e", () => {
        throw new RangeError("listener broke");
    });
    bad.addEventListener("e", () => (after = true));
    takeLogs();
    bad.dispatchEvent(new Event("e"));
    assertEq(after, true, "a throwing listener does not stop the others");
    const logs = takeLogs();
    assertEq(logs.length, 1);
    assert(logs[0][1].startsWith("Uncaught RangeError: listener broke"), logs[0][1]);
    const ev = new Event("x");
    const t2 = new EventTarget();
    t2.addEventListener("x", () => assertThrows(() => t2.dispatchEvent(ev), "InvalidStateError"));
    t2.dispatchEvent(ev);
    assertThrows(() => t2.dispatchEvent({ type: "x" }), TypeError);
});

test("AbortController aborts once, with a reason, firing abort and onabort", () => {
    const ac = new AbortController();
    const s = ac.signal;
    assertEq([s.aborted, s.reason], [false, undefined]);
    s.throwIfAborted();
    const got = [];
    s.addEventListener("abort", (e) => got.push(["listener", e.type, s.aborted]));
    s.onabort = () => got.push(["onabort"]);
    assertEq(typeof s.onabort, "function");
    ac.abort();
    ac.abort("again");
    assertEq(got, [["listener", "abort", true], ["onabort"]]);
    assert(s.reason instanceof DOMException);
    assertEq([s.reason.name, s.reason.code], ["AbortError", 20]);
    assertThrows(() => s.throwIfAborted(), "AbortError");
    const ac2 = new AbortController();
    ac2.abort(new RangeError("mine"));
    assertThrows(() => ac2.signal.throwIfAborted(), RangeError, /mine/);
    assertThrows(() => new AbortSignal(), TypeError, /Illegal constructor/);
});

test("AbortSignal.abort and AbortSignal.any", () => {
    const a = AbortSignal.abort("r");
    assertEq([a.aborted, a.reason], [true, "r"]);
    const c1 = new AbortController(), c2 = new AbortController();
    const any = AbortSignal.any([c1.signal, c2.signal]);
    let fired = 0;
    any.addEventListener("abort", () => fired++);
    assertEq(any.aborted, false);
    c2.abort("second");
    c1.abort("first");
    assertEq([any.aborted, any.reason, fired], [true, "second", 1]);
    assertEq(AbortSignal.any([a]).reason, "r", "an already aborted input aborts it at once");
    assertThrows(() => AbortSignal.any([{}]), TypeError);
    assertThrows(() => AbortSignal.timeout(-1), TypeError);
});

test("a listener added with an aborted signal is never called; aborting removes it", () => {
    const t = new EventTarget();
    const ac = new AbortController();
    let n = 0;
    t.addEventListener("e", () => n++, { signal: ac.signal });
    t.dispatchEvent(new Event("e"));
    ac.abort();
    t.dispatchEvent(new Event("e"));
    t.addEventListener("e", () => n++, { signal: ac.signal });
    t.dispatchEvent(new Event("e"));
    assertEq(n, 1);
    assertThrows(() => t.addEventListener("e", () => {}, { signal: {} }), TypeError);
});

test("a Request carries a signal", () => {
    const ac = new AbortController();
    const q = new Request("http://h/", { signal: ac.signal });
    assert(q.signal === ac.signal);
    assert(new Request(q).signal === ac.signal, "a copy keeps the signal");
    const plain = new Request("http://h/");
    assert(plain.signal instanceof AbortSignal && !plain.signal.aborted);
    assertThrows(() => new Request("http://h/", { signal: "no" }), TypeError, /AbortSignal/);
});

test("fetch() outside an event throws at once, with the reason", () => {
    assertThrows(() => fetch("http://example.com/"), TypeError, /only be called while handling an event/);
    assertEq(typeof fetch, "function");
});
