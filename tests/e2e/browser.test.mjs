// The chat room example in a real browser: Debian's chromium, headless,
// driven by playwright-core, opens the room's own page twice, joins under
// two names, sends from one and sees it in the other. A screenshot of each
// page is written into the test's temporary folder.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer } from "./lib/server.mjs";

const root = new URL("../../", import.meta.url).pathname;
const chatSrc = await readFile(join(root, "examples/chat-room.ts"), "utf8");
const CHROMIUM = process.env.DORM_CHROMIUM ?? "/usr/bin/chromium";

let srv, browser, shots;
before(async () => {
  srv = await startServer({ args: ["--threads", "2"] });
  await srv.deploy("chat-room", chatSrc, "public");
  shots = await mkdtemp(join(tmpdir(), "dorm-browser-"));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root and on a closed network: no sandbox, and nothing that calls out.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
after(async () => {
  await browser?.close();
  await srv?.cleanup();
  if (shots && !process.env.DORM_E2E_KEEP) await rm(shots, { recursive: true, force: true });
});

async function join_(page, name) {
  await page.goto(`${srv.url}/_do/chat-room/browser-room`);
  await page.fill("#name", name);
  await page.click("#join button");
  await page.waitForSelector("#say:not([hidden])");
  await page.waitForFunction((n) => document.getElementById("log").textContent.includes(`you joined as ${n}`), name);
}

test("two browser tabs chat through the room's own page", async () => {
  const a = await (await browser.newContext()).newPage();
  const b = await (await browser.newContext()).newPage();
  await join_(a, "ada");
  await join_(b, "bob");
  await a.waitForFunction(() => document.getElementById("log").textContent.includes("bob joined"));
  assert.match(await a.textContent("#online"), /2 online: ada, bob/);

  await a.fill("#text", "hello from the first tab");
  await a.click("#say button");
  await b.waitForFunction(() => document.getElementById("log").textContent.includes("hello from the first tab"));
  await a.waitForFunction(() => document.getElementById("log").textContent.includes("hello from the first tab"));
  await b.fill("#text", "and back from the second");
  await b.press("#text", "Enter");
  await a.waitForFunction(() => document.getElementById("log").textContent.includes("and back from the second"));

  for (const [p, n] of [[a, "ada"], [b, "bob"]]) {
    const file = join(shots, `chat-${n}.png`);
    await p.screenshot({ path: file, fullPage: true });
    const png = await readFile(file);
    assert.ok((await stat(file)).size > 1000);
    assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], "a PNG file");
  }

  // The history is in storage: a page opened later sees both messages.
  const c = await (await browser.newContext()).newPage();
  await join_(c, "cy");
  const log = await c.textContent("#log");
  assert.match(log, /hello from the first tab/);
  assert.match(log, /and back from the second/);
  await b.close();
  await a.waitForFunction(() => document.getElementById("log").textContent.includes("bob left"));
});
