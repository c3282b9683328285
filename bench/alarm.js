// Alarm lateness for bench/storage.mjs: each instance keeps the time its
// alarm is due and logs how late alarm() ran.
export class AlarmBench {
  constructor(ctx) {
    this.ctx = ctx;
  }

  async fetch(request) {
    const at = Number(new URL(request.url).searchParams.get("at"));
    await this.ctx.storage.put("at", at);
    await this.ctx.storage.setAlarm(at);
    return new Response("set\n");
  }

  async alarm() {
    const at = await this.ctx.storage.get("at");
    console.log(`alarm-late ${Date.now() - at}`);
  }
}
