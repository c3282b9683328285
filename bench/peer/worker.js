// The peer for `make bench`: the same counter as examples/counter.ts and
// the same WebSocket room as bench/room.js, as Durable Objects on
// Cloudflare's workerd, behind a router that serves /_do/<name>/<id> like
// dorm does.
import { DurableObject } from "cloudflare:workers";
export { BenchRoom } from "./room.js";

export class Counter extends DurableObject {
  async fetch(request) {
    const storage = this.ctx.storage;
    let value = (await storage.get("value")) ?? 0;
    if (request.method === "POST") {
      value += 1;
      await storage.put("value", value);
    }
    return new Response(String(value) + "\n", { headers: { "Content-Type": "text/plain" } });
  }
}

export default {
  async fetch(request, env) {
    const m = new URL(request.url).pathname.match(/^\/_do\/(counter|bench-room)\/([^/]+)/);
    if (!m) return new Response("not found\n", { status: 404 });
    const ns = m[1] === "counter" ? env.COUNTER : env.ROOM;
    return ns.get(ns.idFromName(decodeURIComponent(m[2]))).fetch(request);
  },
};
