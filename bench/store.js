// The class bench/storage.mjs measures storage with: it runs a loop of one
// storage operation inside the instance and times it there, so the figure
// is the storage layer's, not HTTP's.
export class StoreBench {
  constructor(ctx) {
    this.ctx = ctx;
  }

  async fetch(request) {
    const url = new URL(request.url);
    const op = url.searchParams.get("op");
    const n = Number(url.searchParams.get("n") ?? 10000);
    const s = this.ctx.storage;
    const value = "v".repeat(100);
    let t0 = performance.now();
    switch (op) {
      case "fill": // 10,000 keys of 100 bytes, for the uncached reads
        for (let i = 0; i < 10000; i += 128) {
          const batch = {};
          for (let k = i; k < Math.min(i + 128, 10000); k++) batch["k" + k] = value;
          await s.put(batch);
        }
        break;
      case "kv-get-cached":
        await s.put("hot", { value });
        await s.get("hot");
        t0 = performance.now();
        for (let i = 0; i < n; i++) await s.get("hot");
        break;
      case "kv-get-uncached":
        for (let i = 0; i < n; i++) await s.get("k" + ((i * 7919) % 10000), { noCache: true });
        break;
      case "kv-put":
        for (let i = 0; i < n; i++) await s.put("p" + (i % 1000), value);
        break;
      case "sql-insert":
        s.sql.exec("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)");
        t0 = performance.now();
        for (let i = 0; i < n; i++) s.sql.exec("INSERT INTO t(v) VALUES (?)", value);
        break;
      case "sql-select": {
        const rows = s.sql.exec("SELECT count(*) AS c FROM t").one().c;
        t0 = performance.now();
        for (let i = 0; i < n; i++) s.sql.exec("SELECT v FROM t WHERE id = ?", 1 + ((i * 7919) % rows)).one();
        break;
      }
      default:
        return new Response("unknown op\n", { status: 400 });
    }
    const ms = performance.now() - t0;
    return Response.json({ op, n, ms, per_s: Math.round((n / ms) * 1000) });
  }
}
