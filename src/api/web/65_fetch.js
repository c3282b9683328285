// fetch() (WHATWG Fetch, as Workers have it): one transfer per hop through the native transfer
// machinery (src/api/fetch.c), redirects followed here (follow, manual, error), AbortSignal, and
// the response body as a byte stream read as it arrives. A request body that is a stream is sent
// as it is produced (chunked), never held whole.

const MAX_REDIRECTS = 20;
const FETCH_EV_HEAD = 1, FETCH_EV_DATA = 2, FETCH_EV_END = 3, FETCH_EV_ERROR = 4, FETCH_EV_DRAIN = 5;
// Headers that describe a request body; a redirect that drops the body drops them too.
const REQUEST_BODY_HEADERS = ["content-encoding", "content-language", "content-location", "content-type", "content-length"];

// One hop: resolves with the Response once its head has arrived. body: null, a Uint8Array, or a
// pump over the request's body stream (streamPump).
function fetchOnce(method, url, headers, body, signal, redirected) {
    return new Promise((resolve, reject) => {
        let handle = null;
        let controller = null; // the body stream's controller, once there is a body
        let wake = null;       // resolves the pull waiting for an event
        let drain = null;      // resolves the upload waiting for room
        let headSeen = false, over = false;
        const upload = body === null || body instanceof Uint8Array ? null : body;
        let uploadDone = upload === null;

        const finish = () => {
            over = true;
            if (!uploadDone) {
                // What the server did not take is cancelled, with the abort's reason if that was it.
                uploadDone = true;
                upload.cancel(signal !== null && signal.aborted ? signal.reason : new TypeError("fetch: the transfer ended before the whole request body was sent."));
            }
            if (signal !== null)
                signalRemoveAlgorithm(signal, onAbort);
            if (wake !== null) {
                const w = wake;
                wake = null;
                w();
            }
            if (drain !== null) {
                const d = drain;
                drain = null;
                d();
            }
        };
        const fail = (err) => {
            if (over)
                return;
            native.fetchAbort(handle);
            if (!headSeen)
                reject(err);
            else if (controller !== null)
                controller.error(err);
            finish();
        };
        // Sends the request body stream as it comes; a stream that fails fails the fetch, and
        // the end of the transfer (an answer, an error, an abort) cancels what is left of it.
        const sendBody = async () => {
            try {
                while (!over) {
                    const chunk = await upload.next();
                    if (over)
                        return;
                    if (chunk === null) {
                        uploadDone = true;
                        native.fetchEnd(handle);
                        return;
                    }
                    if (chunk.byteLength === 0)
                        continue;
                    if (native.fetchWrite(handle, chunk) === 0)
                        await new Promise((d) => (drain = d));
                }
            } catch (e) {
                uploadDone = true;
                fail(e);
            }
        };
        const closeBody = () => {
            controller.close();
            if (controller.byobRequest !== null)
                controller.byobRequest.respond(0);
        };
        const onAbort = (reason) => fail(reason);
        const onEvent = (kind, a, b, c) => {
            if (over)
                return;
            if (kind === FETCH_EV_DRAIN) {
                if (drain !== null) {
                    const d = drain;
                    drain = null;
                    d();
                }
                return;
            }
            if (kind === FETCH_EV_HEAD) {
                headSeen = true;
                const nullBody = method === "HEAD" || NULL_BODY_STATUSES.has(a);
                let stream = null;
                if (!nullBody) {
                    stream = createByteStream((ctl) => {
                        controller = ctl;
                    }, (ctl) => {
                        if (over)
                            return undefined;
                        let r;
                        try {
                            r = native.fetchPull(handle);
                        } catch (e) {
                            finish();
                            throw e;
                        }
                        if (r === 0)
                            return new Promise((w) => (wake = w));
                        if (r === 1) {
                            closeBody();
                            finish();
                        } else {
                            ctl.enqueue(r);
                        }
                        return undefined;
                    }, () => {
                        native.fetchAbort(handle);
                        finish();
                        return Promise.resolve();
                    }, 0);
                } else {
                    native.fetchAbort(handle);
                    finish();
                }
                resolve(responseFromNetwork(a, b, c, stream, url, redirected));
                return;
            }
            if (kind === FETCH_EV_DATA) {
                controller.enqueue(a);
                if (wake !== null) {
                    const w = wake;
                    wake = null;
                    w();
                }
                return;
            }
            if (kind === FETCH_EV_END) {
                closeBody();
                finish();
                return;
            }
            const err = new TypeError(a);
            if (!headSeen)
                reject(err);
            else if (controller !== null)
                controller.error(err);
            finish();
        };
        if (signal !== null)
            signalAddAlgorithm(signal, onAbort);
        try {
            handle = native.fetchStart(method, url, headersWirePairs(headers), upload !== null ? true : body, onEvent);
        } catch (e) {
            finish();
            reject(e);
            if (upload !== null)
                upload.cancel(e);
            return;
        }
        if (upload !== null)
            markHandled(sendBody());
    });
}

