// A small HTTP server on loopback for tests of outbound fetch(): it records
// every request and connection, echoes what it got, redirects, holds
// answers until the test lets them go, streams slowly, and can serve TLS.
import http from "node:http";
import https from "node:https";
import zlib from "node:zlib";

export class Stub {
  constructor() {
    this.requests = [];       // { method, url, headers, body: Buffer }
    this.connections = 0;
    this.open = 0;            // requests being answered now
    this.maxOpen = 0;
    this.held = new Map();    // id -> function that answers it
    this.closed = new Set();  // ids whose client went away before the answer
    this.sockets = new Set();
    this.live = new Map();    // id -> { text, ended }: an /upload-live body as it arrives
  }

  async start({ tls = null } = {}) {
    const handler = (req, res) => this.handle(req, res);
    this.server = tls ? https.createServer(tls, handler) : http.createServer(handler);
    this.server.on("connection", (s) => {
      this.connections++;
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    this.server.on("secureConnection", () => {});
    await new Promise((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = this.server.address().port;
    this.url = `${tls ? "https" : "http"}://127.0.0.1:${this.port}`;
    return this;
  }

  async stop() {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }

  handle(req, res) {
    const chunks = [];
    const u0 = new URL(req.url, "http://stub");
    let live = null;
    if (u0.pathname === "/upload-live") {
      live = { text: "", bytes: 0, ended: false };
      this.live.set(u0.searchParams.get("id"), live);
    }
    req.on("data", (c) => {
      chunks.push(c);
      if (live) {
        live.bytes += c.length;
        if (live.text.length < 1000) live.text += c.toString("utf8");
      }
    });
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const u = new URL(req.url, "http://stub");
      const rec = { method: req.method, url: req.url, headers: req.headers, body };
      this.requests.push(rec);
      this.open++;
      this.maxOpen = Math.max(this.maxOpen, this.open);
      res.on("close", () => this.open--);
      this.route(u, req, res, rec);
    });
  }

  route(u, req, res, rec) {
    const q = (k) => u.searchParams.get(k);
    switch (u.pathname) {
      case "/echo": {
        res.setHeader("content-type", "application/json");
        res.setHeader("set-cookie", ["a=1; Path=/", "b=2"]);
        res.end(JSON.stringify({
          method: req.method, url: req.url, headers: req.headers,
          body: rec.body.toString("base64"), text: rec.body.toString("utf8"),
        }));
        return;
      }
      case "/upload-live": {
        // The body was recorded as it came (see handle); /live?id= shows it meanwhile.
        this.live.get(q("id")).ended = true;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ bytes: rec.body.length, text: rec.body.subarray(0, 1000).toString("utf8"),
          te: req.headers["transfer-encoding"] ?? null, sum: [...rec.body].reduce((a, b) => (a + b) % 65521, 0) }));
        return;
      }
      case "/live": {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(this.live.get(q("id")) ?? { text: "", bytes: 0, ended: false }));
        return;
      }
      case "/rawlatin": {
        // Node would send a header's non-ASCII characters as UTF-8: write the bytes by hand.
        req.socket.end(Buffer.concat([Buffer.from("HTTP/1.1 200 Fine\r\nx-latin: caf"), Buffer.from([0xe9]),
          Buffer.from("\r\nx-folded: one\r\n  two\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")]));
        return;
      }
      case "/redirect": {
        res.statusCode = Number(q("status") ?? 302);
        res.setHeader("location", q("to"));
        res.end("moved");
        return;
      }
      case "/loop":
        res.statusCode = 302;
        res.setHeader("location", "/loop");
        res.end();
        return;
      case "/status":
        res.statusCode = Number(q("code"));
        res.end(res.statusCode === 204 || res.statusCode === 304 ? undefined : "status body");
        return;
      case "/hold": {
        const id = q("id") ?? String(this.requests.length);
        res.on("close", () => {
          if (!res.writableEnded) this.closed.add(id);
        });
        this.held.set(id, (text = "released " + id) => {
          this.held.delete(id);
          if (!res.destroyed) res.end(text);
        });
        if (q("headFirst")) {
          res.writeHead(200, { "content-type": "text/plain" });
          res.write("head ");
          res.flushHeaders();
        }
        return;
      }
      case "/drip": {
        // n pieces, each after the test asks for it through release("drip-<i>").
        const n = Number(q("n") ?? 3);
        const id = q("id") ?? "drip";
        res.writeHead(200, { "content-type": "text/plain" });
        let i = 0;
        const next = () => {
          if (i === n) return res.end();
          res.write(`piece ${i}\n`);
          this.held.set(`${id}-${i}`, () => {
            this.held.delete(`${id}-${i}`);
            i++;
            next();
          });
        };
        res.on("close", () => {
          if (!res.writableEnded) this.closed.add(id);
        });
        next();
        return;
      }
      case "/big": {
        const n = Number(q("bytes"));
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": n });
        const piece = Buffer.alloc(65536, 0x61);
        let sent = 0;
        const pump = () => {
          while (sent < n) {
            const k = Math.min(piece.length, n - sent);
            sent += k;
            if (!res.write(k === piece.length ? piece : piece.subarray(0, k))) return res.once("drain", pump);
          }
          res.end();
        };
        pump();
        return;
      }
      case "/gzip": {
        const text = "compressed ".repeat(100);
        if (/gzip/.test(req.headers["accept-encoding"] ?? "")) {
          const z = zlib.gzipSync(text);
          res.writeHead(200, { "content-encoding": "gzip", "content-length": z.length, "content-type": "text/plain" });
          res.end(z);
        } else {
          res.end(text);
        }
        return;
      }
      case "/multipart": {
        const b = "----stubboundary";
        res.setHeader("content-type", `multipart/form-data; boundary=${b}`);
        res.end(`--${b}\r\nContent-Disposition: form-data; name="field"\r\n\r\nvalue\r\n` +
          `--${b}\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\nContent-Type: text/plain\r\n\r\nfile body\r\n--${b}--\r\n`);
        return;
      }
      default:
        res.statusCode = 404;
        res.end("no route " + u.pathname);
    }
  }

  release(id, text) {
    const f = this.held.get(id);
    if (!f) throw new Error(`nothing held as ${id}; held: ${[...this.held.keys()]}`);
    f(text);
  }
}

export async function startStub(opts) {
  return new Stub().start(opts);
}
