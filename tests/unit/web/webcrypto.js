// WebCrypto: crypto.subtle checked against known-answer vectors (FIPS 180 for SHA, RFC 4231 for
// HMAC, the GCM specification's test cases for AES-GCM, SP 800-38A for CBC and CTR, RFC 8032 for
// Ed25519, RFC 6070 for PBKDF2, RFC 5869 for HKDF, RFC 6979 for an ECDSA signature), plus round
// trips of every algorithm, key formats, usages and the errors the API promises.

const subtle = crypto.subtle;
const enc = (s) => new TextEncoder().encode(s);
const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s) => new Uint8Array(s.match(/../g).map((x) => parseInt(x, 16)));
const fill = (n, v) => new Uint8Array(n).fill(v);

test("digest: SHA-1/256/384/512 of \"abc\" (FIPS 180)", async () => {
    const want = {
        "SHA-1": "a9993e364706816aba3e25717850c26c9cd0d89d",
        "SHA-256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "SHA-384": "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
        "SHA-512": "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    };
    for (const [alg, h] of Object.entries(want)) {
        const d = await subtle.digest(alg, enc("abc"));
        assert(d instanceof ArrayBuffer);
        assertEq(hex(d), h, alg);
    }
    assertEq(hex(await subtle.digest({ name: "sha-256" }, new Uint8Array(0))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "names are case-insensitive");
    await assertRejects(subtle.digest("MD5", enc("x")), "NotSupportedError");
    await assertRejects(subtle.digest("SHA-256", "not bytes"), TypeError);
});

test("HMAC: RFC 4231 test cases 1, 2 and 6", async () => {
    const cases = [
        [fill(20, 0x0b), enc("Hi There"), "SHA-256", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"],
        [fill(20, 0x0b), enc("Hi There"), "SHA-384", "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"],
        [fill(20, 0x0b), enc("Hi There"), "SHA-512", "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"],
        [enc("Jefe"), enc("what do ya want for nothing?"), "SHA-256", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"],
        [fill(131, 0xaa), enc("Test Using Larger Than Block-Size Key - Hash Key First"), "SHA-256", "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"],
    ];
    for (const [k, data, hash, want] of cases) {
        const key = await subtle.importKey("raw", k, { name: "HMAC", hash }, false, ["sign", "verify"]);
        assertEq([key.type, key.algorithm.name, key.algorithm.hash.name, key.algorithm.length], ["secret", "HMAC", hash, k.length * 8]);
        const mac = await subtle.sign("HMAC", key, data);
        assertEq(hex(mac), want, hash);
        assertEq(await subtle.verify("HMAC", key, mac, data), true);
        const bad = new Uint8Array(mac);
        bad[0] ^= 1;
        assertEq(await subtle.verify("HMAC", key, bad, data), false);
        assertEq(await subtle.verify("HMAC", key, bad.subarray(1), data), false, "a shorter MAC does not verify");
    }
});

test("AES-GCM: the GCM specification's test cases 2, 3, 4 and 16", async () => {
    const K = "feffe9928665731c6d6a8f9467308308";
    const IV = unhex("cafebabefacedbaddecaf888");
    const P = unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255");
    const A = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    const cases = [
        ["00".repeat(16), new Uint8Array(12), new Uint8Array(16), undefined, "0388dace60b6a392f328c2b971b2fe78" + "ab6e47d42cec13bdf53a67b21257bddf"],
        [K, IV, P, undefined, "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985" + "4d5c2af327cd64a62cf35abd2ba6fab4"],
        [K, IV, P.subarray(0, 60), A, "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091" + "5bc94fbc3221a5db94fae95ae7121a47"],
        [K + K, IV, P.subarray(0, 60), A, "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662" + "76fc6ece0f4e1768cddf8853bb2d551b"],
    ];
    for (const [k, iv, p, a, want] of cases) {
        const key = await subtle.importKey("raw", unhex(k), "AES-GCM", true, ["encrypt", "decrypt"]);
        assertEq(key.algorithm, { name: "AES-GCM", length: k.length * 4 });
        const params = a === undefined ? { name: "AES-GCM", iv } : { name: "AES-GCM", iv, additionalData: a };
        const c = await subtle.encrypt(params, key, p);
        assertEq(hex(c), want);
        assertEq(hex(await subtle.decrypt(params, key, c)), hex(p));
        const tampered = new Uint8Array(c);
        tampered[0] ^= 0x80;
        await assertRejects(subtle.decrypt(params, key, tampered), "OperationError", /altered/);
    }
    const key = await subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false, ["encrypt", "decrypt"]);
    const short = await subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(12), tagLength: 96 }, key, enc("x"));
    assertEq(short.byteLength, 1 + 12);
    await assertRejects(subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(12), tagLength: 100 }, key, enc("x")), "OperationError");
    await assertRejects(subtle.encrypt({ name: "AES-GCM" }, key, enc("x")), TypeError, /iv/);
});

