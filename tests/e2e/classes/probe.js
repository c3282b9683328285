// A test class: POST a JavaScript async-function body; it runs with
// (ctx, env, self) in scope and the result comes back as JSON. Lets one
// deployed class exercise storage and the Web APIs from the tests.
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
let constructed = 0; // module level: shared by the instances of this runtime

export class Probe {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
    this.mem = 0;
    this.created = ++constructed;
  }

  async fetch(request) {
    if (request.method !== "POST") return new Response("POST code\n", { status: 405 });
    const code = await request.text();
    try {
      const fn = new AsyncFunction("ctx", "env", "self", "request", code);
      const value = await fn(this.ctx, this.env, this, request);
      if (value instanceof Response) return value;
      return Response.json({ ok: true, value: value === undefined ? null : value });
    } catch (e) {
      return Response.json({ ok: false, name: e && e.name, message: e && e.message }, { status: 200 });
    }
  }
}
