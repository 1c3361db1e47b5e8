// A chat on agentwire through the AI SDK's own React hook: `useChat` with `DefaultChatTransport`
// pointed at agentwire (docs/protocol.md section 11). The chat id is the thread id and lives in the
// address (`?chat=`), so a reload finds the same thread, and `resume: true` picks up a run still
// going with `GET /ai-sdk/chat/:id/stream`, from its start, each part once.

import { useChat } from "@ai-sdk/react";
import { DefaultChatTransport, type UIMessage } from "ai";
import { useState } from "react";

const params = new URLSearchParams(location.search);
// For an example: the token comes in the address (?token=). A real app has its own sign-in.
const token = params.get("token") ?? "";
const chatId = params.get("chat") ?? crypto.randomUUID();
if (!params.has("chat")) {
  params.set("chat", chatId);
  history.replaceState(null, "", `?${params}`);
}
const headers = { Authorization: `Bearer ${token}` };
// Same origin: server.ts passes these paths through to agentwire (which sends no CORS headers).
const transport = new DefaultChatTransport({ api: "/ai-sdk/chat", headers });

interface StoredMessage {
  id: string;
  role: "user" | "assistant";
  content: string;
}

/** The thread's stored messages as UI messages (text only); none for a chat that has no thread yet. */
export async function loadMessages(): Promise<UIMessage[]> {
  const response = await fetch(`/threads/${encodeURIComponent(chatId)}/messages`, { headers });
  if (!response.ok) return [];
  const { messages } = (await response.json()) as { messages: StoredMessage[] };
  // A message still streaming holds the text so far; the resumed stream replaces it (same id).
  return messages.map((message) => ({ id: message.id, role: message.role, parts: [{ type: "text", text: message.content }] }));
}

const textOf = (message: UIMessage) => message.parts.map((part) => (part.type === "text" ? part.text : "")).join("");

export function App({ initialMessages }: { initialMessages: UIMessage[] }) {
  const { messages, sendMessage, status, error } = useChat({ id: chatId, messages: initialMessages, transport, resume: true });
  const [input, setInput] = useState("");
  const busy = status === "submitted" || status === "streaming";

  // useChat's stop() only aborts the fetch, and that never stops the run (section 11.2): ask agentwire.
  // The stream then ends by itself with the run ("abort" chunk, then [DONE]).
  const stop = () => fetch(`/threads/${encodeURIComponent(chatId)}/stop`, { method: "POST", headers });

  return (
    <main>
      <ul id="messages">
        {messages.map((message) => (
          <li key={message.id} data-role={message.role}>
            {textOf(message)}
          </li>
        ))}
      </ul>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (!input.trim()) return;
          sendMessage({ text: input });
          setInput("");
        }}
      >
        <input aria-label="Message" value={input} onChange={(event) => setInput(event.target.value)} />
        <button type="submit" disabled={busy}>
          Send
        </button>
        {busy && (
          <button type="button" onClick={stop}>
            Stop
          </button>
        )}
      </form>
      <p id="status" role="status">
        {status}
      </p>
      {error && <p role="alert">{error.message}</p>}
    </main>
  );
}