test("AES-CBC and AES-CTR: SP 800-38A F.2.1 and F.5.1", async () => {
    const k = unhex("2b7e151628aed2a6abf7158809cf4f3c");
    const cbc = await subtle.importKey("raw", k, { name: "AES-CBC" }, false, ["encrypt", "decrypt"]);
    const iv = unhex("000102030405060708090a0b0c0d0e0f");
    const p = unhex("6bc1bee22e409f96e93d7e117393172a");
    const c = await subtle.encrypt({ name: "AES-CBC", iv }, cbc, p);
    assertEq(c.byteLength, 32, "one block and a block of PKCS#7 padding");
    assertEq(hex(c).slice(0, 32), "7649abac8119b246cee98e9b12e9197d");
    assertEq(hex(await subtle.decrypt({ name: "AES-CBC", iv }, cbc, c)), hex(p));
    await assertRejects(subtle.decrypt({ name: "AES-CBC", iv }, cbc, new Uint8Array(32)), "OperationError", /padding/);
    await assertRejects(subtle.encrypt({ name: "AES-CBC", iv: new Uint8Array(8) }, cbc, p), "OperationError", /16-byte iv/);

    const ctr = await subtle.importKey("raw", k, "AES-CTR", false, ["encrypt", "decrypt"]);
    const counter = unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
    const e = await subtle.encrypt({ name: "AES-CTR", counter, length: 64 }, ctr, p);
    assertEq(hex(e), "874d6191b620e3261bef6864990db6ce");
    // A 4-bit counter at 15 wraps to 0 without carrying into the rest of the block.
    const wrap = unhex("000000000000000000000000000000" + "0f");
    const data = new Uint8Array(48);
    const c1 = new Uint8Array(await subtle.encrypt({ name: "AES-CTR", counter: wrap, length: 4 }, ctr, data));
    const block0 = new Uint8Array(await subtle.encrypt({ name: "AES-CTR", counter: unhex("00".repeat(16)), length: 128 }, ctr, new Uint8Array(16)));
    assertEq(hex(c1.subarray(16, 32)), hex(block0), "the second block used the counter 0");
});

test("AES-KW wraps and unwraps a key", async () => {
    const kek = await subtle.generateKey({ name: "AES-KW", length: 256 }, false, ["wrapKey", "unwrapKey"]);
    const key = await subtle.generateKey({ name: "AES-GCM", length: 128 }, true, ["encrypt", "decrypt"]);
    const wrapped = await subtle.wrapKey("raw", key, kek, "AES-KW");
    assertEq(wrapped.byteLength, 24);
    const back = await subtle.unwrapKey("raw", wrapped, kek, "AES-KW", "AES-GCM", true, ["decrypt"]);
    assertEq(hex(await subtle.exportKey("raw", back)), hex(await subtle.exportKey("raw", key)));
    const bad = new Uint8Array(wrapped);
    bad[3] ^= 1;
    await assertRejects(subtle.unwrapKey("raw", bad, kek, "AES-KW", "AES-GCM", true, ["decrypt"]), "OperationError");
    await assertRejects(subtle.encrypt("AES-KW", kek, new Uint8Array(16)), "NotSupportedError");
});

