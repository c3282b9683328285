// TextEncoder, TextDecoder (UTF-8, invalid input, streaming, BOM), atob and btoa.

const bytes = (...b) => new Uint8Array(b);
const hex = (u8) => Array.from(u8, (b) => b.toString(16).padStart(2, "0")).join(" ");

test("TextEncoder encodes UTF-8", () => {
    const e = new TextEncoder();
    assertEq(e.encoding, "utf-8");
    assertEq(e.encode("a\u00e9\u20ac\ud83d\ude00"), bytes(0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80));
    assertEq(e.encode(), bytes());
    assertEq(e.encode(""), bytes());
    assertEq(e.encode(undefined), bytes());
    assertEq(e.encode(123), bytes(0x31, 0x32, 0x33));
    assertEq(e.encode("\0"), bytes(0));
    assert(e.encode("x") instanceof Uint8Array);
    assertEq(e.encode("x").buffer.byteLength, 1);
});

test("TextEncoder replaces lone surrogates with U+FFFD", () => {
    const e = new TextEncoder();
    assertEq(hex(e.encode("\ud800")), "ef bf bd");
    assertEq(hex(e.encode("\udc00a")), "ef bf bd 61");
    assertEq(hex(e.encode("a\ud800\ud800b")), "61 ef bf bd ef bf bd 62");
    assertEq(hex(e.encode("\ude00\ud83d")), "ef bf bd ef bf bd");
});

test("TextEncoder.encodeInto reports what fit", () => {
    const e = new TextEncoder();
    const dst = new Uint8Array(5);
    assertEq(e.encodeInto("a\u20acb", dst), { read: 3, written: 5 });
    assertEq(dst, bytes(0x61, 0xe2, 0x82, 0xac, 0x62));
    const small = new Uint8Array(4);
    assertEq(e.encodeInto("ab\u20ac", small), { read: 2, written: 2 }, "a character never splits");
    assertEq(e.encodeInto("\ud83d\ude00", new Uint8Array(4)), { read: 2, written: 4 });
    assertEq(e.encodeInto("\ud83d\ude00", new Uint8Array(3)), { read: 0, written: 0 });
    assertEq(e.encodeInto("\ud800x", new Uint8Array(10)), { read: 2, written: 4 });
    const view = new Uint8Array(new ArrayBuffer(8), 2, 3);
    assertEq(e.encodeInto("xyz!", view), { read: 3, written: 3 });
    assertEq(new Uint8Array(view.buffer), bytes(0, 0, 0x78, 0x79, 0x7a, 0, 0, 0));
    assertThrows(() => e.encodeInto("a", new Uint16Array(2)), TypeError);
    assertThrows(() => e.encodeInto("a", []), TypeError);
});

test("TextDecoder decodes UTF-8 from any BufferSource", () => {
    const d = new TextDecoder();
    assertEq([d.encoding, d.fatal, d.ignoreBOM], ["utf-8", false, false]);
    const b = bytes(0x68, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80);
    assertEq(d.decode(b), "h\u00e9\ud83d\ude00");
    assertEq(d.decode(b.buffer), "h\u00e9\ud83d\ude00");
    assertEq(d.decode(new DataView(b.buffer, 1, 2)), "\u00e9");
    assertEq(d.decode(new Uint8Array(b.buffer, 3)), "\ud83d\ude00");
    assertEq(d.decode(new Uint16Array([0x6968])), "hi");
    assertEq(d.decode(), "");
    assertEq(d.decode(bytes(0)), "\0");
    assertThrows(() => d.decode("string"), TypeError);
    assertThrows(() => d.decode([1, 2]), TypeError);
});

test("TextDecoder labels", () => {
    for (const l of ["utf-8", "UTF-8", "utf8", " unicode-1-1-utf-8\n", "unicode11utf8", "unicode20utf8", "x-unicode20utf8"])
        assertEq(new TextDecoder(l).encoding, "utf-8", l);
    for (const l of ["latin1", "utf-16", "utf-16le", "", "utf 8", "windows-1252"])
        assertThrows(() => new TextDecoder(l), RangeError, undefined, l);
});

