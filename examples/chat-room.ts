// A chat room per instance id, in the classic class shape (constructor with
// parameter properties). This is its HTTP part: GET reads the last messages,
// POST {"name","text"} adds one. The WebSocket part comes with hibernation.
//   curl -X POST localhost:8787/_do/chat-room/lobby -d '{"name":"ada","text":"hi"}'
//   curl localhost:8787/_do/chat-room/lobby
interface Env {}

interface Message {
  name: string;
  text: string;
  at: number;
}

const HISTORY = 100;

export class ChatRoom {
  constructor(public state: DurableObjectState, public env: Env) {}

  async fetch(request: Request): Promise<Response> {
    if (request.method === "GET") {
      const messages: Message[] = (await this.state.storage.get("messages")) ?? [];
      return Response.json({ messages });
    }
    if (request.method === "POST") {
      let body: any;
      try {
        body = await request.json();
      } catch {
        return Response.json({ error: "send JSON: {\"name\": ..., \"text\": ...}" }, { status: 400 });
      }
      const name = String(body?.name ?? "").slice(0, 40);
      const text = String(body?.text ?? "").slice(0, 1000);
      if (!name || !text) {
        return Response.json({ error: "both name and text are needed" }, { status: 400 });
      }
      const messages: Message[] = (await this.state.storage.get("messages")) ?? [];
      messages.push({ name, text, at: Date.now() });
      await this.state.storage.put("messages", messages.slice(-HISTORY));
      return Response.json({ ok: true, count: messages.length }, { status: 201 });
    }
    return new Response("use GET or POST\n", { status: 405, headers: { Allow: "GET, POST" } });
  }
}