test("Ed25519: RFC 8032 test vectors 1, 2 and 3", async () => {
    const vectors = [
        ["9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"],
        ["4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"],
        ["c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7", "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"],
    ];
    const b64u = (b) => btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    for (const [sk, pk, msg, sig] of vectors) {
        const pkcs8 = new Uint8Array([...unhex("302e020100300506032b657004220420"), ...unhex(sk)]);
        const priv = await subtle.importKey("pkcs8", pkcs8, "Ed25519", true, ["sign"]);
        const m = msg === "" ? new Uint8Array(0) : unhex(msg);
        assertEq(hex(await subtle.sign("Ed25519", priv, m)), sig);
        const pub = await subtle.importKey("raw", unhex(pk), { name: "Ed25519" }, true, ["verify"]);
        assertEq(await subtle.verify("Ed25519", pub, unhex(sig), m), true);
        assertEq(await subtle.verify("Ed25519", pub, unhex(sig), enc("other")), false);
        const jwk = await subtle.exportKey("jwk", priv);
        assertEq([jwk.kty, jwk.crv, jwk.x, jwk.d], ["OKP", "Ed25519", b64u(unhex(pk)), b64u(unhex(sk))], "the JWK holds the RFC's keys");
        const fromJwk = await subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x }, "Ed25519", false, ["verify"]);
        assertEq(await subtle.verify("Ed25519", fromJwk, unhex(sig), m), true);
        assertEq(hex(await subtle.exportKey("raw", pub)), pk);
    }
    await assertRejects(subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: "AAAA", d: "AAAA" }, "Ed25519", false, ["sign"]), "DataError");
    await assertRejects(subtle.importKey("raw", new Uint8Array(31), "Ed25519", false, ["verify"]), "DataError", /32 bytes/);
});

test("ECDSA: the RFC 6979 P-256 signature verifies; round trips on every curve", async () => {
    const jwk = { kty: "EC", crv: "P-256", x: "YP7UuiVanTHJYet0xjVtaMBJuJI7Yfps5mliLmDyn7Y", y: "eQP-EAi4vJmkGunpVii8ZPLxsgwtfp9Rd6PClNRGIpk" };
    const pub = await subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
    const sig = unhex("efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8");
    assertEq(await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, pub, sig, enc("sample")), true);
    assertEq(await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, pub, sig, enc("samples")), false);
    assertEq(await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, pub, sig.subarray(1), enc("sample")), false);
    const raw = new Uint8Array(await subtle.exportKey("raw", pub));
    assertEq([raw.length, raw[0]], [65, 4]);
    for (const [curve, hash, size] of [["P-256", "SHA-256", 64], ["P-384", "SHA-384", 96], ["P-521", "SHA-512", 132]]) {
        const pair = await subtle.generateKey({ name: "ECDSA", namedCurve: curve }, true, ["sign", "verify"]);
        assertEq([pair.privateKey.type, pair.publicKey.type, pair.privateKey.usages, pair.publicKey.usages],
            ["private", "public", ["sign"], ["verify"]]);
        assertEq(pair.publicKey.algorithm, { name: "ECDSA", namedCurve: curve });
        const s = await subtle.sign({ name: "ECDSA", hash }, pair.privateKey, enc("msg"));
        assertEq(s.byteLength, size, `${curve} signatures are r || s`);
        assertEq(await subtle.verify({ name: "ECDSA", hash }, pair.publicKey, s, enc("msg")), true);
        for (const format of ["spki", "jwk", "raw"]) {
            const out = await subtle.exportKey(format, pair.publicKey);
            const back = await subtle.importKey(format, out, { name: "ECDSA", namedCurve: curve }, true, ["verify"]);
            assertEq(await subtle.verify({ name: "ECDSA", hash }, back, s, enc("msg")), true, `${curve} ${format}`);
        }
        for (const format of ["pkcs8", "jwk"]) {
            const out = await subtle.exportKey(format, pair.privateKey);
            const back = await subtle.importKey(format, out, { name: "ECDSA", namedCurve: curve }, true, ["sign"]);
            const s2 = await subtle.sign({ name: "ECDSA", hash }, back, enc("again"));
            assertEq(await subtle.verify({ name: "ECDSA", hash }, pair.publicKey, s2, enc("again")), true, `${curve} ${format}`);
        }
    }
    await assertRejects(subtle.importKey("jwk", { ...jwk, crv: "P-384" }, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]), "DataError", /crv/);
    await assertRejects(subtle.importKey("jwk", { ...jwk, x: jwk.y }, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]), "DataError");
    await assertRejects(subtle.generateKey({ name: "ECDSA", namedCurve: "P-192" }, true, ["sign"]), "NotSupportedError");
});