test("invalid sequences become U+FFFD as the WHATWG decoder says", () => {
    const d = new TextDecoder();
    const cases = [
        [[0xff], "\ufffd"],
        [[0x80], "\ufffd"],
        [[0xc3], "\ufffd"],
        [[0xc3, 0x28], "\ufffd("],
        [[0xc0, 0x80], "\ufffd\ufffd"],
        [[0xc1, 0xbf], "\ufffd\ufffd"],
        [[0xe0, 0x80, 0x80], "\ufffd\ufffd\ufffd"],
        [[0xe0, 0xa0], "\ufffd"],
        [[0xe2, 0x82], "\ufffd"],
        [[0xe2, 0x82, 0x41], "\ufffdA"],
        [[0xed, 0xa0, 0x80], "\ufffd\ufffd\ufffd"],
        [[0xed, 0x9f, 0xbf], "\ud7ff"],
        [[0xf0, 0x80, 0x80, 0x80], "\ufffd\ufffd\ufffd\ufffd"],
        [[0xf0, 0x9f, 0x98], "\ufffd"],
        [[0xf4, 0x90, 0x80, 0x80], "\ufffd\ufffd\ufffd\ufffd"],
        [[0xf4, 0x8f, 0xbf, 0xbf], "\udbff\udfff"],
        [[0xf5, 0x80], "\ufffd\ufffd"],
        [[0x61, 0xf0, 0x9f, 0x62], "a\ufffdb"],
        [[0xef, 0xbf, 0xbd], "\ufffd"],
    ];
    for (const [input, want] of cases)
        assertEq(d.decode(new Uint8Array(input)), want, hex(input));
});

test("fatal decoding throws TypeError on any error", () => {
    const d = new TextDecoder("utf-8", { fatal: true });
    assertEq(d.fatal, true);
    assertEq(d.decode(bytes(0x61, 0xc3, 0xa9)), "a\u00e9");
    for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xe2, 0x82]])
        assertThrows(() => d.decode(new Uint8Array(bad)), TypeError, undefined, hex(bad));
    assertEq(d.decode(bytes(0x62)), "b", "usable after an error");
});

test("the BOM is removed unless ignoreBOM", () => {
    const bom = bytes(0xef, 0xbb, 0xbf, 0x61);
    assertEq(new TextDecoder().decode(bom), "a");
    assertEq(new TextDecoder("utf-8", { ignoreBOM: true }).decode(bom), "\ufeffa");
    assertEq(new TextDecoder().decode(bytes(0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf)), "\ufeff", "only one is removed");
    assertEq(new TextDecoder().decode(bytes(0x61, 0xef, 0xbb, 0xbf)), "a\ufeff", "only at the start");
});

test("streaming keeps split sequences", () => {
    const d = new TextDecoder();
    const all = new TextEncoder().encode("a\u00e9\u20ac\ud83d\ude00z");
    // Every way of cutting the bytes in two gives the same text.
    for (let cut = 0; cut <= all.length; cut++) {
        const s = d.decode(all.subarray(0, cut), { stream: true }) + d.decode(all.subarray(cut));
        assertEq(s, "a\u00e9\u20ac\ud83d\ude00z", `cut at ${cut}`);
    }
    // One byte at a time.
    let out = "";
    for (let i = 0; i < all.length; i++)
        out += d.decode(all.subarray(i, i + 1), { stream: true });
    out += d.decode();
    assertEq(out, "a\u00e9\u20ac\ud83d\ude00z");
});

test("streaming: an unfinished sequence at the end becomes U+FFFD", () => {
    const d = new TextDecoder();
    assertEq(d.decode(bytes(0x61, 0xe2, 0x82), { stream: true }), "a");
    assertEq(d.decode(), "\ufffd");
    assertEq(d.decode(bytes(0x62)), "b", "the decoder is reset after the end");
    const f = new TextDecoder("utf-8", { fatal: true });
    assertEq(f.decode(bytes(0xf0, 0x9f), { stream: true }), "");
    assertThrows(() => f.decode(), TypeError);
});

