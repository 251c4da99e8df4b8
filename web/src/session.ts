// One database's live session: Session stream plus SessionCall, reopened with backoff whenever it ends, each time
// subscribed to messages after the last one seen, so that nothing is missed and nothing comes twice.
import { bearer, chat, Code, ConnectError, describeError, ensureIdentity, storeIdentity, type StoredIdentity } from "./api";
import { fromMessageRow, fromUserRow, type Message, type User } from "./model";
import type { TransactionUpdate } from "./gen/chat/v1/chat_pb";

export type SessionState = "connecting" | "live" | "reconnecting" | "failed";

export interface SessionEvents {
  state(state: SessionState, detail: string): void;
  identity(identity: StoredIdentity): void;
  /** All user rows, on every (re)subscription: replaces what was known. */
  users(users: User[]): void;
  /** One user row changed while live. */
  userChanged(after: User): void;
  /** Messages after the last one seen, in offset order. */
  messages(messages: Message[]): void;
}

export interface CallOutcome {
  ok: boolean;
  error: string;
  /** The reducer answered (committed or refused), rather than the call being lost on the way. */
  ran: boolean;
}

const maxBackoffMs = 10_000;

export class ChatSession {
  private connectionId: string | null = null;
  private stopped = false;
  private attempt = 0;
  private readonly abort = new AbortController();
  private nextRequestId = 1;

  constructor(
    private readonly database: string,
    private identity: StoredIdentity,
    private lastOffset: bigint,
    private readonly events: SessionEvents,
  ) {}

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  get connected(): boolean {
    return this.connectionId !== null;
  }

  /** `idempotencyKey`: the same key for a retry of the same call, so that one whose answer was lost is not run twice. */
  async call(reducer: "send_message" | "set_name", argument: string, idempotencyKey = ""): Promise<CallOutcome> {
    const connectionId = this.connectionId;
    if (!connectionId) return { ok: false, error: "Not connected right now; reconnecting. Try again in a moment.", ran: false };
    try {
      const result = await chat.sessionCall(
        { connectionId, call: { requestId: this.nextRequestId++, reducer, argsJson: JSON.stringify([argument]), idempotencyKey } },
        { headers: bearer(this.identity) },
      );
      const outcome = result.outcome;
      return outcome && outcome.code !== 0 ? { ok: false, error: outcome.error, ran: true } : { ok: true, error: "", ran: true };
    } catch (error) {
      return { ok: false, error: describeError(error), ran: false };
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.events.state(this.attempt === 0 ? "connecting" : "reconnecting", "Connecting…");
      try {
        await this.once();
      } catch (error) {
        if (this.stopped) return;
        if (error instanceof ConnectError && error.code === Code.Unauthenticated) {
          // A token from another stack, or an expired one: this browser starts over with a new identity.
          storeIdentity(null);
          this.identity = await ensureIdentity().catch(() => this.identity);
          this.events.identity(this.identity);
        } else if (error instanceof ConnectError && [Code.NotFound, Code.InvalidArgument, Code.PermissionDenied].includes(error.code)) {
          this.events.state("failed", describeError(error));
          return;
        }
      } finally {
        this.connectionId = null;
      }
      if (this.stopped) return;
      const delay = Math.min(maxBackoffMs, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
      this.attempt++;
      this.events.state("reconnecting", `Connection lost; reconnecting in ${Math.ceil(delay / 1000)} s…`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  private async once(): Promise<void> {
    const stream = chat.session(
      { requestId: 1, queries: ["SELECT * FROM User", `SELECT * FROM Message WHERE offset > ${this.lastOffset}`] },
      { headers: { database: this.database, ...bearer(this.identity) }, signal: this.abort.signal, timeoutMs: 0 },
    );
    let snapshotUsers: User[] = [];
    for await (const server of stream) {
      const message = server.message;
      switch (message.case) {
        case "identityToken":
          this.connectionId = message.value.connectionId;
          break;
        case "subscribeApplied":
          for (const table of message.value.tables) {
            snapshotUsers.push(...table.users.map(fromUserRow));
            this.deliver(table.messages.map(fromMessageRow));
          }
          if (message.value.last) {
            this.events.users(snapshotUsers);
            snapshotUsers = [];
            this.attempt = 0;
            this.events.state("live", "Connected");
          }
          break;
        case "transactionUpdate":
          this.apply(message.value);
          break;
        case "subscriptionError":
          throw new ConnectError(message.value.error, Code.InvalidArgument);
      }
    }
  }

  private apply(update: TransactionUpdate): void {
    for (const table of update.tables) {
      for (const row of table.insertedUsers) this.events.userChanged(fromUserRow(row));
      this.deliver(table.insertedMessages.map(fromMessageRow));
    }
  }

  private deliver(messages: Message[]): void {
    const fresh = messages.filter((m) => m.offset > this.lastOffset).sort((a, b) => (a.offset < b.offset ? -1 : 1));
    if (fresh.length === 0) return;
    this.lastOffset = fresh[fresh.length - 1].offset;
    this.events.messages(fresh);
  }
}
