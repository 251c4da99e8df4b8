// The gateway's chat.v1 services over gRPC-Web, and the identity this browser keeps.
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { Chat, Databases } from "./gen/chat/v1/chat_pb";

const transport = createGrpcWebTransport({ baseUrl: location.origin });
export const chat = createClient(Chat, transport);
export const databases = createClient(Databases, transport);
export { ConnectError, Code };

export interface StoredIdentity {
  identity: string;
  token: string;
}

// One identity per browser profile and stack (the key includes the origin's port): it is who "you" are in every database.
const storageKey = "chat.identity";

export function storedIdentity(): StoredIdentity | null {
  try {
    const parsed = JSON.parse(localStorage.getItem(storageKey) ?? "null");
    return parsed && typeof parsed.identity === "string" && typeof parsed.token === "string" ? parsed : null;
  } catch {
    return null;
  }
}

export function storeIdentity(identity: StoredIdentity | null): void {
  if (identity) localStorage.setItem(storageKey, JSON.stringify(identity));
  else localStorage.removeItem(storageKey);
}

/** The stored identity, or a new one from CreateIdentity (kept for next time). */
export async function ensureIdentity(): Promise<StoredIdentity> {
  const stored = storedIdentity();
  if (stored) return stored;
  const created = await chat.createIdentity({});
  const identity = { identity: created.identity, token: created.token };
  storeIdentity(identity);
  return identity;
}

export function bearer(identity: StoredIdentity): Record<string, string> {
  return { authorization: `Bearer ${identity.token}` };
}

/** The words a person can act on: a gRPC error's own message, without Connect's "[code]" prefix. */
export function describeError(error: unknown): string {
  if (error instanceof ConnectError) return error.rawMessage || Code[error.code];
  return error instanceof Error ? error.message : String(error);
}
