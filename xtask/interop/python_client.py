"""`python python_client.py URL [deflate]`: Python's `websockets` client against `ws serve`
(echo): texts and binaries of every size class must come back unchanged, then a normal close.
With `deflate` (the server runs with --deflate), permessage-deflate must be negotiated; the
client offers it in any case, as websockets does by default."""
import asyncio
import sys

from websockets.asyncio.client import connect

SIZES = [0, 1, 125, 126, 64 * 1024, 1024 * 1024]


def text(n):
    return "é" * (n // 2) + ("a" if n % 2 else "")


def binary(n):
    return bytes((i * 31 + 7) & 255 for i in range(n))


async def main(url):
    messages = [text(n) for n in SIZES] + ["hello ✓ 日本語 🎉"] + [binary(n) for n in SIZES]
    async with connect(url, max_size=None) as ws:
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "none")
        print(f"extensions: {extensions}", flush=True)
        if len(sys.argv) > 2 and sys.argv[2] == "deflate":
            if not extensions.startswith("permessage-deflate"):
                sys.exit("python client: permessage-deflate was not negotiated")
        for sent in messages:
            await ws.send(sent)
            got = await ws.recv()
            if type(got) is not type(sent) or got != sent:
                sys.exit(f"python client: a {type(sent).__name__} of {len(sent)} came back different")
            kind = "text" if isinstance(sent, str) else "binary"
            size = len(sent.encode()) if isinstance(sent, str) else len(sent)
            print(f"{kind} {size} B ok", flush=True)
        await ws.close(1000, "bye from python")
    code = ws.close_code
    if code != 1000:
        sys.exit(f"python client: the server answered the close with {code}, not 1000")
    print("close 1000")


asyncio.run(asyncio.wait_for(main(sys.argv[1]), 60))