function isRedirectStatus(s) {
    return s === 301 || s === 302 || s === 303 || s === 307 || s === 308;
}

// fetch() outside of an event throws at once, as on Workers (so a module that calls it at load
// time fails to deploy); everything else is a rejection of the promise it returns.
function fetch(input, init = undefined) {
    native.fetchCheck();
    requireArgs(arguments.length, 1, "fetch");
    return fetchAsync(input, init);
}

async function fetchAsync(input, init) {
    const request = new Request(input, init);
    const signal = request.signal;
    if (signal.aborted)
        throw signal.reason;
    let parsed = new URL(request.url);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
        throw new TypeError(`fetch: cannot fetch ${request.url}: only http: and https: URLs can be fetched.`);
    parsed.hash = ""; // the fragment is never sent, and a response's URL has none
    let url = parsed.href;
    let method = request.method;
    const headers = new Headers(request.headers);
    let body = bodyForFetch(requestBodyState(request));
    if (signal.aborted)
        throw signal.reason;
    for (let hops = 0; ; hops++) {
        const res = await fetchOnce(method, url, headers, body, signal, hops > 0);
        const status = res.status;
        const location = res.headers.get("location");
        if (!isRedirectStatus(status) || location === null || request.redirect === "manual")
            return res;
        if (res.body !== null)
            markHandled(res.body.cancel());
        if (request.redirect === "error")
            throw new TypeError(`fetch: ${url} answered with a redirect (${status}) to ${location}, and the request's redirect mode is "error".`);
        if (hops >= MAX_REDIRECTS)
            throw new TypeError(`fetch: more than ${MAX_REDIRECTS} redirects, the last from ${url} to ${location}.`);
        let next;
        try {
            next = new URL(location, url);
        } catch {
            throw new TypeError(`fetch: ${url} redirected to ${JSON.stringify(location)}, which is not a valid URL.`);
        }
        if (next.protocol !== "http:" && next.protocol !== "https:")
            throw new TypeError(`fetch: ${url} redirected to ${next.href}; only http: and https: URLs can be fetched.`);
        if ((status === 303 && method !== "GET" && method !== "HEAD") || ((status === 301 || status === 302) && method === "POST")) {
            method = "GET";
            body = null;
            for (const h of REQUEST_BODY_HEADERS)
                headers.delete(h);
        }
        if (body !== null && !(body instanceof Uint8Array))
            throw new TypeError(`fetch: ${url} redirected (${status}) to ${next.href}, which needs the request body again, but it was a stream and has been sent; buffer the body first (await new Response(stream).arrayBuffer()) or use redirect: "manual".`);
        // Credentials do not follow a request to another origin.
        if (next.origin !== parsed.origin)
            headers.delete("authorization");
        next.hash = "";
        url = next.href;
        parsed = next;
    }
}

defineGlobal("fetch", fetch);
