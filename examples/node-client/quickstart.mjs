// The quickstart from JavaScript: create an identity, publish, connect, set a name, send a message,
// with a client generated at run time from the published proto. Usage:
//   node quickstart.mjs [gateway address, default 127.0.0.1:50051] [database, default quickstart]
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { randomUUID } from "node:crypto";

const here = path.dirname(fileURLToPath(import.meta.url));
const definition = protoLoader.loadSync("chat/v1/chat.proto", {
  includeDirs: [path.join(here, "../../proto")],
  keepCase: true,
  longs: String,
  defaults: true,
  oneofs: true,
});
const { chat } = grpc.loadPackageDefinition(definition);
const address = process.argv[2] ?? "127.0.0.1:50051";
const database = process.argv[3] ?? "quickstart";
const credentials = grpc.credentials.createInsecure();
const client = new chat.v1.Chat(address, credentials);
const databases = new chat.v1.Databases(address, credentials);

const unary = (service, method, request, metadata = new grpc.Metadata()) =>
  new Promise((resolve, reject) => service[method](request, metadata, (error, response) => (error ? reject(error) : resolve(response))));
const bearer = (token) => {
  const metadata = new grpc.Metadata();
  metadata.add("authorization", `Bearer ${token}`);
  return metadata;
};

const { identity, token } = await unary(client, "CreateIdentity", {});
console.log(`identity ${identity}`);
await unary(databases, "Publish", { database }, bearer(token));
console.log(`published ${database}`);

const metadata = bearer(token);
metadata.add("database", database);
const stream = client.Connect(metadata);
const pending = new Map();
let requestId = 0;
const attempt = (reducer, args, idempotency_key) =>
  new Promise((resolve) => {
    const id = ++requestId;
    pending.set(id, resolve);
    stream.write({ call_reducer: { request_id: id, reducer, args_json: JSON.stringify(args), idempotency_key } });
  });
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
const hello = new Promise((resolve) => {
  stream.on("data", (message) => {
    if (message.identity_token) resolve(message.identity_token);
    if (message.reducer_result) pending.get(message.reducer_result.request_id)?.(message.reducer_result);
  });
});
stream.on("error", (error) => { if (error.code !== grpc.status.CANCELLED) console.error(`stream error: ${error.message}`); });

const token_ = await hello;
console.log(`connected as ${token_.identity} (connection ${token_.connection_id})`);
for (const [reducer, args] of [["set_name", ["Node"]], ["send_message", ["Hello from JavaScript!"]], ["set_name", [""]]]) {
  const { outcome } = await call(reducer, args);
  console.log(`${reducer}(${JSON.stringify(args)}) -> ${outcome.code === 0 ? `ok${outcome.message_offset !== "0" ? `, offset ${outcome.message_offset}` : ""}` : `error ${grpc.status[outcome.code]}: ${outcome.error}`}`);
}
stream.end();
await new Promise((resolve) => stream.on("end", resolve).on("error", resolve));
console.log("disconnected");
