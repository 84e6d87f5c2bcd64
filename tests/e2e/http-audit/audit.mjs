// The GraphQL-over-HTTP audit published with the reference implementation, against one server:
//   node audit.mjs http://127.0.0.1:8000/graphql
// prints one JSON line per audit: {"id", "name", "status": "ok" | "warn" | "error", "reason"}.
import { auditServer } from "graphql-http";

const url = process.argv[2];
if (!url || !url.startsWith("http://127.0.0.1:")) {
  console.error("usage: node audit.mjs http://127.0.0.1:PORT/graphql (loopback only)");
  process.exit(2);
}
for (const result of await auditServer({ url })) {
  const reason = result.status === "ok" ? "" : result.reason;
  console.log(JSON.stringify({ id: result.id, name: result.name, status: result.status, reason }));
}
