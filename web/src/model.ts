// What the page shows, kept apart from the DOM: users by identity, messages by offset (each exactly once).
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { MessageRow, SqlResponse, UserRow } from "./gen/chat/v1/chat_pb";

export interface User {
  identity: string;
  name?: string;
  online: boolean;
}

export interface Message {
  offset: bigint;
  sender: string;
  sent: Date;
  text: string;
}

export function shortIdentity(identity: string): string {
  return identity.slice(0, 8);
}

export function displayName(users: Map<string, User>, identity: string): string {
  return users.get(identity)?.name ?? shortIdentity(identity);
}

export function fromUserRow(row: UserRow): User {
  return { identity: row.identity, name: row.name, online: row.online };
}

export function fromMessageRow(row: MessageRow): Message {
  return { offset: row.offset, sender: row.sender, sent: row.sent ? timestampDate(row.sent) : new Date(), text: row.text };
}

/** Message rows of a `SELECT * FROM Message ...` answer (identities come as 0x + hex there). */
export function messagesFromSql(response: SqlResponse): Message[] {
  const column = (name: string) => response.columns.findIndex((c) => c.name.toLowerCase() === name);
  const [sender, sent, text, offset] = ["sender", "sent", "text", "offset"].map(column);
  return response.rows.map((row) => {
    const value = (i: number) => row.values[i]?.value;
    const s = value(sender), t = value(sent), x = value(text), o = value(offset);
    return {
      sender: s?.case === "identity" ? s.value.replace(/^0x/, "") : "",
      sent: t?.case === "timestamp" ? timestampDate(t.value) : new Date(),
      text: x?.case === "string" ? x.value : "",
      offset: o?.case === "u64" ? o.value : 0n,
    };
  });
}

/** What changed for a person between two versions of their row, in words, if anything worth a notice. */
export function userNotice(before: User | undefined, after: User, name: (u: User) => string): string | null {
  if (before?.name !== undefined && after.name !== undefined && before.name !== after.name)
    return `${before.name} is now known as ${after.name}`;
  if (before?.name === undefined && after.name !== undefined)
    return `${name({ ...after, name: undefined })} set their name to ${after.name}`;
  if (!before?.online && after.online) return `${name(after)} connected`;
  if (before?.online && !after.online) return `${name(after)} left`;
  return null;
}
