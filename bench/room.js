// The WebSocket benchmark's room (bench/ws.mjs), the same code on dorm and
// on workerd: every socket is accepted with the hibernation API, and a
// message "b:<text>" is sent to every socket of the room.
export class BenchRoom {
  constructor(state, env) {
    this.state = state;
  }
  async fetch(request) {
    if (request.headers.get("Upgrade") !== "websocket") return new Response(String(this.state.getWebSockets().length));
    const pair = new WebSocketPair();
    this.state.acceptWebSocket(pair[1]);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }
  async webSocketMessage(ws, message) {
    if (typeof message === "string" && message.startsWith("b:")) {
      for (const w of this.state.getWebSockets()) w.send(message);
    }
  }
  async webSocketClose(ws, code, reason) {}
}
