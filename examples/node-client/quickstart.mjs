// The quickstart from JavaScript: join a database (publishing it first only when it does not exist yet), connect,
// set a name, send a message, with a client generated at run time from the published proto. Usage:
//   node quickstart.mjs [database, default quickstart-chat] [gateway address, default $CHAT_SERVER or 127.0.0.1:50051]
// The identity and its token are kept in $XDG_CONFIG_HOME/chat/node-client.json (else ~/.config/chat/...), so a
// second run is the same person. Every failure is one line on stderr and exit code 1.
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";
import path from "node:path";
import os from "node:os";
import fs from "node:fs";
import { randomUUID } from "node:crypto";

/** A failure the person can act on, printed as it is. */
class Failure extends Error {}

// The order of the two arguments does not matter: the one that looks like host:port (or http://...) is the address.
const isAddress = (text) => /^(https?:\/\/)?[\w.-]+:\d+\/?$/.test(text);
const args = process.argv.slice(2);
const address = (args.find(isAddress) ?? process.env.CHAT_SERVER ?? "127.0.0.1:50051").replace(/^https?:\/\//, "").replace(/\/$/, "");
const database = args.find((a) => !isAddress(a)) ?? "quickstart-chat";

const here = path.dirname(fileURLToPath(import.meta.url));
const definition = protoLoader.loadSync("chat/v1/chat.proto", {
  includeDirs: [path.join(here, "../../proto")],
  keepCase: true,
  longs: String,
  defaults: true,
  oneofs: true,
});
const { chat } = grpc.loadPackageDefinition(definition);
const credentials = grpc.credentials.createInsecure();
const client = new chat.v1.Chat(address, credentials);
const databases = new chat.v1.Databases(address, credentials);

const unary = (service, method, request, metadata = new grpc.Metadata()) =>
  new Promise((resolve, reject) =>
    service[method](request, metadata, { deadline: Date.now() + 30_000 }, (error, response) => (error ? reject(error) : resolve(response))));
const bearer = (token) => {
  const metadata = new grpc.Metadata();
  metadata.add("authorization", `Bearer ${token}`);
  return metadata;
};

/** One identity per gateway, saved owner-only: making a new one on every run would be a new person each time. */
async function identityFor() {
  const folder = path.join(process.env.XDG_CONFIG_HOME || path.join(os.homedir(), ".config"), "chat");
  const file = path.join(folder, "node-client.json");
  let saved = {};
  try {
    saved = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    if (error.code !== "ENOENT") throw new Failure(`${file} cannot be read (${error.message}); fix or remove it`);
  }
  if (saved[address]) return saved[address];
  const created = await unary(client, "CreateIdentity", {});
  saved[address] = { identity: created.identity, token: created.token };
  fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, JSON.stringify(saved, null, 2) + "\n", { mode: 0o600 });
  console.log(`created identity ${created.identity} (saved in ${file})`);
  return saved[address];
}

/** Joins an existing database by name; publishes it (as its owner) only when there is none of that name. */
async function ensureDatabase(token) {
  try {
    await unary(client, "Sql", { database, query: "SELECT * FROM Message LIMIT 1" }, bearer(token));
    console.log(`joining ${database}`);
  } catch (error) {
    if (error.code !== grpc.status.NOT_FOUND) throw error;
    await unary(databases, "Publish", { database }, bearer(token));
    console.log(`published ${database}`);
  }
}

async function main() {
  const { identity, token } = await identityFor();
  console.log(`identity ${identity}`);
  await ensureDatabase(token);

  const metadata = bearer(token);
  metadata.add("database", database);
  const stream = client.Connect(metadata);
  const pending = new Map();
  let requestId = 0;
  let failed;
  const failure = new Promise((_, reject) => { failed = reject; });
  failure.catch(() => {});
  const attempt = (reducer, args, idempotency_key) =>
    Promise.race([failure, new Promise((resolve) => {
      const id = ++requestId;
      pending.set(id, resolve);
      stream.write({ call_reducer: { request_id: id, reducer, args_json: JSON.stringify(args), idempotency_key } });
    })]);
  // Every call carries a key of its own; UNAVAILABLE (storage briefly gone) is retried with that same key, so a call
  // whose first attempt committed after all is answered with its result (replayed) instead of being run twice.
  const call = async (reducer, args) => {
    const key = randomUUID();
    for (let tries = 1; ; tries++) {
      const result = await attempt(reducer, args, key);
      if (result.outcome.code !== grpc.status.UNAVAILABLE || tries === 4) return result;
      await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** tries));
    }
  };
  let closing = false;
  const hello = Promise.race([failure, new Promise((resolve) => {
    stream.on("data", (message) => {
      if (message.identity_token) resolve(message.identity_token);
      if (message.reducer_result) pending.get(message.reducer_result.request_id)?.(message.reducer_result);
    });
  })]);
  stream.on("error", (error) => { if (!(closing && error.code === grpc.status.CANCELLED)) failed(error); });
  stream.on("end", () => { if (!closing) failed(new Failure("the gateway ended the connection")); });

  const connected = await hello;
  console.log(`connected as ${connected.identity} (connection ${connected.connection_id})`);
  for (const [reducer, args] of [["set_name", ["Node"]], ["send_message", ["Hello from JavaScript!"]], ["set_name", [""]]]) {
    const { outcome } = await call(reducer, args);
    console.log(`${reducer}(${JSON.stringify(args)}) -> ${outcome.code === 0 ? `ok${outcome.message_offset !== "0" ? `, offset ${outcome.message_offset}` : ""}` : `error ${grpc.status[outcome.code]}: ${outcome.error}`}`);
  }
  closing = true;
  stream.end();
  await new Promise((resolve) => stream.on("end", resolve).on("error", resolve).on("status", resolve));
  console.log("disconnected");
}

/** What went wrong, in one line, with what to do next where there is an obvious next step. */
function describe(error) {
  if (error instanceof Failure) return error.message;
  if (typeof error?.code === "number" && error.code in grpc.status) {
    const status = grpc.status[error.code];
    const detail = error.details || status;
    if (error.code === grpc.status.UNAVAILABLE)
      return `cannot reach the chat gateway at ${address} (${detail}). Start the stack with: dotnet run --project src/Silo`;
    return `${status}: ${detail}`;
  }
  return error?.message ?? String(error);
}

try {
  await main();
  process.exit(0);
} catch (error) {
  console.error(`error: ${describe(error)}`);
  process.exit(1);
}
