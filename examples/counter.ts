// A counter per instance id, in the modern class shape (extends DurableObject).
//   curl -X POST localhost:8787/_do/counter/alice   -> 1, then 2, ...
//   curl localhost:8787/_do/counter/alice           -> the current value
//   curl -X DELETE localhost:8787/_do/counter/alice -> resets it
import { DurableObject } from "cloudflare:workers";

export class Counter extends DurableObject {
  async fetch(request: Request): Promise<Response> {
    const storage = this.ctx.storage;
    let value: number = (await storage.get<number>("value")) ?? 0;
    switch (request.method) {
      case "POST":
        value += 1;
        await storage.put("value", value);
        break;
      case "DELETE":
        await storage.delete("value");
        value = 0;
        break;
      case "GET":
      case "HEAD":
        break;
      default:
        return new Response("use GET, POST or DELETE\n", { status: 405, headers: { Allow: "GET, POST, DELETE" } });
    }
    return new Response(String(value) + "\n", { headers: { "Content-Type": "text/plain" } });
  }
}
