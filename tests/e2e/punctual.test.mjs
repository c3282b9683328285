// Work that a timer leaves behind is done at once, not when the server next
// wakes up for something else: an alarm on an idle server runs when it is
// due (it once waited for the next request or housekeeping tick, up to a
// second later), and a WebSocket message sent after a write from a
// setTimeout callback goes out as soon as the write is durable.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, waitFor } from "./lib/server.mjs";
import { connect } from "./lib/wsclient.mjs";

const PUNCTUAL = `export class Punctual {
  constructor(ctx) { this.ctx = ctx; }
  async fetch(request) {
    if (request.headers.get("Upgrade") === "websocket") {
      const [client, server] = Object.values(new WebSocketPair());
      this.ctx.acceptWebSocket(server);
      return new Response(null, { status: 101, webSocket: client });
    }
    const due = Date.now() + 150;
    await this.ctx.storage.put("due", due);
    await this.ctx.storage.setAlarm(due);
    return new Response("set");
  }
  async alarm() {
    const due = await this.ctx.storage.get("due");
    console.log("alarm ran " + (Date.now() - due) + " ms late");
  }
  webSocketMessage(ws, m) {
    setTimeout(async () => {
      await this.ctx.storage.put("last", m);
      ws.send("after-write:" + m);
    }, 20);
  }
}`;

let srv;
before(async () => {
  // fsync: the message waits for a real sync, so a late commit shows.
  srv = await startServer({ durability: "fsync", args: ["--threads", "1"] });
  await srv.deploy("punctual", PUNCTUAL);
});
after(async () => srv && srv.cleanup());

test("an alarm on an idle server runs when it is due", async () => {
  for (let i = 0; i < 3; i++) {
    const seen = (srv.log.match(/alarm ran/g) ?? []).length;
    assert.equal((await srv.text(`/_do/punctual/a${i}`)).text, "set");
    // Nothing else reaches the server until the alarm has run.
    const line = await waitFor(() => srv.log.match(new RegExp(`(?:[^]*?alarm ran){${seen + 1}} (\\d+) ms late`)),
      { timeout: 5000, what: "the alarm to run" });
    const late = Number(line[1]);
    assert.ok(late >= 0 && late < 200, `alarm ${i} ran ${late} ms late`);
  }
});

test("a message sent after a write in a timer goes out once the write is durable, not later", async () => {
  const c = await connect(`ws://127.0.0.1:${srv.port}/_do/punctual/ws`);
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    c.send(`m${i}`);
    assert.equal(await c.next(), `after-write:m${i}`);
    const took = Date.now() - t0;
    assert.ok(took < 250, `the message took ${took} ms (the timer waits 20 ms)`);
  }
  await c.close(1000);
});
