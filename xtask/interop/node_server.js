// `node node_server.js [deflate]`: Node's `ws` echo server on a free loopback port, for
// `ws connect`; with `deflate` it accepts permessage-deflate and compresses every message.
// Each connection prints the extensions it negotiated.
const { WebSocketServer } = require("ws");

const deflate = process.argv[2] === "deflate";
const server = new WebSocketServer({
  host: "127.0.0.1",
  port: 0,
  perMessageDeflate: deflate ? { threshold: 0 } : false,
});
server.on("listening", () => {
  console.log(`listening on ws://127.0.0.1:${server.address().port}/`);
});
server.on("connection", (ws) => {
  console.log(`connection extensions: ${ws.extensions || "none"}`);
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});
