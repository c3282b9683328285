// A test class with an alarm() handler. fetch() runs a POSTed async-function
// body with (ctx, env, self, request) in scope, as probe.js does. alarm()
// notes every run in storage ("runs": when, retryCount, isRetry, what
// getAlarm() said meanwhile, the constructor's time of this life) and
// follows the plan kept under "plan": fail the first `fail` runs, set the
// next alarm `again` ms later until `times` runs are done, and take `slow`
// ms (on a timer) before finishing (then count it under "finished").
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
let lives = 0; // module level: constructor calls in this runtime

export class Alarmed {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
    this.life = ++lives;
    this.bornAt = Date.now();
  }

  async fetch(request) {
    const code = await request.text();
    try {
      const fn = new AsyncFunction("ctx", "env", "self", "request", code);
      const value = await fn(this.ctx, this.env, this, request);
      return Response.json({ ok: true, value: value === undefined ? null : value });
    } catch (e) {
      return Response.json({ ok: false, name: e && e.name, message: e && e.message });
    }
  }

  async alarm(info) {
    const s = this.ctx.storage;
    const now = Date.now();
    const during = await s.getAlarm();
    const plan = (await s.get("plan")) ?? {};
    const runs = (await s.get("runs")) ?? [];
    runs.push({ at: now, retryCount: info.retryCount, isRetry: info.isRetry, during,
      life: this.life, bornAt: this.bornAt });
    await s.put("runs", runs);
    console.log(`alarm run ${runs.length} retryCount=${info.retryCount}`);
    if (plan.fail && runs.length <= plan.fail) throw new Error(`planned failure ${runs.length}`);
    if (plan.again && runs.length < (plan.times ?? 1)) await s.setAlarm(now + plan.again);
    if (plan.slow) await new Promise((r) => setTimeout(r, plan.slow));
    if (plan.slow) await s.put("finished", ((await s.get("finished")) ?? 0) + 1);
  }
}
