// A chat room per instance id, in the classic class shape (a constructor
// with parameter properties), on the WebSocket hibernation API: the room
// sleeps between messages and its sockets stay open.
//
//   open http://localhost:8787/_do/chat-room/lobby in two browser tabs
//   curl localhost:8787/_do/chat-room/lobby                      -> the last messages, as JSON
//   curl -X POST localhost:8787/_do/chat-room/lobby -d '{"name":"ada","text":"hi"}'
//
// Each socket is tagged with its user's name and carries {name} as its
// attachment, so after the room wakes from hibernation it still knows who
// is who. The last 100 messages are kept in storage.
interface Env {}

interface Message {
  name: string;
  text: string;
  at: number;
}

const HISTORY = 100;
const MAX_NAME = 32;
const MAX_TEXT = 2000;

export class ChatRoom {
  constructor(public state: DurableObjectState, public env: Env) {}

  async fetch(request: Request): Promise<Response> {
    if (request.headers.get("Upgrade") === "websocket") return this.join(request);
    if (request.method === "GET" || request.method === "HEAD") {
      if ((request.headers.get("Accept") ?? "").includes("text/html")) {
        return new Response(PAGE, { headers: { "Content-Type": "text/html; charset=utf-8" } });
      }
      return Response.json({ messages: await this.history(), online: this.online() });
    }
    if (request.method === "POST") {
      let body: any;
      try {
        body = await request.json();
      } catch {
        return Response.json({ error: 'send JSON: {"name": ..., "text": ...}' }, { status: 400 });
      }
      const name = cleanName(body?.name);
      const text = String(body?.text ?? "").slice(0, MAX_TEXT);
      if (!name || !text) return Response.json({ error: "both name and text are needed" }, { status: 400 });
      const count = await this.post(name, text);
      return Response.json({ ok: true, count }, { status: 201 });
    }
    return new Response("use GET, POST, or a WebSocket\n", { status: 405, headers: { Allow: "GET, POST" } });
  }

  // A new member: the socket is tagged with the name, told the history and
  // who is here, and everyone else hears of the arrival.
  async join(request: Request): Promise<Response> {
    const name = cleanName(new URL(request.url).searchParams.get("name"));
    if (!name) return new Response("add ?name=... (1 to 32 characters)\n", { status: 400 });
    const [client, server] = Object.values(new WebSocketPair());
    this.state.acceptWebSocket(server, [name]);
    server.serializeAttachment({ name });
    server.send(JSON.stringify({ type: "welcome", name, messages: await this.history(), online: this.online() }));
    this.broadcast({ type: "join", name, online: this.online() }, server);
    return new Response(null, { status: 101, webSocket: client });
  }

  async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const { name } = ws.deserializeAttachment() as { name: string };
    if (typeof message !== "string") {
      ws.send(JSON.stringify({ type: "error", error: "send text messages" }));
      return;
    }
    let text = message;
    try {
      const parsed = JSON.parse(message);
      if (parsed && typeof parsed.text === "string") text = parsed.text;
    } catch {
      // plain text is a message too
    }
    text = text.slice(0, MAX_TEXT);
    if (text.trim()) await this.post(name, text);
  }

  async webSocketClose(ws: WebSocket, code: number, reason: string, wasClean: boolean): Promise<void> {
    const { name } = ws.deserializeAttachment() as { name: string };
    this.broadcast({ type: "leave", name, online: this.online(ws) });
  }

  async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    console.warn("a chat socket failed:", error);
  }

  async history(): Promise<Message[]> {
    return (await this.state.storage.get<Message[]>("messages")) ?? [];
  }

  // Stores the message, then sends it to everyone: the output gate holds
  // the frames until the write is durable.
  async post(name: string, text: string): Promise<number> {
    const messages = await this.history();
    const m: Message = { name, text, at: Date.now() };
    messages.push(m);
    await this.state.storage.put("messages", messages.slice(-HISTORY));
    this.broadcast({ type: "message", ...m });
    return messages.length;
  }

  online(leaving?: WebSocket): string[] {
    const names = new Set<string>();
    for (const ws of this.state.getWebSockets()) {
      if (ws !== leaving && ws.readyState === WebSocket.OPEN) names.add((ws.deserializeAttachment() as any).name);
    }
    return [...names].sort();
  }

  broadcast(event: object, except?: WebSocket): void {
    const data = JSON.stringify(event);
    for (const ws of this.state.getWebSockets()) {
      if (ws === except || ws.readyState !== WebSocket.OPEN) continue;
      try {
        ws.send(data);
      } catch {
        // it is closing: its webSocketClose will tell the others
      }
    }
  }
}

