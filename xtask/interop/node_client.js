// `node node_client.js URL [deflate]`: Node's `ws` client against `ws serve` (echo): texts and
// binaries of every size class must come back unchanged, then a normal close. With `deflate`
// (the server runs with --deflate), permessage-deflate must be negotiated. Exit status 0 on
// success.
const WebSocket = require("ws");

const sizes = [0, 1, 125, 126, 64 * 1024, 1024 * 1024];
const text = (n) => "é".repeat(Math.floor(n / 2)) + (n % 2 ? "a" : "");
const binary = (n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + 7) & 255));

function fail(message) {
  console.error("node client: " + message);
  process.exit(1);
}

const deflate = process.argv[3] === "deflate";
const ws = new WebSocket(process.argv[2], { perMessageDeflate: { threshold: 0 } });
const expected = [];
for (const n of sizes) expected.push({ data: text(n), binary: false });
expected.push({ data: "hello ✓ 日本語 🎉", binary: false });
for (const n of sizes) expected.push({ data: binary(n), binary: true });

let next = 0;
function sendNext() {
  if (next === expected.length) {
    ws.close(1000, "bye from node");
    return;
  }
  const { data, binary } = expected[next];
  ws.send(data, { binary });
}
ws.on("open", () => {
  console.log(`extensions: ${ws.extensions || "none"}`);
  if (deflate && !ws.extensions.startsWith("permessage-deflate")) {
    fail("permessage-deflate was not negotiated");
  }
  sendNext();
});
ws.on("message", (data, isBinary) => {
  const want = expected[next];
  const same = want.binary
    ? isBinary && Buffer.compare(data, want.data) === 0
    : !isBinary && data.toString("utf8") === want.data;
  if (!same) fail(`message ${next} (${want.binary ? "binary" : "text"}) came back different`);
  console.log(`${want.binary ? "binary" : "text"} ${Buffer.byteLength(want.data)} B ok`);
  next += 1;
  sendNext();
});
ws.on("close", (code) => {
  if (next !== expected.length) fail(`closed with ${code} after ${next} echoes`);
  if (code !== 1000) fail(`closed with ${code}, not 1000`);
  console.log("close 1000");
  process.exit(0);
});
ws.on("error", (e) => fail(e.message));
setTimeout(() => fail("no result within 60 s"), 60000);
