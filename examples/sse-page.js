// The script of examples/sse-page.html: one EventSource on /channels/:channel/events (or
// /threads/:id/events). EventSource sends the last `id:` it saw as Last-Event-ID when it reconnects,
// and the server resumes after it (docs/protocol.md section 10); nothing here keeps a position.

const params = new URLSearchParams(location.search);
const token = params.get("token") ?? "";
const thread = params.get("thread");
const channel = params.get("channel") ?? "user:dev";
const path = thread ? `/threads/${encodeURIComponent(thread)}/events` : `/channels/${encodeURIComponent(channel)}/events`;
// EventSource cannot send headers: the token goes in the query.
const source = new EventSource(`${path}?token=${encodeURIComponent(token)}`);

const list = document.getElementById("events");
const state = document.getElementById("state");
document.getElementById("source").textContent = thread ? `thread ${thread}` : channel;

function show(event) {
  const payload = JSON.parse(event.data);
  const item = document.createElement("li");
  item.dataset.seq = String(payload.seq);
  item.dataset.type = event.type;
  // textContent, never innerHTML: payloads are untrusted.
  item.textContent = `#${payload.seq} ${event.type}: ${typeof payload.message === "string" ? payload.message : event.data}`;
  list.append(item);
}

// Each event is named after its payload's type; payloads without one are "publication". These are the
// agent's run events; ?events=a,b listens to a channel's own types as well.
const names = ["publication", "status", "tool", "reasoning", "sources", "response", ...(params.get("events") ?? "").split(",").filter(Boolean)];
for (const name of names) source.addEventListener(name, show);
// A run's "error" event shares its name with EventSource's own connection errors: only the first carries data.
source.addEventListener("error", (event) => {
  if (event instanceof MessageEvent) return show(event);
  state.textContent = source.readyState === EventSource.CONNECTING ? "reconnecting" : "closed";
});
source.addEventListener("open", () => (state.textContent = "open"));
// The position asked for was lost (server restarted, too far behind): what follows is live, and
// whatever was published in between is only in the REST snapshot.
source.addEventListener("reset", () => {
  const item = document.createElement("li");
  item.className = "reset";
  item.textContent = "history lost: reload the page's data";
  list.append(item);
});
