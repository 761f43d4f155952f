#!/usr/bin/env python3
"""Prints the frames of an inbox WebSocket (GET /v1/stream), one JSON object a line.

Standard library only: a minimal RFC 6455 client for text frames.
Usage: scripts/watch.py ws://127.0.0.1:8080/v1/stream TOKEN
The token (an access token or API key) goes in the Authorization header: the gateway takes no
credential in the URL but a single-use ticket.
"""
import base64
import os
import socket
import struct
import sys
from urllib.parse import urlparse


def main(url: str, token: str) -> None:
    u = urlparse(url)
    sock = socket.create_connection((u.hostname, u.port or 80))
    key = base64.b64encode(os.urandom(16)).decode()
    path = u.path + ("?" + u.query if u.query else "")
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    reader = sock.makefile("rb")
    status = reader.readline().decode().strip()
    if " 101 " not in status:
        sys.exit(f"handshake refused: {status}")
    while reader.readline() not in (b"\r\n", b""):
        pass
    while True:
        head = reader.read(2)
        if len(head) < 2:
            return
        opcode, length = head[0] & 0x0F, head[1] & 0x7F
        if length == 126:
            length = struct.unpack(">H", reader.read(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", reader.read(8))[0]
        payload = reader.read(length)
        if opcode == 1:
            print(payload.decode(), flush=True)
        elif opcode == 8:
            return


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
