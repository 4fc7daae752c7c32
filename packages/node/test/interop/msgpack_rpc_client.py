#!/usr/bin/python3
"""A plain msgpack-rpc client over WebSocket, written without wirecall.

Usage: /usr/bin/python3 msgpack_rpc_client.py ws://127.0.0.1:PORT

Speaks the msgpack-rpc spec only (request [0, msgid, method, params],
response [1, msgid, error, result], notification [2, method, params]) and
prints one JSON object with what it got, for test/interop.test.ts to check.
Needs Debian's python3-websockets and python3-msgpack.
"""
import asyncio
import json
import sys

import msgpack
import websockets


async def main(url):
    out = {}
    async with websockets.connect(url, max_size=None) as ws:
        async def call(msgid, method, params):
            await ws.send(msgpack.packb([0, msgid, method, params], use_bin_type=True))
            while True:
                frame = await asyncio.wait_for(ws.recv(), timeout=5)
                if isinstance(frame, str):
                    raise RuntimeError("text frame in a msgpack session: %r" % frame)
                msg = msgpack.unpackb(frame, raw=False)
                if msg[0] == 1 and msg[1] == msgid:
                    return {"msgid": msg[1], "error": msg[2], "result": msg[3]}

        out["add"] = await call(1, "add", [3, 4])
        out["missing"] = await call(2, "no.such.method", [])
        # Fire-and-forget: no response is expected, so none is read.
        await ws.send(msgpack.packb([2, "record", ["hello from python"]], use_bin_type=True))
        out["nested"] = await call(3, "addition.add", [40, 2])
        out["binary"] = await call(4, "length", [b"\x00\x01\x02"])
        out["raises"] = await call(5, "fail", ["boom"])
        # Pipelined: several requests in flight, answered in any order.
        for msgid in range(10, 20):
            await ws.send(msgpack.packb([0, msgid, "add", [msgid, 1]], use_bin_type=True))
        pipelined = {}
        while len(pipelined) < 10:
            msg = msgpack.unpackb(await asyncio.wait_for(ws.recv(), timeout=5), raw=False)
            pipelined[str(msg[1])] = msg[3]
        out["pipelined"] = pipelined
        out["recorded"] = await call(6, "recorded", [])
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
