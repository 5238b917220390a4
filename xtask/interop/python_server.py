"""`python python_server.py`: Python's `websockets` echo server on a free loopback port, for
`ws connect`. It accepts permessage-deflate when offered (websockets' default); each connection
prints the extensions it negotiated."""
import asyncio

from websockets.asyncio.server import serve


async def echo(ws):
    extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "none")
    print(f"connection extensions: {extensions}", flush=True)
    async for message in ws:
        await ws.send(message)


async def main():
    async with serve(echo, "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on ws://127.0.0.1:{port}/", flush=True)
        await asyncio.get_running_loop().create_future()


asyncio.run(main())
