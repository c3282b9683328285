// URL: parsing against the URL Standard (absolute, relative, hosts, encoding, dot segments), setters, searchParams.

// [input, base, expected href or null for failure]
const PARSE_CASES = [
    // schemes, hosts and default ports
    ["http://example.com", undefined, "http://example.com/"],
    ["HTTP://EXAMPLE.COM/Path", undefined, "http://example.com/Path"],
    ["http://example.com:80/", undefined, "http://example.com/"],
    ["https://example.com:443/x", undefined, "https://example.com/x"],
    ["https://example.com:80/x", undefined, "https://example.com:80/x"],
    ["http://example.com:8080/", undefined, "http://example.com:8080/"],
    ["http://example.com:0/", undefined, "http://example.com:0/"],
    ["http://example.com:65535/", undefined, "http://example.com:65535/"],
    ["http://example.com:65536/", undefined, null],
    ["http://example.com:/", undefined, "http://example.com/"],
    ["http://example.com:008080/", undefined, "http://example.com:8080/"],
    ["http://example.com:8a/", undefined, null],
    ["ws://example.com:80/", undefined, "ws://example.com/"],
    ["wss://example.com:443", undefined, "wss://example.com/"],
    ["ftp://example.com:21/f", undefined, "ftp://example.com/f"],
    ["a+b-c.d://x", undefined, "a+b-c.d://x"],
    ["1http://x", undefined, null],
    ["http:///x", undefined, "http://x/"],
    ["http:\\\\h\\a\\b", undefined, "http://h/a/b"],
    ["  http://h/ \n", undefined, "http://h/"],
    ["\u0000\u001fhttp://h/\u0000", undefined, "http://h/"],
    ["ht\ttp://h/a\nb\r", undefined, "http://h/ab"],
    ["http://", undefined, null],
    ["http://a b/", undefined, null],
    ["http://a<b/", undefined, null],
    ["http://a%20b/", undefined, null],
    ["http://%41.com/", undefined, "http://a.com/"],
    ["http://ex%2Eample.com", undefined, "http://ex.ample.com/"],
    ["http://a..b/", undefined, "http://a..b/"],
    ["http://example.com./", undefined, "http://example.com./"],
    ["", undefined, null],
    ["a", undefined, null],
    ["//x", undefined, null],
    // IPv4
    ["http://0x7f.1/", undefined, "http://127.0.0.1/"],
    ["http://2130706433/", undefined, "http://127.0.0.1/"],
    ["http://0177.0.0.1/", undefined, "http://127.0.0.1/"],
    ["http://127.1/", undefined, "http://127.0.0.1/"],
    ["http://127.0.0.1./", undefined, "http://127.0.0.1/"],
    ["http://4294967295/", undefined, "http://255.255.255.255/"],
    ["http://0x100000000/", undefined, null],
    ["http://192.168.0.257/", undefined, null],
    ["http://256.0.0.1/", undefined, null],
    ["http://1.2.3.4.5/", undefined, null],
    ["http://1.2.3.09/", undefined, null],
    ["http://0X7F.0.0.1/", undefined, "http://127.0.0.1/"],
    ["http://10.0.0.1:8080/x", undefined, "http://10.0.0.1:8080/x"],
    ["http://foo.1/", undefined, null],
    ["http://1.foo/", undefined, "http://1.foo/"],
    ["http://0x/", undefined, "http://0.0.0.0/"],
    // IPv6
    ["http://[::1]/", undefined, "http://[::1]/"],
    ["http://[0:0:0:0:0:0:0:1]:8080/", undefined, "http://[::1]:8080/"],
    ["http://[2001:db8:0:0:1:0:0:1]/", undefined, "http://[2001:db8::1:0:0:1]/"],
    ["http://[2001:0db8:0000:0000:0000:ff00:0042:8329]/", undefined, "http://[2001:db8::ff00:42:8329]/"],
    ["http://[::ffff:192.168.0.1]/", undefined, "http://[::ffff:c0a8:1]/"],
    ["http://[1:2:3:4:5:6:7:8]/", undefined, "http://[1:2:3:4:5:6:7:8]/"],
    ["http://[1:0:3:4:5:6:7:8]/", undefined, "http://[1:0:3:4:5:6:7:8]/"],
    ["http://[1::]/", undefined, "http://[1::]/"],
    ["http://[::]/", undefined, "http://[::]/"],
    ["http://[1:0::]/", undefined, "http://[1::]/"],
    ["http://[ABCD::EF]/", undefined, "http://[abcd::ef]/"],
    ["http://[::1.2.3.4]/", undefined, "http://[::102:304]/"],
    ["http://[::1.2.3]/", undefined, null],
    ["http://[::1.2.3.4.5]/", undefined, null],
    ["http://[::01.2.3.4]/", undefined, null],
    ["http://[::1", undefined, null],
    ["http://[:1]/", undefined, null],
    ["http://[1:2:3:4:5:6:7:8:9]/", undefined, null],
    ["http://[1::2::3]/", undefined, null],
    ["http://[12345::]/", undefined, null],
    ["http://[::1]x/", undefined, null],
    ["http://[g::]/", undefined, null],
    // domains to ASCII
    ["http://münchen.de/", undefined, "http://xn--mnchen-3ya.de/"],
    ["http://☃.net/", undefined, "http://xn--n3h.net/"],
    ["http://Ｅｘａｍｐｌｅ．com/", undefined, "http://example.com/"],
    ["http://xn--ls8h/", undefined, "http://xn--ls8h/"],
    ["http://XN--LS8H/", undefined, "http://xn--ls8h/"],
    ["http://xn--/", undefined, null],
    ["http://m%C3%BCnchen.de/", undefined, "http://xn--mnchen-3ya.de/"],
    // userinfo
    ["http://user:pass@h/", undefined, "http://user:pass@h/"],
    ["http://us er:p@ss@h/", undefined, "http://us%20er:p%40ss@h/"],
    ["http://@h/", undefined, "http://h/"],
    ["http://:@h/", undefined, "http://h/"],
    ["http://user@/", undefined, null],
    ["http://a:b@h:81/", undefined, "http://a:b@h:81/"],
    ["http://a:b:c@h/", undefined, "http://a:b%3Ac@h/"],
    // percent-encoding
    ["http://h/a b", undefined, "http://h/a%20b"],
    ["http://h/a\"b<c>d`e{f}g", undefined, "http://h/a%22b%3Cc%3Ed%60e%7Bf%7Dg"],
    ["http://h/é", undefined, "http://h/%C3%A9"],
    ["http://h/\ud83d\ude00", undefined, "http://h/%F0%9F%98%80"],
    ["http://h/\ud800", undefined, "http://h/%EF%BF%BD"],
    ["http://h/%zz%41", undefined, "http://h/%zz%41"],
    ["http://h/a|b!$&'()*+,;=:@~", undefined, "http://h/a|b!$&'()*+,;=:@~"],
    ["http://h/?a b'c\"", undefined, "http://h/?a%20b%27c%22"],
    ["foo://h/?a b'c", undefined, "foo://h/?a%20b'c"],
    ["http://h/?é#é", undefined, "http://h/?%C3%A9#%C3%A9"],
    ["http://h/?a?b/c", undefined, "http://h/?a?b/c"],
    ["http://h/#a b`c<d", undefined, "http://h/#a%20b%60c%3Cd"],
    ["http://h/#a#b", undefined, "http://h/#a#b"],
    ["http://h/?", undefined, "http://h/?"],
    ["http://h/#", undefined, "http://h/#"],
    // dot segments
    ["http://h/a/b/../c", undefined, "http://h/a/c"],
    ["http://h/a/./b", undefined, "http://h/a/b"],
    ["http://h/a/..", undefined, "http://h/"],
    ["http://h/a/.", undefined, "http://h/a/"],
    ["http://h/a/%2e%2E/b", undefined, "http://h/b"],
    ["http://h/a/.%2e/b", undefined, "http://h/b"],
    ["http://h/a/%2e/b", undefined, "http://h/a/b"],
    ["http://h/../../x", undefined, "http://h/x"],
    ["http://h/.well-known/x", undefined, "http://h/.well-known/x"],
    ["http://h/a/..b/...", undefined, "http://h/a/..b/..."],
    ["http://h/a/b/..?q", undefined, "http://h/a/?q"],
    ["http://h//a//b", undefined, "http://h//a//b"],
    // relative references
    ["d", "http://h/a/b/c?q#f", "http://h/a/b/d"],
    ["./d", "http://h/a/b/c?q#f", "http://h/a/b/d"],
    ["../d", "http://h/a/b/c?q#f", "http://h/a/d"],
    ["../../../../d", "http://h/a/b/c?q#f", "http://h/d"],
    ["/d", "http://h/a/b/c?q#f", "http://h/d"],
    ["//other/x", "http://h/a/b/c?q#f", "http://other/x"],
    ["\\\\other\\y", "http://h/a/b/c?q#f", "http://other/y"],
    ["?x", "http://h/a/b/c?q#f", "http://h/a/b/c?x"],
    ["#g", "http://h/a/b/c?q#f", "http://h/a/b/c?q#g"],
    ["", "http://h/a/b/c?q#f", "http://h/a/b/c?q"],
    [".", "http://h/a/b/c", "http://h/a/b/"],
    ["..", "http://h/a/b/c", "http://h/a/"],
    ["https:x", "http://h/a", "https://x/"],
    ["http:x", "http://h/a/b", "http://h/a/x"],
    ["http:", "http://h/a/b?q", "http://h/a/b?q"],
    ["c", "foo://h/a/b", "foo://h/a/c"],
    ["/x", "http://user:pw@h:81/a", "http://user:pw@h:81/x"],
    ["x", "mailto:a@b", null],
    ["#z", "mailto:a@b", "mailto:a@b#z"],
    ["x", "not a url", null],
    ["http://abs/", "not a url", null],
    // non-special and opaque paths
    ["foo://bar/baz", undefined, "foo://bar/baz"],
    ["foo:bar", undefined, "foo:bar"],
    ["mailto:a@b.c", undefined, "mailto:a@b.c"],
    ["data:text/plain,hi there", undefined, "data:text/plain,hi there"],
    ["javascript:alert(1)", undefined, "javascript:alert(1)"],
    ["foo:a é", undefined, "foo:a %C3%A9"],
    ["foo:a  ?q", undefined, "foo:a %20?q"],
    ["foo://", undefined, "foo://"],
    ["foo:/a/../b", undefined, "foo:/b"],
    ["foo://h/a/./b/../c", undefined, "foo://h/a/c"],
    ["foo:/.//p", undefined, "foo:/.//p"],
    ["foo://h/a\\b", undefined, "foo://h/a\\b"],
    ["foo://0x7f.1/", undefined, "foo://0x7f.1/"],
    ["foo://EXAMPLE/", undefined, "foo://EXAMPLE/"],
    ["foo://a b/", undefined, null],
    ["foo://a%20b/", undefined, "foo://a%20b/"],
    ["foo://é/", undefined, "foo://%C3%A9/"],
    ["foo://h:99/", undefined, "foo://h:99/"],
    // file
    ["file:///C:/a", undefined, "file:///C:/a"],
    ["file:///tmp/x", undefined, "file:///tmp/x"],
    ["file://localhost/etc", undefined, "file:///etc"],
    ["file://host/share", undefined, "file://host/share"],
    ["file:c:\\x", undefined, "file:///c:/x"],
    ["file://C|/x", undefined, "file:///C:/x"],
    ["file:/x", undefined, "file:///x"],
    ["file:", undefined, "file:///"],
    ["file:///C:/../x", undefined, "file:///C:/x"],
    ["c", "file:///a/b", "file:///a/c"],
    ["/d", "file:///C:/a/b", "file:///C:/d"],
    ["..", "file:///C:/a", "file:///C:/"],
    ["?q", "file:///a/b", "file:///a/b?q"],
];