test("streaming: invalid bytes are not held back", () => {
    const d = new TextDecoder();
    assertEq(d.decode(bytes(0x61, 0xe0, 0x80), { stream: true }), "a\ufffd\ufffd");
    assertEq(d.decode(bytes(0xff), { stream: true }), "\ufffd");
    assertEq(d.decode(bytes(0xc3), { stream: true }), "");
    assertEq(d.decode(bytes(0x28)), "\ufffd(");
});

test("streaming: the BOM is removed once, even when split", () => {
    const d = new TextDecoder();
    assertEq(d.decode(bytes(0xef, 0xbb), { stream: true }), "");
    assertEq(d.decode(bytes(0xbf, 0x61), { stream: true }), "a");
    assertEq(d.decode(bytes(0xef, 0xbb, 0xbf)), "\ufeff");
    assertEq(d.decode(bytes(0xef, 0xbb, 0xbf, 0x62)), "b", "a new stream removes it again");
});

test("large texts round-trip", () => {
    let s = "";
    for (let i = 0; i < 5000; i++)
        s += String.fromCodePoint(i * 37 % 0x10ffff >= 0xd800 && i * 37 % 0x10ffff < 0xe000 ? 0x41 : i * 37 % 0x10ffff);
    assertEq(new TextDecoder().decode(new TextEncoder().encode(s)), s);
});

test("btoa encodes Latin-1 strings", () => {
    assertEq(btoa(""), "");
    assertEq(btoa("f"), "Zg==");
    assertEq(btoa("fo"), "Zm8=");
    assertEq(btoa("foo"), "Zm9v");
    assertEq(btoa("foobar"), "Zm9vYmFy");
    assertEq(btoa("\u00ff\u00fe\0"), "//4A");
    assertEq(btoa(123), "MTIz");
    assertEq(btoa(null), "bnVsbA==");
    const e = assertThrows(() => btoa("\u0100"), DOMException);
    assertEq(e.name, "InvalidCharacterError");
    assertEq(e.code, 5);
    assertThrows(() => btoa("\u2603"), "InvalidCharacterError");
    assertThrows(() => btoa(), TypeError);
});

test("atob decodes forgiving base64", () => {
    assertEq(atob(""), "");
    assertEq(atob("Zg=="), "f");
    assertEq(atob("Zg"), "f");
    assertEq(atob("Zm8="), "fo");
    assertEq(atob("Zm8"), "fo");
    assertEq(atob("Zm9v"), "foo");
    assertEq(atob(" Zm9v\tYm\nFy\f\r"), "foobar");
    assertEq(atob("//4A"), "\u00ff\u00fe\0");
    assertEq(atob("Zh=="), "f", "non-zero padding bits are ignored");
    for (const bad of ["Z", "Zg=", "Zg===", "Z===", "Zm9v=", "Zm9-", "Zm9_", "Zg==Zg==", "=Zg=", "Zm\u00e99v", "a=b=", "Zm 9v ="])
        assertThrows(() => atob(bad), "InvalidCharacterError", undefined, JSON.stringify(bad));
    assertThrows(() => atob(), TypeError);
    assertThrows(() => atob(undefined), "InvalidCharacterError", undefined, "'undefined' has 9 characters");
    assertEq(atob(null), "\x9e\xe9e", "null is the string 'null'");
});

test("atob and btoa round-trip every byte", () => {
    let s = "";
    for (let i = 0; i < 256; i++)
        s += String.fromCharCode(i);
    for (let n = 0; n < 10; n++) {
        assertEq(atob(btoa(s.slice(n))), s.slice(n));
    }
    const big = s.repeat(100);
    assertEq(atob(btoa(big)), big);
});