function cleanName(v: unknown): string {
  return String(v ?? "").trim().slice(0, MAX_NAME);
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dorm chat</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; display: flex; flex-direction: column; height: 100vh; color: #222; }
  header { padding: 10px 16px; background: #24292f; color: #fff; display: flex; gap: 12px; align-items: center; }
  header b { font-size: 17px; }
  #online { margin-left: auto; font-size: 13px; opacity: .85; }
  #log { flex: 1; overflow-y: auto; padding: 12px 16px; }
  .msg { margin: 4px 0; }
  .msg .who { font-weight: 600; margin-right: 6px; }
  .msg .at { color: #888; font-size: 12px; margin-left: 6px; }
  .note { color: #777; font-style: italic; margin: 4px 0; }
  form { display: flex; gap: 8px; padding: 10px 16px; border-top: 1px solid #ddd; }
  input { flex: 1; padding: 8px; font: inherit; }
  button { padding: 8px 16px; font: inherit; }
</style>
</head>
<body>
<header><b>dorm chat</b><span id="room"></span><span id="online"></span></header>
<div id="log"></div>
<form id="join"><input id="name" placeholder="your name" maxlength="32" autofocus><button>Join</button></form>
<form id="say" hidden><input id="text" placeholder="say something" maxlength="2000" autocomplete="off"><button>Send</button></form>
<script>
const $ = (id) => document.getElementById(id);
const room = decodeURIComponent(location.pathname.split("/")[3] || "");
$("room").textContent = "#" + room;
let ws;
function line(cls, html) {
  const d = document.createElement("div");
  d.className = cls;
  d.innerHTML = html;
  $("log").appendChild(d);
  $("log").scrollTop = $("log").scrollHeight;
}
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
function show(m) {
  const at = new Date(m.at).toLocaleTimeString();
  line("msg", '<span class="who">' + esc(m.name) + '</span>' + esc(m.text) + '<span class="at">' + at + "</span>");
}
function online(list) { $("online").textContent = list.length + " online: " + list.join(", "); }
$("join").onsubmit = (e) => {
  e.preventDefault();
  const name = $("name").value.trim();
  if (!name) return;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(proto + "//" + location.host + location.pathname + "?name=" + encodeURIComponent(name));
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === "welcome") { m.messages.forEach(show); online(m.online); line("note", "you joined as " + esc(m.name)); }
    else if (m.type === "message") show(m);
    else if (m.type === "join") { line("note", esc(m.name) + " joined"); online(m.online); }
    else if (m.type === "leave") { line("note", esc(m.name) + " left"); online(m.online); }
    else if (m.type === "error") line("note", esc(m.error));
  };
  ws.onclose = (ev) => line("note", "disconnected (" + ev.code + ")");
  $("join").hidden = true;
  $("say").hidden = false;
  $("text").focus();
};
$("say").onsubmit = (e) => {
  e.preventDefault();
  const text = $("text").value;
  if (!text.trim() || !ws || ws.readyState !== 1) return;
  ws.send(JSON.stringify({ text }));
  $("text").value = "";
};
</script>
</body>
</html>
`;
