// Event, CustomEvent, EventTarget (DOM Standard, without a tree: every dispatch is at the target),
// AbortController and AbortSignal (with timeout() and any()).

const EVENT_NONE = 0, EVENT_CAPTURING_PHASE = 1, EVENT_AT_TARGET = 2, EVENT_BUBBLING_PHASE = 3;

let eventSetTarget;    // (event, target)
let eventIsDispatching; // (event) => bool
let eventSetDispatching; // (event, bool)
let eventSetPhase;     // (event, phase, currentTarget)
let eventStopped;      // (event) => [stopPropagation, stopImmediatePropagation]
let eventSetPassive;   // (event, bool)

class Event {
    #type;
    #bubbles = false;
    #cancelable = false;
    #composed = false;
    #target = null;
    #currentTarget = null;
    #phase = EVENT_NONE;
    #canceled = false;
    #stop = false;
    #stopImmediate = false;
    #dispatching = false;
    #passive = false;
    #timeStamp;

    constructor(type, eventInitDict = undefined) {
        requireArgs(arguments.length, 1, "Event");
        this.#type = toDOMString(type);
        const init = dictionary(eventInitDict, "Event");
        this.#bubbles = !!init.bubbles;
        this.#cancelable = !!init.cancelable;
        this.#composed = !!init.composed;
        this.#timeStamp = native.now();
    }
    get type() {
        return this.#type;
    }
    get target() {
        return this.#target;
    }
    get srcElement() {
        return this.#target;
    }
    get currentTarget() {
        return this.#currentTarget;
    }
    get eventPhase() {
        return this.#phase;
    }
    get bubbles() {
        return this.#bubbles;
    }
    get cancelable() {
        return this.#cancelable;
    }
    get composed() {
        return this.#composed;
    }
    get defaultPrevented() {
        return this.#canceled;
    }
    get isTrusted() {
        return false;
    }
    get timeStamp() {
        return this.#timeStamp;
    }
    get returnValue() {
        return !this.#canceled;
    }
    set returnValue(v) {
        if (!v)
            this.preventDefault();
    }
    get cancelBubble() {
        return this.#stop;
    }
    set cancelBubble(v) {
        if (v)
            this.#stop = true;
    }
    composedPath() {
        return this.#dispatching && this.#currentTarget !== null ? [this.#currentTarget] : [];
    }
    stopPropagation() {
        this.#stop = true;
    }
    stopImmediatePropagation() {
        this.#stop = true;
        this.#stopImmediate = true;
    }
    preventDefault() {
        if (this.#cancelable && !this.#passive)
            this.#canceled = true;
    }
    initEvent(type, bubbles = false, cancelable = false) {
        requireArgs(arguments.length, 1, "Event.initEvent");
        if (this.#dispatching)
            return;
        this.#type = toDOMString(type);
        this.#bubbles = !!bubbles;
        this.#cancelable = !!cancelable;
        this.#stop = this.#stopImmediate = this.#canceled = false;
        this.#target = null;
    }
    [INSPECT]() {
        return { type: this.#type, defaultPrevented: this.#canceled, cancelable: this.#cancelable, timeStamp: this.#timeStamp };
    }
    static {
        eventSetTarget = (e, t) => {
            e.#target = t;
        };
        eventIsDispatching = (e) => e.#dispatching;
        eventSetDispatching = (e, d) => {
            e.#dispatching = d;
            if (!d) {
                e.#stop = false;
                e.#stopImmediate = false;
            }
        };
        eventSetPhase = (e, phase, current) => {
            e.#phase = phase;
            e.#currentTarget = current;
        };
        eventStopped = (e) => e.#stopImmediate;
        eventSetPassive = (e, p) => {
            e.#passive = p;
        };
    }
}
setToStringTag(Event, "Event");
for (const [k, v] of [["NONE", EVENT_NONE], ["CAPTURING_PHASE", EVENT_CAPTURING_PHASE], ["AT_TARGET", EVENT_AT_TARGET],
    ["BUBBLING_PHASE", EVENT_BUBBLING_PHASE]]) {
    ObjectDefineProperty(Event, k, { value: v, enumerable: true });
    ObjectDefineProperty(Event.prototype, k, { value: v, enumerable: true });
}

class CustomEvent extends Event {
    #detail;
    constructor(type, eventInitDict = undefined) {
        requireArgs(arguments.length, 1, "CustomEvent");
        super(type, eventInitDict);
        const init = dictionary(eventInitDict, "CustomEvent");
        this.#detail = init.detail === undefined ? null : init.detail;
    }
    get detail() {
        return this.#detail;
    }
}
setToStringTag(CustomEvent, "CustomEvent");

// Options of addEventListener/removeEventListener: a boolean means capture.
function listenerOptions(options, forAdd) {
    if (!isObject(options))
        return { capture: !!options, once: false, passive: false, signal: null };
    const capture = !!options.capture;
    if (!forAdd)
        return { capture };
    const signal = options.signal;
    if (signal !== undefined && !isAbortSignal(signal))
        throw new TypeError("addEventListener: options.signal must be an AbortSignal.");
    return { capture, once: !!options.once, passive: !!options.passive, signal: signal ?? null };
}

let eventTargetDispatch; // (target, event): dispatch without the public checks

class EventTarget {
    #listeners = new Map(); // type -> [{callback, capture, once, passive, removed}]

    addEventListener(type, callback, options = undefined) {
        requireArgs(arguments.length, 2, "EventTarget.addEventListener");
        type = toDOMString(type);
        const o = listenerOptions(options, true);
        if (callback === null || callback === undefined)
            return;
        if (!isObject(callback))
            throw new TypeError("addEventListener: the listener must be a function or an object with a handleEvent method.");
        if (o.signal !== null && o.signal.aborted)
            return;
        let list = this.#listeners.get(type);
        if (list === undefined)
            this.#listeners.set(type, (list = []));
        for (const l of list) {
            if (l.callback === callback && l.capture === o.capture)
                return;
        }
        const entry = { callback, capture: o.capture, once: o.once, passive: o.passive, removed: false };
        list.push(entry);
        if (o.signal !== null)
            signalAddAlgorithm(o.signal, () => this.#remove(type, entry));
    }

    #remove(type, entry) {
        const list = this.#listeners.get(type);
        if (list === undefined)
            return;
        const i = list.indexOf(entry);
        if (i >= 0) {
            list.splice(i, 1);
            entry.removed = true;
        }
    }

    removeEventListener(type, callback, options = undefined) {
        requireArgs(arguments.length, 2, "EventTarget.removeEventListener");
        type = toDOMString(type);
        const o = listenerOptions(options, false);
        const list = this.#listeners.get(type);
        if (list === undefined)
            return;
        for (const l of list) {
            if (l.callback === callback && l.capture === o.capture) {
                this.#remove(type, l);
                return;
            }
        }
    }

    dispatchEvent(event) {
        requireArgs(arguments.length, 1, "EventTarget.dispatchEvent");
        if (!(event instanceof Event))
            throw new TypeError("dispatchEvent: the argument must be an Event.");
        if (eventIsDispatching(event))
            throw new DOMException("The event is already being dispatched.", "InvalidStateError");
        return this.#dispatch(event);
    }

    #dispatch(event) {
        eventSetDispatching(event, true);
        eventSetTarget(event, this);
        eventSetPhase(event, EVENT_AT_TARGET, this);
        const list = this.#listeners.get(event.type);
        if (list !== undefined) {
            for (const l of list.slice()) {
                if (l.removed)
                    continue;
                if (l.once)
                    this.#remove(event.type, l);
                eventSetPassive(event, l.passive);
                try {
                    if (typeof l.callback === "function") {
                        l.callback.call(this, event);
                    } else {
                        const handle = l.callback.handleEvent;
                        if (typeof handle !== "function")
                            throw new TypeError("the event listener object has no handleEvent method");
                        handle.call(l.callback, event);
                    }
                } catch (e) {
                    reportException(e);
                }
                eventSetPassive(event, false);
                if (eventStopped(event))
                    break;
            }
        }
        eventSetPhase(event, EVENT_NONE, null);
        eventSetDispatching(event, false);
        return !event.defaultPrevented;
    }

    static {
        eventTargetDispatch = (t, e) => t.#dispatch(e);
    }
}
setToStringTag(EventTarget, "EventTarget");

// An `on<type>` attribute: one listener slot that an assignment replaces.
function defineEventHandler(cls, type) {
    const slot = Symbol(`on${type}`);
    ObjectDefineProperty(cls.prototype, `on${type}`, {
        configurable: true,
        enumerable: true,
        get() {
            return this[slot]?.handler ?? null;
        },
        set(v) {
            const cur = this[slot];
            if (cur !== undefined) {
                this.removeEventListener(type, cur.listener);
                this[slot] = undefined;
            }
            if (typeof v === "function" || isObject(v)) {
                const entry = { handler: v, listener: (e) => (typeof entry.handler === "function" ? entry.handler.call(this, e) : undefined) };
                ObjectDefineProperty(this, slot, { value: entry, writable: true, configurable: true });
                this.addEventListener(type, entry.listener);
            }
        },
    });
}

let isAbortSignal;
let signalAddAlgorithm;    // (signal, fn): fn(reason) runs when the signal aborts, before the event
let signalRemoveAlgorithm; // (signal, fn)
let signalAbort;           // (signal, reason)
let newAbortSignal;

function abortError() {
    return new DOMException("This operation was aborted", "AbortError");
}

class AbortSignal extends EventTarget {
    #aborted = false;
    #reason = undefined;
    #algorithms = null; // Set of functions
    #dependents = null; // signals made by any() that follow this one

    constructor(key = undefined) {
        if (key !== INTERNAL)
            throw new TypeError("Illegal constructor: use new AbortController().signal, AbortSignal.abort() or AbortSignal.timeout().");
        super();
    }

    get aborted() {
        return this.#aborted;
    }
    get reason() {
        return this.#reason;
    }
    throwIfAborted() {
        if (this.#aborted)
            throw this.#reason;
    }

    static abort(reason = undefined) {
        const s = new AbortSignal(INTERNAL);
        s.#aborted = true;
        s.#reason = reason === undefined ? abortError() : reason;
        return s;
    }

    static timeout(milliseconds) {
        requireArgs(arguments.length, 1, "AbortSignal.timeout");
        const ms = Number(milliseconds);
        if (!Number.isFinite(ms) || ms < 0 || ms > Number.MAX_SAFE_INTEGER)
            throw new TypeError(`AbortSignal.timeout: ${milliseconds} is not a valid number of milliseconds.`);
        const s = new AbortSignal(INTERNAL);
        globalThis.setTimeout(() => s.#abort(new DOMException("The operation timed out.", "TimeoutError")), ms);
        return s;
    }

    static any(signals) {
        requireArgs(arguments.length, 1, "AbortSignal.any");
        const list = Array.from(signals);
        for (const x of list) {
            if (!isAbortSignal(x))
                throw new TypeError("AbortSignal.any: every item must be an AbortSignal.");
        }
        const s = new AbortSignal(INTERNAL);
        for (const x of list) {
            if (x.#aborted) {
                s.#aborted = true;
                s.#reason = x.#reason;
                return s;
            }
        }
        for (const x of list) {
            if (x.#dependents === null)
                x.#dependents = [];
            x.#dependents.push(new WeakRef(s));
        }
        return s;
    }

    #abort(reason) {
        if (this.#aborted)
            return;
        this.#aborted = true;
        this.#reason = reason === undefined ? abortError() : reason;
        const algorithms = this.#algorithms;
        this.#algorithms = null;
        if (algorithms !== null) {
            for (const fn of algorithms) {
                try {
                    fn(this.#reason);
                } catch (e) {
                    reportException(e);
                }
            }
        }
        eventTargetDispatch(this, new Event("abort"));
        const deps = this.#dependents;
        this.#dependents = null;
        if (deps !== null) {
            for (const ref of deps)
                ref.deref()?.#abort(this.#reason);
        }
    }

    [INSPECT]() {
        return { aborted: this.#aborted };
    }

    static {
        isAbortSignal = (s) => isObject(s) && #aborted in s;
        signalAddAlgorithm = (s, fn) => {
            if (s.#aborted)
                return;
            if (s.#algorithms === null)
                s.#algorithms = new Set();
            s.#algorithms.add(fn);
        };
        signalRemoveAlgorithm = (s, fn) => {
            s.#algorithms?.delete(fn);
        };
        signalAbort = (s, reason) => s.#abort(reason);
        newAbortSignal = () => new AbortSignal(INTERNAL);
    }
}
setToStringTag(AbortSignal, "AbortSignal");
defineEventHandler(AbortSignal, "abort");

class AbortController {
    #signal = newAbortSignal();
    get signal() {
        return this.#signal;
    }
    abort(reason = undefined) {
        signalAbort(this.#signal, reason);
    }
    [INSPECT]() {
        return { signal: this.#signal };
    }
}
setToStringTag(AbortController, "AbortController");

defineGlobal("Event", Event);
defineGlobal("CustomEvent", CustomEvent);
defineGlobal("EventTarget", EventTarget);
defineGlobal("AbortSignal", AbortSignal);
defineGlobal("AbortController", AbortController);
