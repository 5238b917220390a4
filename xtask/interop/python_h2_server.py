"""A WebSocket echo server over HTTP/2 (RFC 8441) on Python's `h2` and `wsproto`, for
`cargo xtask interop`.

`h2` runs the HTTP/2 connection (with SETTINGS_ENABLE_CONNECT_PROTOCOL) and accepts extended
CONNECT requests for `websocket` with 200; on each such stream `wsproto`'s frame-level
`Connection` decodes the client's frames and encodes the echo. Data is sent within the peer's
flow-control windows and received data is acknowledged once handled. Prints
"listening on ws://127.0.0.1:PORT/" once ready and "close CODE" for each Close received.
"""

import asyncio
import signal
import sys

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

# Stop reading from a client whose echoes wait for window this long.
MAX_PENDING = 4 * 1024 * 1024


class H2WebSocketEcho(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1})
        self.streams = {}  # stream id -> wsproto Connection
        self.pending = {}  # stream id -> bytearray waiting for flow-control window
        self.ending = set()  # streams to end once their pending data is out
        self.paused = False
        self.flush()

    def data_received(self, data):
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as error:
            print(f"HTTP/2 protocol error: {error}", file=sys.stderr)
            self.flush()
            self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                self.request(event.stream_id, dict(event.headers))
            elif isinstance(event, h2.events.DataReceived):
                self.websocket_data(event.stream_id, event.data)
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.WindowUpdated):
                for stream_id in list(self.pending):
                    self.send_pending(stream_id)
            elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                self.streams.pop(event.stream_id, None)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.transport.close()
        self.flush()

    def request(self, stream_id, headers):
        if headers.get(":method") != "CONNECT" or headers.get(":protocol") != "websocket":
            self.conn.send_headers(stream_id, [(":status", "400")], end_stream=True)
            return
        if headers.get("sec-websocket-version") != "13" or "sec-websocket-key" in headers:
            print(f"bad handshake headers: {headers}", file=sys.stderr)
            sys.exit(1)
        offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
        answer = [(":status", "200")]
        if "echo" in offered:
            answer.append(("sec-websocket-protocol", "echo"))
        self.conn.send_headers(stream_id, answer)
        self.streams[stream_id] = Connection(ConnectionType.SERVER)
        self.pending[stream_id] = bytearray()

    def websocket_data(self, stream_id, data):
        ws = self.streams.get(stream_id)
        if ws is None:
            return
        ws.receive_data(data)
        out = bytearray()
        for event in ws.events():
            if isinstance(event, TextMessage):
                out += ws.send(TextMessage(data=event.data, message_finished=event.message_finished))
            elif isinstance(event, BytesMessage):
                out += ws.send(BytesMessage(data=event.data, message_finished=event.message_finished))
            elif isinstance(event, Ping):
                out += ws.send(event.response())
            elif isinstance(event, CloseConnection):
                print(f"close {event.code}", flush=True)
                out += ws.send(event.response())
                self.ending.add(stream_id)
        self.pending[stream_id] += out
        self.send_pending(stream_id)

    def send_pending(self, stream_id):
        buf = self.pending.get(stream_id)
        if buf is None:
            return
        while buf:
            window = self.conn.local_flow_control_window(stream_id)
            n = min(window, self.conn.max_outbound_frame_size, len(buf))
            if n <= 0:
                break
            self.conn.send_data(stream_id, bytes(buf[:n]))
            del buf[:n]
        if not buf and stream_id in self.ending:
            self.conn.end_stream(stream_id)
            self.ending.discard(stream_id)
            del self.pending[stream_id]
        waiting = sum(len(b) for b in self.pending.values())
        if waiting > MAX_PENDING and not self.paused:
            self.transport.pause_reading()
            self.paused = True
        elif waiting <= MAX_PENDING and self.paused:
            self.transport.resume_reading()
            self.paused = False

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.transport.write(data)


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(H2WebSocketEcho, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on ws://127.0.0.1:{port}/", flush=True)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with server:
        await stop


if __name__ == "__main__":
    asyncio.run(main())
