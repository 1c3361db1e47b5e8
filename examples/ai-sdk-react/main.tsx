// The page's entry: loads the thread's stored messages, then mounts the chat (useChat takes its
// initial messages once, when it is created).

import { createRoot } from "react-dom/client";
import { App, loadMessages } from "./App.tsx";

const root = createRoot(document.getElementById("root")!);
loadMessages().then((messages) => root.render(<App initialMessages={messages} />));