test("RSA: PKCS#1 v1.5, PSS and OAEP round trips, formats, and the same key through every format", async () => {
    const pair = await subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
        true, ["sign", "verify"]);
    const alg = pair.publicKey.algorithm;
    assertEq([alg.name, alg.modulusLength, [...alg.publicExponent], alg.hash.name], ["RSASSA-PKCS1-v1_5", 2048, [1, 0, 1], "SHA-256"]);
    const s = await subtle.sign("RSASSA-PKCS1-v1_5", pair.privateKey, enc("data"));
    assertEq(s.byteLength, 256);
    assertEq(hex(await subtle.sign("RSASSA-PKCS1-v1_5", pair.privateKey, enc("data"))), hex(s), "PKCS#1 v1.5 is deterministic");
    assertEq(await subtle.verify("RSASSA-PKCS1-v1_5", pair.publicKey, s, enc("data")), true);
    assertEq(await subtle.verify("RSASSA-PKCS1-v1_5", pair.publicKey, s, enc("date")), false);
    const spki = await subtle.exportKey("spki", pair.publicKey);
    const pkcs8 = await subtle.exportKey("pkcs8", pair.privateKey);
    const jwkPriv = await subtle.exportKey("jwk", pair.privateKey);
    assertEq([jwkPriv.kty, jwkPriv.alg, jwkPriv.e, jwkPriv.ext, jwkPriv.key_ops], ["RSA", "RS256", "AQAB", true, ["sign"]]);
    const pss = await subtle.importKey("pkcs8", pkcs8, { name: "RSA-PSS", hash: "SHA-256" }, false, ["sign"]);
    const pssPub = await subtle.importKey("spki", spki, { name: "RSA-PSS", hash: "SHA-256" }, false, ["verify"]);
    const ps = await subtle.sign({ name: "RSA-PSS", saltLength: 32 }, pss, enc("data"));
    assertEq(await subtle.verify({ name: "RSA-PSS", saltLength: 32 }, pssPub, ps, enc("data")), true);
    assertEq(await subtle.verify({ name: "RSA-PSS", saltLength: 20 }, pssPub, ps, enc("data")), false, "the salt length is part of the check");
    const fromJwk = await subtle.importKey("jwk", jwkPriv, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["sign"]);
    assertEq(hex(await subtle.sign("RSASSA-PKCS1-v1_5", fromJwk, enc("data"))), hex(s), "the JWK is the same key");
    const oaep = await subtle.importKey("spki", spki, { name: "RSA-OAEP", hash: "SHA-256" }, false, ["encrypt"]);
    const oaepPriv = await subtle.importKey("pkcs8", pkcs8, { name: "RSA-OAEP", hash: "SHA-256" }, false, ["decrypt"]);
    const ct = await subtle.encrypt({ name: "RSA-OAEP", label: enc("l") }, oaep, enc("secret"));
    assertEq(new TextDecoder().decode(await subtle.decrypt({ name: "RSA-OAEP", label: enc("l") }, oaepPriv, ct)), "secret");
    await assertRejects(subtle.decrypt({ name: "RSA-OAEP" }, oaepPriv, ct), "OperationError", undefined, "the wrong label fails");
    await assertRejects(subtle.importKey("spki", pkcs8, { name: "RSA-OAEP", hash: "SHA-256" }, false, ["encrypt"]), "DataError");
    await assertRejects(subtle.importKey("jwk", { ...jwkPriv, alg: "RS384" }, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["sign"]), "DataError", /alg/);
    await assertRejects(subtle.generateKey({ name: "RSA-PSS", modulusLength: 512, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["sign"]),
        "OperationError", /modulusLength/);
});

