// The peer for `make bench`: the same counter as examples/counter.ts, as a
// Durable Object on Cloudflare's workerd, behind a router that serves
// /_do/counter/<id> like dorm does.
import { DurableObject } from "cloudflare:workers";

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
    const m = new URL(request.url).pathname.match(/^\/_do\/counter\/([^/]+)/);
    if (!m) return new Response("not found\n", { status: 404 });
    const stub = env.COUNTER.get(env.COUNTER.idFromName(decodeURIComponent(m[1])));
    return stub.fetch(request);
  },
};
