// A test room for the WebSocket tests, driven by its clients: JSON commands
// in text messages say what to do, and what the room saw goes to storage so
// that tests can read it back (after hibernation too) with a plain GET.
const VERSION = "v1";

export class WsRoom {
  constructor(state, env) {
    this.state = state;
    this.memory = "fresh";
    state.blockConcurrencyWhile(async () => {
      this.constructed = ((await state.storage.get("constructed")) ?? 0) + 1;
      await state.storage.put("constructed", this.constructed);
    });
  }

  async fetch(request) {
    const url = new URL(request.url);
    if (request.headers.get("upgrade") !== "websocket") {
      return Response.json({
        sockets: this.state.getWebSockets().length,
        tagged: url.searchParams.has("tag") ? this.state.getWebSockets(url.searchParams.get("tag")).length : null,
        constructed: await this.state.storage.get("constructed"),
        closes: (await this.state.storage.get("closes")) ?? [],
        errors: (await this.state.storage.get("errors")) ?? [],
        classic: (await this.state.storage.get("classic")) ?? [],
        version: VERSION,
      });
    }
    if (url.searchParams.has("refuse")) return new Response("not here", { status: Number(url.searchParams.get("refuse")) });
    const pair = new WebSocketPair();
    const [client, server] = Object.values(pair);
    const name = url.searchParams.get("name") ?? "anon";
    if (url.searchParams.get("style") === "classic") {
      server.accept();
      server.addEventListener("message", (ev) => {
        if (ev.data === "close-me") server.close(4002, "classic close");
        else if (ev.data === "event?")
          server.send(JSON.stringify({ message: ev instanceof MessageEvent, event: ev instanceof Event,
            type: ev.type, target: ev.target === server }));
        else server.send(`classic:${VERSION}:${typeof ev.data === "string" ? ev.data : ev.data.byteLength}`);
      });
      server.addEventListener("close", async (ev) => {
        const list = (await this.state.storage.get("classic")) ?? [];
        list.push({ code: ev.code, reason: ev.reason, wasClean: ev.wasClean, close: ev instanceof CloseEvent });
        await this.state.storage.put("classic", list);
      });
    } else {
      const tags = url.searchParams.has("tags") ? url.searchParams.get("tags").split(",") : [];
      this.state.acceptWebSocket(server, tags);
      server.serializeAttachment({ name, joined: Date.now() });
    }
    if (url.searchParams.has("hello")) server.send(`hello ${name}`);
    const headers = url.searchParams.has("protocol") ? { "Sec-WebSocket-Protocol": url.searchParams.get("protocol") } : {};
    return new Response(null, { status: 101, webSocket: client, headers });
  }

  async webSocketMessage(ws, message) {
    if (typeof message !== "string") {
      const bytes = new Uint8Array(message);
      const out = new Uint8Array(bytes.length + 1);
      out[0] = 0xee;
      out.set(bytes, 1);
      ws.send(out);
      return;
    }
    let cmd;
    try {
      cmd = JSON.parse(message);
    } catch {
      ws.send(`echo:${VERSION}:${message}`);
      return;
    }
    switch (cmd.cmd) {
      case "broadcast":
        for (const w of this.state.getWebSockets(cmd.tag)) w.send(cmd.text);
        break;
      case "whoami":
        ws.send(JSON.stringify({
          att: ws.deserializeAttachment(), tags: this.state.getTags(ws), constructed: this.constructed,
          memory: this.memory, version: VERSION, count: this.state.getWebSockets().length,
        }));
        this.memory = "used";
        break;
      case "close":
        ws.close(cmd.code, cmd.reason);
        break;
      case "autoresponse":
        this.state.setWebSocketAutoResponse(new WebSocketRequestResponsePair(cmd.req, cmd.res));
        ws.send("autoresponse set");
        break;
      case "getauto": {
        const p = this.state.getWebSocketAutoResponse();
        ws.send(JSON.stringify(p === null ? null : { req: p.request, res: p.response }));
        break;
      }
      case "autots": {
        const t = this.state.getWebSocketAutoResponseTimestamp(ws);
        ws.send(JSON.stringify({ ts: t === null ? null : t.getTime() }));
        break;
      }
      case "setatt":
        ws.serializeAttachment(cmd.value);
        ws.send("att set");
        break;
      case "putsend":
        this.state.storage.put("putsend", cmd.n);
        ws.send(`after put ${cmd.n}`);
        break;
      case "flood":
        for (let i = 0; i < cmd.n; i++) ws.send("x".repeat(cmd.size));
        break;
      case "throw":
        throw new Error("handler failed on purpose");
      default:
        ws.send(`unknown ${cmd.cmd}`);
    }
  }

  async webSocketClose(ws, code, reason, wasClean) {
    const list = (await this.state.storage.get("closes")) ?? [];
    list.push({ name: ws.deserializeAttachment()?.name, code, reason, wasClean });
    await this.state.storage.put("closes", list);
  }

  async webSocketError(ws, error) {
    const list = (await this.state.storage.get("errors")) ?? [];
    list.push(String(error && error.message));
    await this.state.storage.put("errors", list);
  }
}