test("PBKDF2 (RFC 6070), HKDF (RFC 5869), and deriveKey into AES", async () => {
    const pw = await subtle.importKey("raw", enc("password"), "PBKDF2", false, ["deriveBits", "deriveKey"]);
    assertEq(hex(await subtle.deriveBits({ name: "PBKDF2", hash: "SHA-1", salt: enc("salt"), iterations: 1 }, pw, 160)), "0c60c80f961f0e71f3a9b524af6012062fe037a6");
    assertEq(hex(await subtle.deriveBits({ name: "PBKDF2", hash: "SHA-1", salt: enc("salt"), iterations: 4096 }, pw, 160)), "4b007901b765489abead49d926f721d065a429c1");
    assertEq(hex(await subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt: enc("salt"), iterations: 1 }, pw, 256)), "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
    await assertRejects(subtle.importKey("raw", enc("x"), "PBKDF2", true, ["deriveBits"]), "SyntaxError", /extractable/);
    await assertRejects(subtle.deriveBits({ name: "PBKDF2", hash: "SHA-1", salt: enc("salt"), iterations: 1 }, pw, 12), "OperationError", /multiple of 8/);

    const ikm = await subtle.importKey("raw", fill(22, 0x0b), "HKDF", false, ["deriveBits"]);
    const okm = await subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: unhex("000102030405060708090a0b0c"), info: unhex("f0f1f2f3f4f5f6f7f8f9") }, ikm, 336);
    assertEq(hex(okm), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");

    const aes = await subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt: enc("salt"), iterations: 1 }, pw, { name: "AES-GCM", length: 256 }, true, ["encrypt"]);
    assertEq(aes.algorithm, { name: "AES-GCM", length: 256 });
    assertEq(hex(await subtle.exportKey("raw", aes)), "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
    const noDerive = await subtle.importKey("raw", enc("p"), "PBKDF2", false, ["deriveBits"]);
    await assertRejects(subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt: enc("s"), iterations: 1 }, noDerive, { name: "AES-GCM", length: 128 }, true, ["encrypt"]),
        "InvalidAccessError", /deriveKey/);
});

test("ECDH and X25519 agree on the same secret from both sides", async () => {
    for (const [alg, bits] of [[{ name: "ECDH", namedCurve: "P-256" }, 256], [{ name: "ECDH", namedCurve: "P-384" }, 384], [{ name: "X25519" }, 256]]) {
        const a = await subtle.generateKey(alg, true, ["deriveBits", "deriveKey"]);
        const b = await subtle.generateKey(alg, true, ["deriveBits"]);
        const ab = await subtle.deriveBits({ name: alg.name, public: b.publicKey }, a.privateKey, null);
        const ba = await subtle.deriveBits({ name: alg.name, public: a.publicKey }, b.privateKey, bits);
        assertEq(hex(ab), hex(ba), alg.name);
        assertEq(ab.byteLength * 8, bits);
        const half = await subtle.deriveBits({ name: alg.name, public: b.publicKey }, a.privateKey, 100);
        assertEq([half.byteLength, new Uint8Array(half)[12] & 0x0f], [13, 0], "100 bits: 13 bytes, the last 4 bits clear");
        assertEq(a.publicKey.usages, []);
        const k = await subtle.deriveKey({ name: alg.name, public: b.publicKey }, a.privateKey, { name: "HMAC", hash: "SHA-256", length: 256 }, true, ["sign"]);
        assertEq(hex(await subtle.exportKey("raw", k)), hex(ab).slice(0, 64));
    }
    const p256 = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
    const p384 = await subtle.generateKey({ name: "ECDH", namedCurve: "P-384" }, true, ["deriveBits"]);
    await assertRejects(subtle.deriveBits({ name: "ECDH", public: p384.publicKey }, p256.privateKey, null), "InvalidAccessError", /different curves/);
});

