// scheduler.wait (Workers; the Prioritized Task Scheduling draft) and reportError.

class Scheduler {
    constructor(key = undefined) {
        if (key !== INTERNAL)
            throw new TypeError("Illegal constructor: use the global scheduler object.");
    }
    // Resolves after delay milliseconds, like a timer: awaiting it lets other events in.
    wait(delay, options = undefined) {
        const o = dictionary(options, "scheduler.wait");
        const signal = o.signal;
        if (signal !== undefined && !isAbortSignal(signal))
            return Promise.reject(new TypeError("scheduler.wait: options.signal must be an AbortSignal."));
        if (signal !== undefined && signal.aborted)
            return Promise.reject(signal.reason);
        return new Promise((resolve, reject) => {
            let id;
            const onAbort = (reason) => {
                globalThis.clearTimeout(id);
                reject(reason);
            };
            id = globalThis.setTimeout(() => {
                if (signal !== undefined)
                    signalRemoveAlgorithm(signal, onAbort);
                resolve();
            }, Number(delay) || 0);
            if (signal !== undefined)
                signalAddAlgorithm(signal, onAbort);
        });
    }
}
setToStringTag(Scheduler, "Scheduler");

// reportError (HTML): an exception reported as uncaught, to the log, without throwing.
function reportError(e) {
    requireArgs(arguments.length, 1, "reportError");
    reportException(e);
}

defineGlobal("Scheduler", Scheduler);
defineGlobal("scheduler", new Scheduler(INTERNAL));
defineGlobal("reportError", reportError);
