// A WebSocket echo server over HTTP/2 (RFC 8441) on Node's own `http2` module, for
// `cargo xtask interop`. Node has no WebSocket framing over HTTP/2, so the frames are decoded
// and encoded here (RFC 6455 §5): the client's masked frames come back unmasked with the same
// FIN bit, opcode and payload, pings are answered with pongs and a Close is echoed before the
// stream ends. Prints "listening on ws://127.0.0.1:PORT/" once ready and "close CODE" for each
// Close received; exits with the first protocol violation it sees.
'use strict';
const http2 = require('http2');

const MAX_FRAME = 16 * 1024 * 1024;

const server = http2.createServer({ settings: { enableConnectProtocol: true } });

server.on('stream', (stream, headers) => {
  if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket') {
    stream.respond({ ':status': 400 });
    stream.end(`expected an extended CONNECT for websocket, got ${headers[':method']}\n`);
    return;
  }
  if (headers['sec-websocket-version'] !== '13' || 'sec-websocket-key' in headers) {
    console.error('bad handshake headers', headers);
    process.exit(1);
  }
  const offered = (headers['sec-websocket-protocol'] || '').split(',').map((p) => p.trim());
  const answer = { ':status': 200 };
  if (offered.includes('echo')) answer['sec-websocket-protocol'] = 'echo';
  stream.respond(answer);

  let buffered = Buffer.alloc(0);
  let closed = false;
  stream.on('data', (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      const frame = parseFrame(buffered);
      if (frame === null) break;
      buffered = buffered.subarray(frame.size);
      handle(frame);
    }
  });
  stream.on('end', () => {
    if (!closed) stream.end();
  });
  stream.on('error', () => {});

  function handle(frame) {
    if (closed) return;
    switch (frame.opcode) {
      case 0x0: case 0x1: case 0x2:
        stream.write(encodeFrame(frame.fin, frame.opcode, frame.payload));
        break;
      case 0x9:
        stream.write(encodeFrame(true, 0xa, frame.payload));
        break;
      case 0xa:
        break;
      case 0x8: {
        const code = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1005;
        console.log(`close ${code}`);
        closed = true;
        stream.end(encodeFrame(true, 0x8, frame.payload));
        break;
      }
      default:
        console.error(`unknown opcode ${frame.opcode}`);
        process.exit(1);
    }
  }
});

// One frame from the start of `buf`, or null when it is not complete yet.
function parseFrame(buf) {
  if (buf.length < 2) return null;
  const fin = (buf[0] & 0x80) !== 0;
  const opcode = buf[0] & 0x0f;
  if ((buf[1] & 0x80) === 0) {
    console.error('client frame without a mask');
    process.exit(1);
  }
  let length = buf[1] & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buf.length < 4) return null;
    length = buf.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buf.length < 10) return null;
    const big = buf.readBigUInt64BE(2);
    if (big > BigInt(MAX_FRAME)) {
      console.error(`frame of ${big} bytes is over the limit`);
      process.exit(1);
    }
    length = Number(big);
    offset = 10;
  }
  if (buf.length < offset + 4 + length) return null;
  const mask = buf.subarray(offset, offset + 4);
  const payload = Buffer.from(buf.subarray(offset + 4, offset + 4 + length));
  for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
  return { fin, opcode, payload, size: offset + 4 + length };
}

// A server frame (unmasked).
function encodeFrame(fin, opcode, payload) {
  let head;
  if (payload.length < 126) {
    head = Buffer.from([(fin ? 0x80 : 0) | opcode, payload.length]);
  } else if (payload.length < 65536) {
    head = Buffer.alloc(4);
    head[0] = (fin ? 0x80 : 0) | opcode;
    head[1] = 126;
    head.writeUInt16BE(payload.length, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = (fin ? 0x80 : 0) | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  return Buffer.concat([head, payload]);
}

server.listen(0, '127.0.0.1', () => {
  console.log(`listening on ws://127.0.0.1:${server.address().port}/`);
});
process.on('SIGTERM', () => process.exit(0));
