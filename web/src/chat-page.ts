// `/db/<name>`: history with scroll-back, the live conversation, who is online, your name, and the composer.
import { bearer, chat, Code, ConnectError, describeError, ensureIdentity, type StoredIdentity } from "./api";
import { element, formatTime } from "./dom";
import { displayName, messagesFromSql, shortIdentity, userNotice, type Message, type User } from "./model";
import { ChatSession } from "./session";

const pageSize = 50;

export async function showChat(root: HTMLElement, status: HTMLElement, database: string): Promise<void> {
  document.title = `${database} · Chat on Orleans`;
  const view = new ChatView(root, status, database);
  let identity: StoredIdentity;
  let history: Message[];
  try {
    identity = await ensureIdentity();
    history = messagesFromSql(await chat.sql(
      { database, query: `SELECT * FROM Message ORDER BY offset DESC LIMIT ${pageSize}` },
      { headers: bearer(identity) }));
  } catch (error) {
    const missing = error instanceof ConnectError && error.code === Code.NotFound;
    view.fail(missing
      ? `There is no database named “${database}” here. Publish it with \`chat publish ${database}\`, or pick one from the list.`
      : `Could not open ${database}: ${describeError(error)}`);
    return;
  }
  view.start(identity, history);
}

class ChatView {
  private readonly users = new Map<string, User>();
  private readonly seen = new Set<bigint>();
  private identity!: StoredIdentity;
  private session!: ChatSession;
  private oldest: bigint | null = null;
  private loadingOlder = false;
  private hasOlder = true;
  private usersKnown = false;

  private readonly onlineList = element("ul", { className: "online", id: "online" });
  private readonly onlineHeading = element("h2", { id: "online-heading", textContent: "Online" });
  private readonly nameInput = element("input", { id: "name-input", name: "name", maxLength: 200 });
  private readonly nameError = element("p", { className: "error", id: "name-error", role: "alert" });
  private readonly messages = element("ol", { className: "messages", id: "messages" });
  private readonly scroller = element("div", { className: "scroller", tabIndex: 0, role: "log", ariaLabel: "Messages", ariaLive: "polite" });
  private readonly olderButton = element("button", { type: "button", className: "older", textContent: "Load older messages" });
  private readonly composerInput = element("input", { id: "composer-text", name: "text", autocomplete: "off", maxLength: 70_000 });
  private readonly sendError = element("p", { className: "error", id: "send-error", role: "alert" });

  constructor(private readonly root: HTMLElement, private readonly status: HTMLElement, private readonly database: string) {
    const nameForm = element("form", { className: "name-form" },
      element("label", { htmlFor: "name-input", textContent: "Your name" }),
      element("div", { className: "row" }, this.nameInput, element("button", { type: "submit", textContent: "Set name" })),
      this.nameError);
    nameForm.addEventListener("submit", (event) => { event.preventDefault(); void this.setName(); });
    const people = element("aside", { className: "people", ariaLabel: "People" },
      nameForm, this.onlineHeading, this.onlineList);

    const composer = element("form", { className: "composer" },
      element("label", { htmlFor: "composer-text", textContent: "Message" }),
      element("div", { className: "row" }, this.composerInput, element("button", { type: "submit", textContent: "Send" })),
      this.sendError);
    composer.addEventListener("submit", (event) => { event.preventDefault(); void this.send(); });

    this.olderButton.addEventListener("click", () => void this.loadOlder());
    this.scroller.append(this.olderButton, this.messages);
    const conversation = element("section", { className: "conversation", ariaLabel: `Conversation in ${database}` },
      element("h2", { textContent: database }), this.scroller, composer);
    root.replaceChildren(element("div", { className: "chat" }, conversation, people));
  }

  fail(text: string): void {
    this.root.replaceChildren(element("section", { className: "home" },
      element("p", { className: "error", role: "alert", textContent: text }),
      element("p", {}, element("a", { href: "/", textContent: "All databases" }))));
    this.status.textContent = "";
  }

  start(identity: StoredIdentity, history: Message[]): void {
    this.identity = identity;
    this.addMessages(history, "history");
    this.hasOlder = history.length === pageSize;
    this.updateOlderButton();
    const last = history.reduce((max, m) => (m.offset > max ? m.offset : max), 0n);
    this.session = new ChatSession(this.database, identity, last, {
      state: (state, detail) => {
        this.status.textContent = state === "live" ? `Connected to ${this.database}` : detail;
        this.status.dataset.state = state;
        if (state === "failed") this.fail(detail);
      },
      identity: (changed) => { this.identity = changed; },
      users: (users) => {
        this.users.clear();
        for (const user of users) this.users.set(user.identity, user);
        this.usersKnown = true;
        this.renderPeople();
        this.renameInMessages();
      },
      userChanged: (after) => this.userChanged(after),
      messages: (messages) => this.addMessages(messages, "live"),
    });
    this.session.start();
    this.scrollToEnd();
    this.composerInput.focus();
  }

