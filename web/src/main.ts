// Routes: `/` lists the databases, `/db/<name>` is the chat.
import { showChat } from "./chat-page";
import { showHome } from "./home-page";

function route(): void {
  const root = document.getElementById("app")!;
  const status = document.getElementById("status")!;
  const match = /^\/db\/([^/]+)\/?$/.exec(location.pathname);
  if (match) void showChat(root, status, decodeURIComponent(match[1]));
  else void showHome(root, status);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", route);
else route();
