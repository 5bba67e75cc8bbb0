#!/usr/bin/python3
"""Interop client for ngx_signal_module built on Python's "websockets"
library (Debian's python3-websockets, asyncio API). Driven by
t/041-interop-python.t; same line protocol on stdout as ws-client.js:

  PONG <payload>          our WebSocket ping was answered (--ping)
  FRAGMENTS a,b,c         sizes of the fragments of the subscribe message
  SUBSCRIBED <json>       the "subscribed" reply (before READY)
  READY                   subscribed, ready for events
  {"type":"event",...}    one line per event received (re-serialized)
  MSG <json>              any other server message
  CLOSED code=N clean=0|1 ms=N reason=TEXT
                          the connection closed, as websockets reports it
  ERROR <text>            something failed

Usage:
  websockets-client.py --url ws://127.0.0.1:P/ws --room R [--count N]
      [--timeout SEC] [--ping] [--fragment] [--oversize BYTES] [--hold SEC]

Exit status: 0 when the scenario completed, 1 on error, 2 on timeout.
"""

import argparse
import asyncio
import json
import sys
import time

import websockets
from websockets.exceptions import ConnectionClosed


def dumps(obj):
    """One compact JSON line, as JSON.stringify writes it."""
    return json.dumps(obj, separators=(",", ":"))


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Failure(Exception):
    pass


class State:
    phase = "connect"
    events = 0


def closed_line(ws, started):
    ms = int((time.monotonic() - started) * 1000) if started else -1
    rcvd = ws.close_rcvd
    sent = ws.close_sent
    clean = 1 if rcvd is not None and sent is not None else 0
    code = rcvd.code if rcvd is not None else 1006
    reason = rcvd.reason if rcvd is not None else ""
    return f"CLOSED code={code} clean={clean} ms={ms} reason={reason}"


async def recv_json(ws):
    data = await ws.recv()
    if not isinstance(data, str):
        raise Failure("binary message received")
    try:
        return json.loads(data)
    except ValueError:
        raise Failure(f"invalid JSON from server: {data!r}")


async def subscribe(ws, opt, st):
    msg_id = "frag-\u00fc\u20ac" if opt.fragment else "sub-1"
    msg = json.dumps({"type": "subscribe", "room": opt.room, "id": msg_id},
                     ensure_ascii=False)
    st.phase = "subscribe"

    if not opt.fragment:
        await ws.send(msg)
    else:
        # three text frames, a ping interleaved between the fragments
        cut1 = msg.index("\u00fc")
        cut2 = msg.index("\u20ac")
        pieces = [msg[:cut1], msg[cut1:cut2], msg[cut2:]]
        pong = {}

        async def fragments():
            yield pieces[0]
            pong["waiter"] = await ws.ping(b"mid-fragment")
            yield pieces[1]
            yield pieces[2]

        await ws.send(fragments())
        out("FRAGMENTS " + ",".join(str(len(p.encode())) for p in pieces))
        await pong["waiter"]
        out("PONG mid-fragment")

    while True:
        reply = await recv_json(ws)
        if reply.get("type") == "subscribed":
            out("SUBSCRIBED " + dumps(reply))
            return
        out("MSG " + dumps(reply))


async def scenario(opt, st):
    started = 0.0
    # permessage-deflate is offered (the default); the library's own
    # keepalive pings are off so that only the scenario's pings are sent
    async with websockets.connect(opt.url, ping_interval=None,
                                  max_size=None, open_timeout=opt.timeout,
                                  close_timeout=opt.timeout) as ws:
        if ws.subprotocol:
            out(f"PROTOCOL {ws.subprotocol}")
        ext = ws.response_headers.get("Sec-WebSocket-Extensions")
        if ext:
            out(f"EXTENSIONS {ext}")

        if opt.ping:
            st.phase = "ping"
            waiter = await ws.ping(b"hello-ping")
            await waiter
            out("PONG hello-ping")

        await subscribe(ws, opt, st)

        if opt.oversize > 0:
            msg = json.dumps({"type": "ping", "id": "big",
                              "pad": "x" * opt.oversize})
            st.phase = "oversize"
            out(f"OVERSIZE {len(msg.encode())}")
            started = time.monotonic()
            try:
                await ws.send(msg)
                while True:
                    reply = await recv_json(ws)
                    out("MSG " + dumps(reply))
            except ConnectionClosed:
                pass
            # wait for the closing handshake and the TCP close to finish
            await ws.wait_closed()
            out(closed_line(ws, started))
            return 0

        st.phase = "events"
        out("READY")

        if opt.count == 0 and opt.hold > 0:
            await asyncio.sleep(opt.hold)

        while st.events < opt.count:
            msg = await recv_json(ws)
            if msg.get("type") == "event":
                out(dumps(msg))
                st.events += 1
            else:
                out("MSG " + dumps(msg))

        st.phase = "closing"
        started = time.monotonic()
        await ws.close(1000, "bye")
        await ws.wait_closed()
        out(closed_line(ws, started))
        return 0


async def main(opt):
    st = State()
    try:
        return await asyncio.wait_for(scenario(opt, st), opt.timeout)
    except asyncio.TimeoutError:
        out("TIMEOUT")
        sys.stderr.write(f"websockets-client.py: timeout after {opt.timeout}s"
                         f" ({st.events} events received,"
                         f" phase {st.phase})\n")
        return 2
    except ConnectionClosed as e:
        clean = 1 if e.rcvd is not None and e.sent is not None else 0
        out(f"CLOSED code={e.code} clean={clean} ms=-1 reason={e.reason}")
        out(f"ERROR connection closed in phase {st.phase}: {e}")
        return 1
    except Exception as e:  # report anything else as an error line
        out(f"ERROR {type(e).__name__}: {e}")
        sys.stderr.write(f"websockets-client.py: {e!r}\n")
        return 1


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--room", required=True)
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--ping", action="store_true")
    p.add_argument("--fragment", action="store_true")
    p.add_argument("--oversize", type=int, default=0)
    p.add_argument("--hold", type=float, default=0)
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
