// CompressionStream and DecompressionStream (Compression Standard): gzip, deflate and deflate-raw,
// on zlib (src/api/web_zlib.c).

const COMPRESSION_FORMATS = new Set(["gzip", "deflate", "deflate-raw"]);

function compressionTransform(format, compress, what) {
    requireArgs(format === undefined ? 0 : 1, 1, what);
    const f = toDOMString(format);
    if (!COMPRESSION_FORMATS.has(f))
        throw new TypeError(`${what}: the format must be "gzip", "deflate" or "deflate-raw", got ${JSON.stringify(f)}.`);
    const z = native.zNew(f, compress);
    return new TransformStream({
        transform(chunk, controller) {
            const v = isObject(chunk) ? bufferSourceView(chunk) : undefined;
            if (v === undefined)
                throw new TypeError(`${what} takes bytes (ArrayBuffer or an ArrayBufferView).`);
            const out = native.zPush(z, v);
            if (out.byteLength > 0)
                controller.enqueue(out);
        },
        flush(controller) {
            const out = native.zPush(z, null);
            if (out.byteLength > 0)
                controller.enqueue(out);
        },
    });
}

class CompressionStream {
    #ts;
    constructor(format) {
        this.#ts = compressionTransform(format, true, "CompressionStream");
    }
    get readable() {
        return this.#ts.readable;
    }
    get writable() {
        return this.#ts.writable;
    }
}
setToStringTag(CompressionStream, "CompressionStream");

class DecompressionStream {
    #ts;
    constructor(format) {
        this.#ts = compressionTransform(format, false, "DecompressionStream");
    }
    get readable() {
        return this.#ts.readable;
    }
    get writable() {
        return this.#ts.writable;
    }
}
setToStringTag(DecompressionStream, "DecompressionStream");

defineGlobal("CompressionStream", CompressionStream);
defineGlobal("DecompressionStream", DecompressionStream);
