// CompressionStream and DecompressionStream: round trips in every format, data made by another
// implementation (node's zlib), and clear errors for corrupt, truncated and overlong input.

const enc = (s) => new TextEncoder().encode(s);
async function through(ts, chunks) {
    const parts = [];
    const reading = (async () => {
        for await (const c of ts.readable)
            parts.push(...c);
    })();
    const w = ts.writable.getWriter();
    for (const c of chunks)
        await w.write(c);
    await w.close();
    await reading;
    return new Uint8Array(parts);
}

test("compress then decompress, in every format, in pieces", async () => {
    const text = "a fairly repetitive text, ".repeat(200);
    for (const f of ["gzip", "deflate", "deflate-raw"]) {
        const z = await through(new CompressionStream(f), [enc(text.slice(0, 100)), enc(text.slice(100))]);
        assert(z.length < text.length / 4, `${f} compresses`);
        if (f === "gzip")
            assertEq([z[0], z[1]], [0x1f, 0x8b]);
        const back = await through(new DecompressionStream(f), [z.subarray(0, 7), z.subarray(7)]);
        assertEq(new TextDecoder().decode(back), text, f);
    }
    const empty = await through(new DecompressionStream("gzip"), [await through(new CompressionStream("gzip"), [])]);
    assertEq(empty.length, 0);
});

test("decompresses what node's zlib made", async () => {
    const gz = new Uint8Array([31, 139, 8, 0, 0, 0, 0, 0, 0, 3, 203, 72, 205, 201, 201, 87, 72, 43, 202, 207, 85, 200, 203, 79, 73, 213, 81, 200, 64, 21, 0, 0, 220, 224, 216, 132, 32, 0, 0, 0]);
    assertEq(new TextDecoder().decode(await through(new DecompressionStream("gzip"), [gz])), "hello from node, hello from node");
    const df = new Uint8Array([120, 156, 75, 73, 77, 203, 73, 44, 73, 77, 1, 0, 14, 121, 3, 58]);
    assertEq(new TextDecoder().decode(await through(new DecompressionStream("deflate"), [df])), "deflated");
    const raw = new Uint8Array([43, 74, 44, 87, 4, 0]);
    assertEq(new TextDecoder().decode(await through(new DecompressionStream("deflate-raw"), [raw])), "raw!");
    const text = await new Response(new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
    assertEq(text, "hello from node, hello from node", "as a Response body");
});

test("bad input is a TypeError that says what is wrong", async () => {
    await assertRejects(through(new DecompressionStream("gzip"), [enc("not gzip at all")]), TypeError, /not valid compressed data/);
    const gz = await through(new CompressionStream("gzip"), [enc("some data to cut")]);
    await assertRejects(through(new DecompressionStream("gzip"), [gz.subarray(0, gz.length - 4)]), TypeError, /ends before its end/);
    await assertRejects(through(new DecompressionStream("gzip"), [gz, enc("junk")]), TypeError, /data after the end/);
    await assertRejects(through(new CompressionStream("gzip"), ["text"]), TypeError, /takes bytes/);
    assertThrows(() => new CompressionStream("brotli"), TypeError, /gzip/);
    assertThrows(() => new DecompressionStream(), TypeError);
});
