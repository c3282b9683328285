// WebSocket clients for the black-box tests: a friendly one on the `ws`
// package (what a user's program or a browser does), and a raw one that
// writes frames by hand, for what a well-behaved client never sends.
import WebSocket from "ws";
import net from "node:net";
import crypto from "node:crypto";

// A connected `ws` client whose messages can be awaited in order.
export class Client {
  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiting = [];
    this.pings = 0;
    ws.on("message", (data, isBinary) => this.#push(isBinary ? Buffer.from(data) : data.toString()));
    ws.on("ping", () => this.pings++);
    this.#closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on("error", () => {});
  }

  #closed;

  // The close ({code, reason}); rejects if the socket is still open after
  // 15 s, so that a close the server never sends fails the test instead of
  // hanging it.
  get closed() {
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error("the WebSocket was not closed within 15 s")), 15000);
    });
    return Promise.race([this.#closed, late]).finally(() => clearTimeout(timer));
  }

  #push(m) {
    const w = this.waiting.shift();
    if (w) w.resolve(m);
    else this.queue.push(m);
  }

  // The next message (text as a string, binary as a Buffer).
  next(timeout = 10000) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return new Promise((resolve, reject) => {
      const w = { resolve: (m) => { clearTimeout(t); resolve(m); } };
      const t = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(w), 1);
        reject(new Error("timed out waiting for a WebSocket message"));
      }, timeout);
      this.waiting.push(w);
    });
  }

  async json(timeout) {
    return JSON.parse(await this.next(timeout));
  }

  send(m) {
    this.ws.send(m);
  }

  // Sends a command to the test room and returns its JSON answer.
  async ask(cmd) {
    this.send(JSON.stringify(cmd));
    return this.json();
  }

  close(code, reason) {
    this.ws.close(code, reason);
    return this.closed;
  }
}

// Opens a WebSocket; resolves once open, or rejects with the HTTP status
// the server answered instead (err.status).
export function connect(url, opts = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers, maxPayload: 64 << 20 });
    const c = new Client(ws);
    ws.once("open", () => resolve(c));
    ws.once("unexpected-response", (req, res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => {
        const e = new Error(`upgrade refused: ${res.statusCode} ${body}`);
        e.status = res.statusCode;
        e.body = body;
        e.headers = res.headers;
        reject(e);
      });
    });
    ws.once("error", reject);
  });
}

// ---- raw frames -------------------------------------------------------------

export function frame(opcode, payload = Buffer.alloc(0), { mask = true, fin = true } = {}) {
  payload = Buffer.from(payload);
  const len = payload.length;
  const head = [((fin ? 0x80 : 0) | opcode)];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 255);
  else {
    head.push(m | 127);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(len));
    head.push(...b);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = crypto.randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), key, body]);
}

// Frames the server sent (unmasked), from the front of buf.
export function parseFrames(buf) {
  const frames = [];
  let off = 0;
  for (;;) {
    if (buf.length - off < 2) break;
    const b0 = buf[off], b1 = buf[off + 1];
    let len = b1 & 127, p = off + 2;
    if (len === 126) {
      if (buf.length - p < 2) break;
      len = buf.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      if (buf.length - p < 8) break;
      len = Number(buf.readBigUInt64BE(p));
      p += 8;
    }
    if (buf.length - p < len) break;
    frames.push({ fin: !!(b0 & 0x80), opcode: b0 & 15, payload: buf.subarray(p, p + len) });
    off = p + len;
  }
  return { frames, rest: buf.subarray(off) };
}

// A TCP connection that did the handshake by hand.
export class RawClient {
  constructor(sock, rest) {
    this.sock = sock;
    this.buf = rest;
    this.frames = [];
    this.ended = new Promise((resolve) => sock.on("close", resolve));
    this.waiters = [];
    sock.on("data", (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      const { frames, rest: r } = parseFrames(this.buf);
      this.buf = r;
      this.frames.push(...frames);
      this.#wake();
    });
    sock.on("close", () => this.#wake());
    sock.on("error", () => {});
    const { frames, rest: r } = parseFrames(this.buf);
    this.buf = r;
    this.frames.push(...frames);
  }

  #wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  write(b) {
    this.sock.write(b);
  }

  // Waits until a frame matching pred arrived (or the socket closed).
  async waitFrame(pred, timeout = 10000) {
    const until = Date.now() + timeout;
    for (;;) {
      const f = this.frames.find(pred);
      if (f) return f;
      if (this.sock.destroyed || this.sock.readyState === "closed") return null;
      if (Date.now() > until) throw new Error("timed out waiting for a frame");
      await new Promise((r) => {
        const t = setTimeout(r, 100);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  async closeFrame(timeout) {
    const f = await this.waitFrame((f) => f.opcode === 8, timeout);
    if (!f) return null;
    return { code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005, reason: f.payload.subarray(2).toString() };
  }
}

export function rawConnect(port, path, { headers = {}, key = crypto.randomBytes(16).toString("base64") } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    sock.on("error", reject);
    sock.on("connect", () => {
      const h = { Host: `127.0.0.1:${port}`, Upgrade: "websocket", Connection: "Upgrade",
        "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13", ...headers };
      sock.write(`GET ${path} HTTP/1.1\r\n${Object.entries(h).filter(([, v]) => v !== null).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`);
    });
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      sock.off("data", onData);
      const head = buf.subarray(0, end).toString();
      const status = Number(head.split(" ")[1]);
      const rest = buf.subarray(end + 4);
      resolve({ status, head, client: status === 101 ? new RawClient(sock, rest) : null, sock, rest });
    };
    sock.on("data", onData);
  });
}