test("keys: export rules, usages, JWK checks, algorithm mismatches", async () => {
    const k = await subtle.generateKey({ name: "HMAC", hash: "SHA-512" }, true, ["sign"]);
    assertEq(k.algorithm.length, 1024, "HMAC keys default to the hash's block size");
    assert(k instanceof CryptoKey);
    assertThrows(() => new CryptoKey(), TypeError, /Illegal constructor/);
    const jwk = await subtle.exportKey("jwk", k);
    assertEq([jwk.kty, jwk.alg, jwk.ext, jwk.key_ops, jwk.k.length], ["oct", "HS512", true, ["sign"], 171]);
    const hidden = await subtle.generateKey({ name: "AES-GCM", length: 128 }, false, ["encrypt"]);
    await assertRejects(subtle.exportKey("raw", hidden), "InvalidAccessError", /not extractable/);
    await assertRejects(subtle.sign("HMAC", hidden, enc("x")), "InvalidAccessError", /AES-GCM key, not a HMAC key/);
    await assertRejects(subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, await subtle.generateKey({ name: "AES-GCM", length: 128 }, false, ["decrypt"]), enc("x")),
        "InvalidAccessError", /do not include "encrypt"/);
    await assertRejects(subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false, ["sign"]), "SyntaxError", /cannot be used to sign/);
    await assertRejects(subtle.importKey("raw", new Uint8Array(15), "AES-GCM", false, ["encrypt"]), "DataError", /16, 24 or 32 bytes/);
    await assertRejects(subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false, []), "SyntaxError", /at least one usage/);
    await assertRejects(subtle.importKey("jwk", { kty: "oct", k: "AAAAAAAAAAAAAAAAAAAAAA", key_ops: ["decrypt"] }, "AES-GCM", false, ["encrypt"]), "DataError", /key_ops/);
    await assertRejects(subtle.importKey("jwk", { kty: "oct", k: "AAAAAAAAAAAAAAAAAAAAAA", ext: false }, "AES-GCM", true, ["encrypt"]), "DataError", /ext/);
    await assertRejects(subtle.importKey("jwk", { kty: "oct", k: "not base64!" }, "AES-GCM", false, ["encrypt"]), "DataError", /base64url/);
    await assertRejects(subtle.importKey("jwk", { kty: "RSA", k: "AA" }, "AES-GCM", false, ["encrypt"]), "DataError", /kty/);
    await assertRejects(subtle.importKey("bogus", new Uint8Array(16), "AES-GCM", false, ["encrypt"]), TypeError);
    await assertRejects(subtle.importKey("raw", new Uint8Array(16), "AES-XTS", false, ["encrypt"]), "NotSupportedError");
    await assertRejects(subtle.importKey("spki", new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]), { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]), "DataError");
    await assertRejects(subtle.generateKey({ name: "HMAC" }, true, ["sign"]), TypeError, /hash/);
    const roundtrip = await subtle.importKey("jwk", jwk, { name: "HMAC", hash: "SHA-512" }, true, ["sign"]);
    assertEq(hex(await subtle.sign("HMAC", roundtrip, enc("m"))), hex(await subtle.sign("HMAC", k, enc("m"))));
});

test("timingSafeEqual and DigestStream", async () => {
    assertEq(crypto.timingSafeEqual(enc("abc"), enc("abc")), true);
    assertEq(crypto.subtle.timingSafeEqual(enc("abc").buffer, enc("abd")), false);
    assertThrows(() => crypto.timingSafeEqual(enc("a"), enc("ab")), TypeError, /same byte length/);
    assertThrows(() => crypto.timingSafeEqual("a", "a"), TypeError);
    const ds = new crypto.DigestStream("SHA-256");
    const w = ds.getWriter();
    await w.write(enc("a"));
    await w.write(enc("bc"));
    await w.close();
    assertEq(hex(await ds.digest), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assertThrows(() => new crypto.DigestStream("AES-GCM"), "NotSupportedError");
});
