// A conversation agent per id: it keeps the conversation in storage, sends it to a
// chat-completions style API (OpenAI's shape: POST {model, messages, stream: true}, answered
// with server-sent events), and streams the answer back to the caller as it arrives.
//
//   curl -X POST localhost:8787/_do/agent/ada -d 'Hello! Who are you?'   -> the answer, streamed
//   curl localhost:8787/_do/agent/ada                                     -> the conversation (JSON)
//   curl -X DELETE localhost:8787/_do/agent/ada                           -> forget it
//
// Configuration comes from env: AI_API_URL (the chat-completions endpoint, e.g.
// https://api.openai.com/v1/chat/completions), AI_API_KEY, and optionally AI_MODEL and
// AI_SYSTEM_PROMPT (dorm env set AI_API_URL https://...; dorm env set AI_API_KEY reads the key
// from stdin). Callers cannot choose the endpoint. dorm refuses to fetch private and loopback
// addresses unless the server runs with --allow-fetch.
import { DurableObject } from "cloudflare:workers";

type Message = { role: "system" | "user" | "assistant"; content: string };
type Config = { url?: string; key?: string; model: string; system: string };

const MAX_MESSAGES = 50;

export class Agent extends DurableObject {
  // Turns of one conversation run one after another; reading it never waits.
  private turn: Promise<unknown> = Promise.resolve();

  async fetch(request: Request): Promise<Response> {
    const storage = this.ctx.storage;
    switch (request.method) {
      case "GET": {
        const history = (await storage.get<Message[]>("history")) ?? [];
        return Response.json({ id: this.ctx.id.name, messages: history });
      }
      case "DELETE":
        await storage.delete("history");
        return Response.json({ deleted: true });
      case "POST":
        return this.chat(request);
      default:
        return new Response("use GET (the conversation), POST (say something) or DELETE (forget it)\n", {
          status: 405,
          headers: { Allow: "GET, POST, DELETE" },
        });
    }
  }

  private config(): Config {
    const env = (this.env ?? {}) as Record<string, string | undefined>;
    const url = env.AI_API_URL || undefined;
    const key = env.AI_API_KEY;
    return {
      url,
      key,
      model: env.AI_MODEL ?? "gpt-4o-mini",
      system: env.AI_SYSTEM_PROMPT ?? "You are a helpful assistant. Keep answers short.",
    };
  }

  private async chat(request: Request): Promise<Response> {
    const cfg = this.config();
    if (!cfg.url) {
      return Response.json(
        {
          error: {
            code: "AGENT_NOT_CONFIGURED",
            message:
              "the agent has no chat-completions API to talk to: set AI_API_URL and AI_API_KEY " +
              "(dorm env set AI_API_URL https://api.openai.com/v1/chat/completions, then dorm env set AI_API_KEY)",
          },
        },
        { status: 503 },
      );
    }
    const text = await readMessage(request);
    if (!text) return new Response("say something: POST the message as text, or as JSON {\"message\": \"...\"}\n", { status: 400 });

    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const done = this.turn.then(() => this.answer(cfg, text, writable));
    this.turn = done.catch(() => {});
    this.ctx.waitUntil(done);
    return new Response(readable, {
      headers: { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache" },
    });
  }

  // One turn: the user's message joins the conversation, the model's answer is streamed to the
  // caller as it arrives, and joins the conversation once it is complete.
  private async answer(cfg: Config, text: string, out: WritableStream<Uint8Array>) {
    const storage = this.ctx.storage;
    const writer = out.getWriter();
    const enc = new TextEncoder();
    const history = (await storage.get<Message[]>("history")) ?? [];
    history.push({ role: "user", content: text });
    try {
      const headers: Record<string, string> = { "Content-Type": "application/json", Accept: "text/event-stream" };
      if (cfg.key) headers.Authorization = `Bearer ${cfg.key}`;
      const res = await fetch(cfg.url!, {
        method: "POST",
        headers,
        body: JSON.stringify({
          model: cfg.model,
          stream: true,
          messages: [{ role: "system", content: cfg.system }, ...history.slice(-MAX_MESSAGES)],
        }),
      });
      if (!res.ok || !res.body) {
        const detail = (await res.text()).slice(0, 500);
        await writer.write(enc.encode(`[the model API answered ${res.status}: ${detail}]\n`));
        await writer.close();
        return;
      }
      let reply = "";
      for await (const token of completionTokens(res.body)) {
        reply += token;
        await writer.write(enc.encode(token));
      }
      history.push({ role: "assistant", content: reply });
      await storage.put("history", history.slice(-MAX_MESSAGES));
      await writer.write(enc.encode("\n"));
      await writer.close();
    } catch (e) {
      await writer.write(enc.encode(`\n[the conversation broke off: ${(e as Error).message}]\n`)).catch(() => {});
      await writer.close().catch(() => {});
      throw e;
    }
  }
}

async function readMessage(request: Request): Promise<string> {
  const body = (await request.text()).trim();
  if ((request.headers.get("content-type") ?? "").includes("application/json")) {
    try {
      const j = JSON.parse(body);
      return typeof j?.message === "string" ? j.message.trim() : "";
    } catch {
      return "";
    }
  }
  return body;
}

// The text pieces of a streamed chat completion: server-sent events whose data is
// {"choices":[{"delta":{"content":"..."}}]}, ended by "data: [DONE]".
async function* completionTokens(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let pending = "";
  for await (const chunk of body.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl).replace(/\r$/, "");
      pending = pending.slice(nl + 1);
      if (!line.startsWith("data:")) continue;
      const data = line.slice(5).trim();
      if (data === "[DONE]") return;
      try {
        const piece = JSON.parse(data)?.choices?.[0]?.delta?.content;
        if (typeof piece === "string" && piece) yield piece;
      } catch {
        // not JSON: a comment or keep-alive line
      }
    }
  }
}