  private userChanged(after: User): void {
    const before = this.users.get(after.identity);
    this.users.set(after.identity, after);
    const self = after.identity === this.identity.identity;
    const notice = !this.usersKnown ? null
      : self ? (after.name !== undefined && after.name !== before?.name ? `You are now known as ${after.name}` : null)
      : userNotice(before, after, (u) => this.nameOf(u.identity, u));
    if (notice) this.addNotice(notice);
    if (before?.name !== after.name) this.renameInMessages();
    this.renderPeople();
  }

  private nameOf(identity: string, user = this.users.get(identity)): string {
    const name = user?.name ?? shortIdentity(identity);
    return identity === this.identity.identity ? `${name} (you)` : name;
  }

  private renderPeople(): void {
    const online = [...this.users.values()].filter((u) => u.online)
      .sort((a, b) => this.nameOf(a.identity).localeCompare(this.nameOf(b.identity)));
    this.onlineHeading.textContent = `Online (${online.length})`;
    this.onlineList.replaceChildren(...online.map((u) =>
      element("li", { textContent: this.nameOf(u.identity), title: u.identity })));
    const mine = this.users.get(this.identity.identity)?.name;
    if (mine !== undefined && document.activeElement !== this.nameInput && this.nameInput.value === "") this.nameInput.value = mine;
  }

  private renameInMessages(): void {
    for (const name of this.messages.querySelectorAll<HTMLElement>(".message .name"))
      name.textContent = displayName(this.users, name.dataset.sender ?? "");
  }

  private messageElement(message: Message): HTMLLIElement {
    const item = element("li", { className: "message" },
      element("span", { className: "name", textContent: displayName(this.users, message.sender) }),
      " ",
      element("time", { dateTime: message.sent.toISOString(), textContent: formatTime(message.sent), title: message.sent.toLocaleString() }),
      element("p", { className: "text", textContent: message.text }));
    item.dataset.offset = message.offset.toString();
    (item.firstChild as HTMLElement).dataset.sender = message.sender;
    if (message.sender === this.identity.identity) item.classList.add("mine");
    return item;
  }

  /** Each offset once, in offset order: live ones at the end, older pages at the top. */
  private addMessages(messages: Message[], from: "history" | "live" | "older"): void {
    const fresh = messages.filter((m) => !this.seen.has(m.offset)).sort((a, b) => (a.offset < b.offset ? -1 : 1));
    if (fresh.length === 0) return;
    for (const m of fresh) this.seen.add(m.offset);
    const oldestNew = fresh[0].offset;
    if (this.oldest === null || oldestNew < this.oldest) this.oldest = oldestNew;
    const atEnd = this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 80;
    if (from === "older") {
      const before = this.scroller.scrollHeight;
      this.messages.prepend(...fresh.map((m) => this.messageElement(m)));
      this.scroller.scrollTop += this.scroller.scrollHeight - before;
      return;
    }
    this.messages.append(...fresh.map((m) => this.messageElement(m)));
    if (atEnd || fresh.some((m) => m.sender === this.identity?.identity)) this.scrollToEnd();
  }

  private addNotice(text: string): void {
    const atEnd = this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 80;
    this.messages.append(element("li", { className: "notice", textContent: text }));
    if (atEnd) this.scrollToEnd();
  }

  private scrollToEnd(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  private updateOlderButton(): void {
    this.olderButton.hidden = !this.hasOlder;
  }

  private async loadOlder(): Promise<void> {
    if (this.loadingOlder || !this.hasOlder || this.oldest === null) return;
    this.loadingOlder = true;
    this.olderButton.textContent = "Loading…";
    try {
      const page = messagesFromSql(await chat.sql(
        { database: this.database, query: `SELECT * FROM Message WHERE offset < ${this.oldest} ORDER BY offset DESC LIMIT ${pageSize}` },
        { headers: bearer(this.identity) }));
      this.hasOlder = page.length === pageSize;
      this.addMessages(page, "older");
    } catch (error) {
      this.status.textContent = `Could not load older messages: ${describeError(error)}`;
    } finally {
      this.loadingOlder = false;
      this.olderButton.textContent = "Load older messages";
      this.updateOlderButton();
    }
  }

  /** The text whose send was lost on the way, and its key: sending it again reuses the key, so it is stored once. */
  private unsent: { text: string; key: string } | null = null;

  private async send(): Promise<void> {
    const text = this.composerInput.value;
    this.sendError.textContent = "";
    const key = this.unsent?.text === text ? this.unsent.key : newKey();
    const outcome = await this.session.call("send_message", text, key);
    this.unsent = outcome.ran ? null : { text, key };
    if (outcome.ok) {
      if (this.composerInput.value === text) this.composerInput.value = "";
    } else {
      this.sendError.textContent = outcome.error;
    }
  }

  private async setName(): Promise<void> {
    this.nameError.textContent = "";
    const outcome = await this.session.call("set_name", this.nameInput.value.trim());
    if (!outcome.ok) this.nameError.textContent = outcome.error;
  }
}

/** 32 random hex characters: an idempotency key (visible ASCII, at most 128). */
function newKey(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}
