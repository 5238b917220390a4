// `node node_server.js`: Node's `ws` echo server on a free loopback port, for `ws connect`.
const { WebSocketServer } = require("ws");

const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
server.on("listening", () => {
  console.log(`listening on ws://127.0.0.1:${server.address().port}/`);
});
server.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});
