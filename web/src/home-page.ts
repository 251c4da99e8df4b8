// `/`: the databases on this stack, and a way to open one by name.
import { bearer, databases, describeError, ensureIdentity } from "./api";
import { element } from "./dom";

export async function showHome(root: HTMLElement, status: HTMLElement): Promise<void> {
  document.title = "Chat on Orleans";
  const open = element("form", { className: "open-form" });
  const label = element("label", { htmlFor: "database-name", textContent: "Open a database by name" });
  const input = element("input", { id: "database-name", name: "database", required: true, autocomplete: "off", placeholder: "quickstart-chat" });
  const button = element("button", { type: "submit", textContent: "Open" });
  open.append(label, element("div", { className: "row" }, input, button));
  open.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = input.value.trim();
    if (name) location.assign(`/db/${encodeURIComponent(name)}`);
  });

  const heading = element("h2", { textContent: "Databases" });
  const list = element("ul", { className: "databases" });
  root.replaceChildren(element("section", { className: "home" }, open, heading, list));
  try {
    const identity = await ensureIdentity();
    const answer = await databases.list({}, { headers: bearer(identity) });
    if (answer.databases.length === 0)
      list.append(element("li", { textContent: "None yet: publish one with `chat publish <name>`, or open a name above." }));
    for (const database of [...answer.databases].sort((a, b) => a.name.localeCompare(b.name))) {
      const link = element("a", { href: `/db/${encodeURIComponent(database.name)}`, textContent: database.name });
      list.append(element("li", {}, link));
    }
    status.textContent = "";
  } catch (error) {
    status.textContent = `Could not list the databases: ${describeError(error)}`;
  }
}