test("parsing", () => {
    const failures = [];
    for (const [input, base, want] of PARSE_CASES) {
        let got;
        try {
            got = (base === undefined ? new URL(input) : new URL(input, base)).href;
        } catch (e) {
            if (!(e instanceof TypeError))
                throw e;
            got = null;
        }
        if (got !== want)
            failures.push(`${JSON.stringify(input)} against ${JSON.stringify(base)}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
        if (want !== null) {
            // Serializing is idempotent: the href parses to itself.
            const again = new URL(want).href;
            if (again !== want)
                failures.push(`${JSON.stringify(want)} does not round-trip: ${JSON.stringify(again)}`);
        }
    }
    assert(failures.length === 0, "\n" + failures.join("\n"));
});

test("canParse and parse agree with the constructor", () => {
    for (const [input, base, want] of PARSE_CASES) {
        assertEq(URL.canParse(input, base), want !== null, JSON.stringify(input));
        const u = URL.parse(input, base);
        assertEq(u === null ? null : u.href, want, JSON.stringify(input));
    }
});

test("components", () => {
    const u = new URL("https://user:pa%20ss@Sub.Example.com:8443/p/a/t/h?query=1&b#frag");
    assertEq(u.protocol, "https:");
    assertEq(u.username, "user");
    assertEq(u.password, "pa%20ss");
    assertEq(u.host, "sub.example.com:8443");
    assertEq(u.hostname, "sub.example.com");
    assertEq(u.port, "8443");
    assertEq(u.pathname, "/p/a/t/h");
    assertEq(u.search, "?query=1&b");
    assertEq(u.hash, "#frag");
    assertEq(u.origin, "https://sub.example.com:8443");
    assertEq(u.toString(), u.href);
    assertEq(u.toJSON(), u.href);
    assertEq(JSON.stringify({ u }), `{"u":"${u.href}"}`);
    assertEq(`${u}`, u.href);
});

test("components of empty and opaque parts", () => {
    const u = new URL("http://h");
    assertEq([u.port, u.search, u.hash, u.username, u.password, u.pathname], ["", "", "", "", "", "/"]);
    const q = new URL("http://h/?#");
    assertEq([q.search, q.hash, q.href], ["", "", "http://h/?#"]);
    const m = new URL("mailto:someone@example.com");
    assertEq([m.protocol, m.host, m.hostname, m.pathname, m.origin], ["mailto:", "", "", "someone@example.com", "null"]);
    const f = new URL("foo://");
    assertEq([f.host, f.pathname], ["", ""]);
});

test("origin", () => {
    assertEq(new URL("https://a.b:8443/x").origin, "https://a.b:8443");
    assertEq(new URL("http://a.b:80/x").origin, "http://a.b");
    assertEq(new URL("ws://x/").origin, "ws://x");
    assertEq(new URL("ftp://x/").origin, "ftp://x");
    assertEq(new URL("blob:https://a.com/uuid").origin, "https://a.com");
    assertEq(new URL("blob:foo://a/uuid").origin, "null");
    assertEq(new URL("file:///x").origin, "null");
    assertEq(new URL("foo://bar").origin, "null");
    assertEq(new URL("http://[::1]:81/").origin, "http://[::1]:81");
});

test("invalid input throws TypeError mentioning Invalid URL", () => {
    assertThrows(() => new URL("nope"), TypeError, /Invalid URL/);
    assertThrows(() => new URL("/path"), TypeError, /needs a base/);
    assertThrows(() => new URL("x", "also bad"), TypeError, /Invalid URL/);
    assertThrows(() => new URL(), TypeError);
    assertEq(URL.canParse("nope"), false);
    assertEq(URL.canParse("/x", "http://h"), true);
    assertEq(URL.parse("nope"), null);
    assertEq(URL.parse("/x", "http://h").href, "http://h/x");
});

test("constructor converts its arguments to strings", () => {
    const base = new URL("http://h/a/");
    assertEq(new URL("b", base).href, "http://h/a/b");
    assertEq(new URL(base).href, "http://h/a/");
    assertEq(new URL({ toString: () => "http://x/" }).href, "http://x/");
});

test("the parse cache never shares records", () => {
    const a = new URL("http://cache.test/p?q=1");
    const b = new URL("http://cache.test/p?q=1");
    a.pathname = "/changed";
    a.searchParams.set("q", "2");
    assertEq(b.href, "http://cache.test/p?q=1");
    assertEq(new URL("http://cache.test/p?q=1").href, "http://cache.test/p?q=1");
});

test("protocol setter", () => {
    const u = new URL("http://h:443/");
    u.protocol = "https";
    assertEq(u.href, "https://h/");
    u.port = "21";
    assertEq(u.href, "https://h:21/");
    u.protocol = "ftp:";
    assertEq(u.href, "ftp://h/", "the new scheme's default port is dropped");
    u.protocol = "foo";
    assertEq(u.href, "ftp://h/", "special to non-special is refused");
    u.protocol = "ht tp";
    assertEq(u.href, "ftp://h/");
    const n = new URL("foo://h/");
    n.protocol = "bar";
    assertEq(n.href, "bar://h/");
    n.protocol = "http";
    assertEq(n.href, "bar://h/", "non-special to special is refused");
    const p = new URL("http://h:81/");
    p.protocol = "file";
    assertEq(p.href, "http://h:81/", "file cannot have a port");
    const c = new URL("http://h/");
    c.protocol = "WSS:junk";
    assertEq(c.href, "wss://h/");
});

test("username and password setters", () => {
    const u = new URL("http://h/");
    u.username = "a b";
    assertEq(u.href, "http://a%20b@h/");
    u.password = "p:@/";
    assertEq(u.href, "http://a%20b:p%3A%40%2F@h/");
    u.username = "";
    assertEq(u.href, "http://:p%3A%40%2F@h/");
    u.password = "";
    assertEq(u.href, "http://h/");
    const f = new URL("file:///x");
    f.username = "u";
    assertEq(f.href, "file:///x");
    const m = new URL("mailto:x");
    m.password = "p";
    assertEq(m.href, "mailto:x");
});

test("host and hostname setters", () => {
    const u = new URL("http://h/p");
    u.host = "x.com:81";
    assertEq(u.href, "http://x.com:81/p");
    u.host = "y.com:80";
    assertEq(u.href, "http://y.com/p");
    u.host = "";
    assertEq(u.href, "http://y.com/p", "special URLs need a host");
    u.host = "a b";
    assertEq(u.href, "http://y.com/p");
    u.host = "Z.COM/ignored";
    assertEq(u.href, "http://z.com/p");
    const v = new URL("http://h:81/p");
    v.host = "ex.com:99999";
    assertEq(v.href, "http://ex.com:81/p", "the host is set even though the port is refused");
    const w = new URL("http://h:81/");
    w.hostname = "x";
    assertEq(w.href, "http://x:81/");
    w.hostname = "y:90";
    assertEq(w.href, "http://x:81/", "hostname refuses a port");
    w.hostname = "[::1]";
    assertEq(w.href, "http://[::1]:81/");
    const m = new URL("mailto:x");
    m.host = "h";
    assertEq(m.href, "mailto:x");
    const n = new URL("foo://h/p");
    n.host = "";
    assertEq(n.href, "foo:///p");
});

test("port setter", () => {
    const u = new URL("http://h/");
    u.port = "8080";
    assertEq(u.href, "http://h:8080/");
    u.port = "80";
    assertEq(u.href, "http://h/");
    u.port = "81";
    u.port = "";
    assertEq(u.href, "http://h/");
    u.port = "8081abc";
    assertEq(u.port, "8081");
    u.port = "abc";
    assertEq(u.port, "8081");
    u.port = "99999";
    assertEq(u.port, "8081");
    u.port = 82;
    assertEq(u.port, "82");
    const f = new URL("file:///x");
    f.port = "1";
    assertEq(f.href, "file:///x");
});

test("pathname setter", () => {
    const u = new URL("http://h/a?q#f");
    u.pathname = "a/b c";
    assertEq(u.href, "http://h/a/b%20c?q#f");
    u.pathname = "/x/../y";
    assertEq(u.pathname, "/y");
    u.pathname = "?#";
    assertEq(u.pathname, "/%3F%23");
    u.pathname = "";
    assertEq(u.pathname, "/");
    const m = new URL("mailto:x");
    m.pathname = "y";
    assertEq(m.href, "mailto:x");
    const n = new URL("foo://h/a");
    n.pathname = "b";
    assertEq(n.href, "foo://h/b");
});

test("search and hash setters", () => {
    const u = new URL("http://h/p");
    u.search = "a=b c'";
    assertEq(u.href, "http://h/p?a=b%20c%27");
    u.search = "?x";
    assertEq(u.search, "?x");
    u.search = "#";
    assertEq(u.href, "http://h/p?%23");
    u.search = "";
    assertEq(u.href, "http://h/p");
    u.search = "?";
    assertEq([u.href, u.search], ["http://h/p?", ""]);
    u.hash = "x y";
    assertEq(u.href, "http://h/p?#x%20y");
    u.hash = "#";
    assertEq([u.href, u.hash], ["http://h/p?#", ""]);
    u.hash = "";
    assertEq(u.href, "http://h/p?");
    const m = new URL("mailto:x");
    m.search = "a";
    m.hash = "b";
    assertEq(m.href, "mailto:x?a#b");
});

test("href setter", () => {
    const u = new URL("http://h/?a=1");
    const sp = u.searchParams;
    u.href = "https://other/x?b=2";
    assertEq(u.host, "other");
    assertEq(sp.get("b"), "2");
    assertEq(sp.get("a"), null);
    assertThrows(() => { u.href = "not a url"; }, TypeError, /Invalid URL/);
    assertEq(u.href, "https://other/x?b=2");
});

test("searchParams is live in both directions", () => {
    const u = new URL("http://h/?a=1&b=2");
    const sp = u.searchParams;
    assertEq(u.searchParams === sp, true);
    sp.append("c", "3 4");
    assertEq(u.search, "?a=1&b=2&c=3+4");
    u.search = "?x=9";
    assertEq(sp.get("x"), "9");
    assertEq(sp.has("a"), false);
    sp.delete("x");
    assertEq(u.search, "");
    assertEq(u.href, "http://h/");
    u.search = "q=a b";
    assertEq(u.search, "?q=a%20b");
    assertEq(sp.get("q"), "a b");
    sp.set("q", "é&=");
    assertEq(u.href, "http://h/?q=%C3%A9%26%3D");
    sp.sort();
    assertEq(u.href, "http://h/?q=%C3%A9%26%3D");
    u.search = "";
    assertEq(sp.size, 0);
    const v = new URL("http://h/#frag");
    v.searchParams.append("k", "v");
    assertEq(v.href, "http://h/?k=v#frag");
});

test("URL is a well-behaved global class", () => {
    const d = Object.getOwnPropertyDescriptor(globalThis, "URL");
    assertEq([d.enumerable, d.writable, d.configurable], [false, true, true]);
    assertEq(Object.prototype.toString.call(new URL("http://h")), "[object URL]");
    assertThrows(() => URL("http://h"), TypeError);
    class MyURL extends URL {}
    assertEq(new MyURL("http://h/x").pathname, "/x");
});
