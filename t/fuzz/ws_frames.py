#!/usr/bin/python3
"""Random and malformed WebSocket traffic against a signal_websocket
location: valid, truncated, fragmented, unmasked, reserved-bit and random
frames, byte-split writes and abortive closes.  The caller checks that
nginx survives (no crash, no sanitizer report) and still serves.

usage: ws_frames.py PORT SEED ITERATIONS
"""
import os, random, socket, struct, sys

port, seed, iterations = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
req=(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
def frame(op, payload, fin=1, rsv=0, mask=True):
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    n = len(payload)
    h = bytes([b0])
    m = 0x80 if mask else 0
    if n < 126: h += bytes([m|n])
    elif n < 65536: h += bytes([m|126]) + struct.pack(">H", n)
    else: h += bytes([m|127]) + struct.pack(">Q", n)
    if mask:
        k = rnd.randbytes(4); h += k
        payload = bytes(c ^ k[i % 4] for i, c in enumerate(payload))
    return h + payload
msgs=[b'{"type":"subscribe","room":"bulk_upload:*"}', b'{"type":"ping","id":1}', b'{"type":"unsubscribe","room":"x"}',
      b'{', b'[]', b'{"type":"subscribe","room":"' + b'a'*2000 + b'"}', b'{"id":' + b'['*100 + b'}']
for it in range(iterations):
    s=socket.create_connection(("127.0.0.1", port)); s.settimeout(0.5)
    data=req
    for _ in range(rnd.randint(1,8)):
        r=rnd.random()
        if r<0.3: data+=frame(1, rnd.choice(msgs))
        elif r<0.5: data+=frame(rnd.choice([0,1,2,8,9,10,3,11]), rnd.randbytes(rnd.randint(0,200)), fin=rnd.random()<0.7, rsv=rnd.choice([0,0,0,1]), mask=rnd.random()<0.95)
        elif r<0.6: data+=rnd.randbytes(rnd.randint(1,50))
        elif r<0.8: m=rnd.choice(msgs); k=rnd.randint(0,len(m)); data+=frame(1,m[:k],fin=0)+frame(9,b'p')+frame(0,m[k:])
        else: data+=frame(8, struct.pack(">H", rnd.choice([1000,1001,999,1005,3000,5000]))+rnd.randbytes(rnd.randint(0,5)))
    try:
        if rnd.random()<0.3:
            for i in range(0,len(data),7): s.send(data[i:i+7])
        else: s.sendall(data)
        s.recv(65536)
    except Exception: pass
    if rnd.random()<0.5: s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii',1,0))
    s.close()
print("done", iterations)
