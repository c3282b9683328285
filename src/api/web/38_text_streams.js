// TextEncoderStream and TextDecoderStream (Encoding Standard): TransformStreams around the encoder
// and a streaming decoder.

class TextEncoderStream {
    #ts;
    constructor() {
        let pendingHigh = null; // a high surrogate that ended the previous chunk
        this.#ts = new TransformStream({
            transform(chunk, controller) {
                let s = toDOMString(chunk);
                if (pendingHigh !== null) {
                    s = pendingHigh + s;
                    pendingHigh = null;
                }
                if (s.length > 0) {
                    const last = s.charCodeAt(s.length - 1);
                    if (last >= 0xd800 && last <= 0xdbff) {
                        pendingHigh = s.slice(-1);
                        s = s.slice(0, -1);
                    }
                }
                if (s.length > 0)
                    controller.enqueue(native.encode(s));
            },
            flush(controller) {
                if (pendingHigh !== null)
                    controller.enqueue(new Uint8Array([0xef, 0xbf, 0xbd]));
            },
        });
    }
    get encoding() {
        return "utf-8";
    }
    get readable() {
        return this.#ts.readable;
    }
    get writable() {
        return this.#ts.writable;
    }
}
setToStringTag(TextEncoderStream, "TextEncoderStream");

class TextDecoderStream {
    #ts;
    #decoder;
    constructor(label = "utf-8", options = undefined) {
        const decoder = (this.#decoder = new TextDecoder(label, options));
        this.#ts = new TransformStream({
            transform(chunk, controller) {
                const view = isObject(chunk) ? bufferSourceView(chunk) : undefined;
                if (view === undefined)
                    throw new TypeError("TextDecoderStream takes bytes (ArrayBuffer or an ArrayBufferView).");
                const s = decoder.decode(view, { stream: true });
                if (s !== "")
                    controller.enqueue(s);
            },
            flush(controller) {
                const s = decoder.decode();
                if (s !== "")
                    controller.enqueue(s);
            },
        });
    }
    get encoding() {
        return this.#decoder.encoding;
    }
    get fatal() {
        return this.#decoder.fatal;
    }
    get ignoreBOM() {
        return this.#decoder.ignoreBOM;
    }
    get readable() {
        return this.#ts.readable;
    }
    get writable() {
        return this.#ts.writable;
    }
}
setToStringTag(TextDecoderStream, "TextDecoderStream");

defineGlobal("TextEncoderStream", TextEncoderStream);
defineGlobal("TextDecoderStream", TextDecoderStream);
