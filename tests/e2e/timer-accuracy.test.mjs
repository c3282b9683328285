// A timer never fires before its delay, measured with performance.now():
// the loop's millisecond clock runs a little behind the precise one, which
// let timers fire up to a millisecond early (seen as a flaky runtime test).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./lib/server.mjs";

let srv;
before(async () => {
  srv = await startServer({ args: ["--threads", "1"] });
  await srv.deploy("timing", `export class Timing {
    async fetch() {
      const early = [];
      // Something else wakes the loop every millisecond, so a timer runs at
      // the first turn its millisecond clock allows.
      const busy = setInterval(() => {}, 1);
      for (let i = 0; i < 60; i++) {
        const delay = 1 + (i % 7);
        const t0 = performance.now();
        await new Promise((r) => setTimeout(r, delay));
        const took = performance.now() - t0;
        if (took < delay) early.push([delay, took]);
      }
      clearInterval(busy);
      return Response.json(early);
    }
  }`);
});
after(async () => srv && srv.cleanup());

test("sixty timers of 1 to 7 ms: none fires early", async () => {
  const r = await srv.json("/_do/timing/t");
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, []);
});
