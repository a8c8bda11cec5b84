"""A minimal RFC 6455 websocket over the HTTP server's connection: the upgrade answer, text
frames out (unmasked, as a server sends), frames in (masked, as a client must send; fragments
joined), ping answered with pong, close answered with close. One thread reads (`receive`),
others may send; sends are serialised by a lock."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import struct
import threading
from io import BufferedIOBase

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE = 1024 * 1024  # bytes a client may send in one message
TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class Closed(Exception):
    """The peer closed the connection (or broke the protocol)."""


def accept_key(key: str) -> str:
    """`Sec-WebSocket-Accept` for the client's `Sec-WebSocket-Key`."""
    return base64.b64encode(hashlib.sha1(key.strip().encode() + _GUID).digest()).decode()


def frame(opcode: int, data: bytes) -> bytes:
    """One final, unmasked frame."""
    head = bytes([0x80 | opcode])
    size = len(data)
    if size < 126:
        head += bytes([size])
    elif size < 1 << 16:
        head += bytes([126]) + struct.pack("!H", size)
    else:
        head += bytes([127]) + struct.pack("!Q", size)
    return head + data


class Socket:
    def __init__(self, rfile: BufferedIOBase, wfile: BufferedIOBase) -> None:
        self._rfile, self._wfile = rfile, wfile
        self._lock = threading.Lock()
        self.closed = threading.Event()

    def send_text(self, text: str) -> None:
        self._send(TEXT, text.encode())

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame (once); the connection ends when the handler returns."""
        if not self.closed.is_set():
            self.closed.set()
            with contextlib.suppress(Closed, OSError):
                self._send(CLOSE, struct.pack("!H", code) + reason.encode()[:120], force=True)

    def _send(self, opcode: int, data: bytes, force: bool = False) -> None:
        if self.closed.is_set() and not force:
            raise Closed("the websocket is closed")
        with self._lock:
            try:
                self._wfile.write(frame(opcode, data))
                self._wfile.flush()
            except OSError as exc:
                self.closed.set()
                raise Closed(str(exc)) from None

    def _read(self, count: int) -> bytes:
        data = self._rfile.read(count) if count else b""
        if len(data) < count:
            raise Closed("the connection ended")
        return data

    def _frame(self) -> tuple[bool, int, bytes]:
        first, second = self._read(2)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self._read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._read(8))[0]
        if size > MAX_MESSAGE:
            self.close(1009, "message too big")
            raise Closed("message too big")
        if not second & 0x80:
            self.close(1002, "client frames must be masked")
            raise Closed("unmasked client frame")
        mask = self._read(4)
        data = bytes(byte ^ mask[index % 4] for index, byte in enumerate(self._read(size)))
        return bool(first & 0x80), first & 0x0F, data

    def receive(self) -> str:
        """The next text message; control frames are answered on the way. Raises `Closed`."""
        parts: list[bytes] = []
        while True:
            try:
                final, opcode, data = self._frame()
            except (OSError, ValueError):
                self.closed.set()
                raise Closed("the connection ended") from None
            if opcode == PING:
                self._send(PONG, data)
            elif opcode == PONG:
                continue
            elif opcode == CLOSE:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1000
                self.close(code if code in (1000, 1001) else 1000)
                raise Closed("closed by the client")
            elif opcode in (TEXT, BINARY, CONTINUATION):
                parts.append(data)
                if sum(len(part) for part in parts) > MAX_MESSAGE:
                    self.close(1009, "message too big")
                    raise Closed("message too big")
                if final:
                    try:
                        return b"".join(parts).decode()
                    except UnicodeDecodeError:
                        self.close(1007, "not UTF-8")
                        raise Closed("not UTF-8") from None
            else:
                self.close(1002, "unknown opcode")
                raise Closed("unknown opcode")
