// WebSocket figures for `make bench` (bench/run.sh runs it against dorm and
// against workerd, each serving bench/room.js at /_do/bench-room/<id>):
//   - 100 clients in one room, one sender: messages delivered per second;
//   - the time to open 1,000 sockets to one room at once;
//   - one broadcast to 1,000 sockets: until the last one has it;
//   - the server's RSS with 10,000 idle sockets (hibernated on dorm).
// usage: node bench/ws.mjs BASE_URL SERVER_PID [seconds]
import WebSocket from "ws";
import { readFileSync } from "node:fs";

const [base, pidArg, secondsArg] = process.argv.slice(2);
const pid = Number(pidArg);
const seconds = Number(secondsArg ?? 5);
const url = (room) => `${base.replace(/^http/, "ws")}/_do/bench-room/${room}`;
const rss = () => Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1]);
const now = () => Number(process.hrtime.bigint()) / 1e6;

function open(room) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url(room), { perMessageDeflate: false });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

async function openMany(room, n, parallel = n) {
  const out = [];
  for (let i = 0; i < n; i += parallel)
    out.push(...(await Promise.all(Array.from({ length: Math.min(parallel, n - i) }, () => open(room)))));
  return out;
}

const closeAll = (list) => Promise.all(list.map((ws) => new Promise((r) => { ws.once("close", r); ws.close(); })));

// 1. fan-out: one sender keeps a window of messages in flight; every client counts what it gets.
{
  const clients = await openMany("fanout", 100, 50);
  let delivered = 0;
  for (const c of clients) c.on("message", () => delivered++);
  const sender = clients[0];
  let inflight = 0, sent = 0;
  const WINDOW = 32;
  const payload = "b:" + "x".repeat(62);
  sender.on("message", () => { inflight--; pump(); });
  let running = true;
  function pump() {
    while (running && inflight < WINDOW) { sender.send(payload); inflight++; sent++; }
  }
  const t0 = now();
  pump();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  running = false;
  const ms = now() - t0;
  console.log(`RESULT fanout_100 deliveries_per_s=${Math.round(delivered / (ms / 1000))} messages_per_s=${Math.round(sent / (ms / 1000))}`);
  await closeAll(clients);
}

// 2 and 3: 1,000 sockets at once, then one broadcast to all of them.
{
  const t0 = now();
  const clients = await openMany("thousand", 1000);
  const openMs = now() - t0;
  let got = 0;
  const all = new Promise((resolve) => { for (const c of clients) c.once("message", () => { if (++got === clients.length) resolve(); }); });
  const t1 = now();
  clients[0].send("b:hello everyone");
  await all;
  const bcastMs = now() - t1;
  console.log(`RESULT open_1000_ms=${openMs.toFixed(0)} broadcast_1000_ms=${bcastMs.toFixed(1)}`);
  await closeAll(clients);
}

// 4. 10,000 idle sockets in one room; measured once they are idle past the
// hibernation delay (10 s by default on dorm).
{
  const before = rss();
  try {
    const clients = await openMany("idle", 10000, 200);
    await new Promise((r) => setTimeout(r, 12000));
    const after = rss();
    console.log(`RESULT idle_10000_rss_kib=${after} grew_kib=${after - before}`);
    for (const c of clients) c.terminate();
  } catch (e) {
    console.log(`RESULT idle_10000 failed: ${e.message} (RSS ${rss()} KiB when it failed)`);
  }
}
process.exit(0);
