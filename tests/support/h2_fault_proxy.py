"""tests/support/h2_fault_proxy.py — a FAULT INJECTOR, not a server: an
HTTP/2 peer written for the hostile-server test, standing between a worker
and the real dev server. It is never used for a correctness claim; the real
dev server is. Standard library only; frames are built by hand.

  h2_fault_proxy.py TARGET_HOST:PORT CONTROL_FILE PORT_FILE

Listens on a free loopback port and writes it to PORT_FILE. CONTROL_FILE
holds the mode (a missing or empty file is "pass"), or MODE:SUBCASE to play
one of its sub-cases only; it is read every 0.1 s, and when it changes every
open connection is cut, so the worker reconnects into the new mode. Each
connection keeps the mode it was accepted in. One line per event on stderr:
the mode changes (with the connections per mode and sub-case so far), and
per connection its mode, sub-case, bytes sent, how it ended ("client
closed" when the worker hung up by itself) and after how long, the client's
GOAWAY, and in the modes that answer requests how many it answered and how
many streams the client reset.

Modes (the sub-cases of a mode take turns, per connection or per stream):
  pass          bytes forwarded both ways to the target.
  garbage       after the client's preface: random bytes; DATA on stream 0;
                a frame longer than SETTINGS_MAX_FRAME_SIZE; a SETTINGS
                frame of 5 bytes; a response HEADERS block that is not valid
                HPACK; an unknown frame type then HEADERS on a stream the
                client never opened.
  lying-length  a proper handshake (SETTINGS, acknowledgements, PING
                answers); each request gets a :status 200 application/grpc
                response whose gRPC message prefix lies: claims 0x7fffffff
                bytes; claims 1 MiB, sends 100 bytes and OK trailers; claims
                4096 and ends the stream after 10; sets the compressed flag
                with no grpc-encoding; claims 96 MiB (under the client's
                limit) and sends 1000 bytes, leaving the stream open.
  goaway-storm  SETTINGS then GOAWAY at once (last stream 0), or 200 GOAWAY
                frames of assorted error codes, or a graceful GOAWAY
                (last stream 2^31-1) and silence for 1 s; then close.
  metadata-bomb a proper handshake; each request gets response headers
                whose HPACK block adds a 4000-byte grpc-message to the
                dynamic table and then refers to it 12000 times (12 KiB on
                the wire, 48 MB decoded), then grpc-status 14 trailers.
  flood         SETTINGS then, for as long as the connection lives, a flood
                of PING, of SETTINGS, of WINDOW_UPDATE, or of empty DATA
                frames (on the client's streams, after response headers);
                nothing the client sends is answered, its PINGs included.
  silent        accept, read everything, never send a byte.
  reset         accept and reset the connection at once (RST, SO_LINGER 0).
"""
import asyncio
import os
import socket
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0x0, 0x1, 0x3, 0x4, 0x6, 0x7, 0x8, 0x9)
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
# RFC 9113 section 7.
H2_ERRORS = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
             "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
             "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
             "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]

# Per stream, in lying-length mode.
LIES = ["huge-prefix", "short-message", "short-end-stream", "compressed-flag", "big-claim-trickle"]
# Per connection.
SUBCASES = {
    "pass": ["forward"],
    "garbage": ["random-bytes", "data-on-stream-0", "oversized-frame", "short-settings",
                "bad-hpack", "unopened-stream"],
    "lying-length": ["lies-per-stream"],
    "goaway-storm": ["goaway-at-once", "goaway-200", "graceful-goaway"],
    "flood": ["ping", "settings", "window-update", "empty-data"],
    "metadata-bomb": ["metadata-bomb"],
    "silent": ["silent"],
    "reset": ["rst"],
}


def log(msg):
    sys.stderr.write("%.3f %s\n" % (time.monotonic(), msg))
    sys.stderr.flush()


def frame(ftype, flags, stream, payload=b""):
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, ftype, flags, stream & 0x7FFFFFFF) + payload


def hpack_string(s):
    # Short strings only: the length fits the 7-bit prefix; no Huffman coding.
    assert len(s) < 127
    return bytes([len(s)]) + s


def hpack_literal(name, value):
    # Literal header field without indexing, new name (RFC 7541 6.2.2).
    return b"\x00" + hpack_string(name) + hpack_string(value)


# ":status: 200" is entry 8 of the static table (0x88, indexed); content-type
# is entry 31: a literal without indexing with an indexed name, the index in
# a 4-bit prefix (15, then 16 more).
RESPONSE_HEADERS = b"\x88" + b"\x0f\x10" + hpack_string(b"application/grpc")
OK_TRAILERS = hpack_literal(b"grpc-status", b"0")
UNAVAILABLE_TRAILERS = hpack_literal(b"grpc-status", b"14")


def hpack_int(value, prefix_bits, first):
    # RFC 7541 5.1: an integer in a prefix of prefix_bits, then 7 bits a byte.
    top = (1 << prefix_bits) - 1
    if value < top:
        return bytes([first | value])
    out = [first | top]
    value -= top
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(out + [value])


# The response headers, then a 4000-byte grpc-message added to the dynamic
# table (a literal with incremental indexing, 0x40: it becomes entry 62, the
# only one that fits the default 4096 bytes), then 12000 one-byte references
# to it (0x80 | 62): 12 KiB on the wire, 48 MB decoded.
BOMB_VALUE = b"A" * 4000
BOMB = (RESPONSE_HEADERS + b"\x40" + hpack_int(12, 7, 0) + b"grpc-message" +
        hpack_int(len(BOMB_VALUE), 7, 0) + BOMB_VALUE + bytes([0x80 | 62]) * 12000)


def grpc_prefix(flag, length):
    return struct.pack(">BI", flag, length)


class ClientGone(Exception):
    pass


class Conn:
    """One accepted connection and what happened on it, for its log line."""

    def __init__(self, proxy, n, mode, sub, reader, writer):
        self.proxy, self.n, self.mode, self.sub = proxy, n, mode, sub
        self.reader, self.writer = reader, writer
        self.start = time.monotonic()
        self.sent = 0
        self.notes = []
        self.ended = None
        self.requests = 0  # HEADERS the client opened a stream with (served modes)
        self.resets = 0  # RST_STREAM frames from the client

    def send(self, data):
        self.writer.write(data)
        self.sent += len(data)

    async def read_frame(self):
        try:
            head = await self.reader.readexactly(9)
            length = (head[0] << 16) | (head[1] << 8) | head[2]
            payload = await self.reader.readexactly(length)
        except asyncio.IncompleteReadError:
            raise ClientGone("client closed")
        except ConnectionResetError:
            raise ClientGone("client reset")
        return head[3], head[4], struct.unpack(">I", head[5:9])[0] & 0x7FFFFFFF, payload

    async def read_preface(self):
        try:
            got = await self.reader.readexactly(len(PREFACE))
        except asyncio.IncompleteReadError:
            raise ClientGone("client closed before its preface")
        if got != PREFACE:
            self.notes.append("bad client preface %r" % got)

    def note_goaway(self, payload):
        code = struct.unpack(">I", payload[4:8])[0] if len(payload) >= 8 else -1
        name = H2_ERRORS[code] if 0 <= code < len(H2_ERRORS) else str(code)
        text = payload[8:60].decode("utf-8", "replace")
        self.notes.append("client GOAWAY %s%s" % (name, " (%s)" % text if text else ""))

    async def drain_until_gone(self):
        """Reads (and notes the GOAWAY of) the client until it hangs up."""
        while True:
            ftype, flags, stream, payload = await self.read_frame()
            if ftype == GOAWAY:
                self.note_goaway(payload)


# --- modes ------------------------------------------------------------------


async def mode_pass(c):
    host, port = c.proxy.target
    try:
        ureader, uwriter = await asyncio.open_connection(host, port)
    except OSError as e:
        raise ClientGone("target unreachable: %s" % e)

    async def pipe(r, w, to_client):
        try:
            while data := await r.read(65536):
                w.write(data)
                if to_client:
                    c.sent += len(data)
                await w.drain()
        except ConnectionError:
            pass

    try:
        done, pending = await asyncio.wait(
            [asyncio.ensure_future(pipe(c.reader, uwriter, False)),
             asyncio.ensure_future(pipe(ureader, c.writer, True))],
            return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
    finally:
        uwriter.transport.abort()
    raise ClientGone("one side closed")


async def mode_garbage(c):
    await c.read_preface()
    settings = frame(SETTINGS, 0, 0)
    if c.sub == "random-bytes":
        c.send(os.urandom(512))
    elif c.sub == "data-on-stream-0":
        c.send(settings + frame(DATA, 0, 0, b"stream zero"))
    elif c.sub == "oversized-frame":
        # 64 KiB on stream 1: the client never raised its 16 KiB maximum.
        c.send(settings + frame(DATA, 0, 1, b"\0" * 65536))
    elif c.sub == "short-settings":
        c.send(frame(SETTINGS, 0, 0, b"\0" * 5))
    elif c.sub == "bad-hpack":
        c.send(settings)
        stream = await first_request(c)
        # Index 0 is never valid, and 70 is past the static table with an
        # empty dynamic table.
        c.send(frame(HEADERS, END_HEADERS, stream, b"\x80\xc6"))
    elif c.sub == "unopened-stream":
        c.send(settings + frame(0xFA, 0, 0, b"unknown type: must be ignored"))
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 2, RESPONSE_HEADERS))
    await c.drain_until_gone()


async def first_request(c):
    """Reads frames until the client's first HEADERS; returns its stream."""
    while True:
        ftype, flags, stream, payload = await c.read_frame()
        if ftype == HEADERS:
            return stream
        if ftype == GOAWAY:
            c.note_goaway(payload)


async def serve_requests(c, answer):
    """A proper handshake, then answer(c, stream) for each request."""
    await c.read_preface()
    c.send(frame(SETTINGS, 0, 0))
    while True:
        ftype, flags, stream, payload = await c.read_frame()
        if ftype == SETTINGS and not flags & ACK:
            c.send(frame(SETTINGS, ACK, 0))
        elif ftype == PING and not flags & ACK:
            c.send(frame(PING, ACK, 0, payload))
        elif ftype == RST_STREAM:
            c.resets += 1
        elif ftype == GOAWAY:
            c.note_goaway(payload)
        elif ftype in (HEADERS, CONTINUATION) and flags & END_HEADERS:
            c.requests += 1
            answer(c, stream)
        await c.writer.drain()


def lie(c, stream):
    kind = c.sub if c.sub in LIES else c.proxy.next_turn("lie", LIES)
    c.proxy.count("lying-length/" + kind)
    c.send(frame(HEADERS, END_HEADERS, stream, RESPONSE_HEADERS))
    if kind == "huge-prefix":
        c.send(frame(DATA, 0, stream, grpc_prefix(0, 0x7FFFFFFF) + b"\0" * 100))
    elif kind == "short-message":
        c.send(frame(DATA, 0, stream, grpc_prefix(0, 1 << 20) + b"\0" * 100))
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, stream, OK_TRAILERS))
    elif kind == "short-end-stream":
        c.send(frame(DATA, END_STREAM, stream, grpc_prefix(0, 4096) + b"\0" * 10))
    elif kind == "compressed-flag":
        c.send(frame(DATA, 0, stream, grpc_prefix(1, 5) + b"\0" * 5))
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, stream, OK_TRAILERS))
    elif kind == "big-claim-trickle":
        c.send(frame(DATA, 0, stream, grpc_prefix(0, 96 << 20) + b"\0" * 1000))


async def mode_lying_length(c):
    await serve_requests(c, lie)


def bomb(c, stream):
    c.send(frame(HEADERS, END_HEADERS, stream, BOMB))
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, stream, UNAVAILABLE_TRAILERS))


async def mode_metadata_bomb(c):
    await serve_requests(c, bomb)


async def mode_goaway_storm(c):
    await c.read_preface()
    c.send(frame(SETTINGS, 0, 0))
    if c.sub == "goaway-at-once":
        c.send(frame(GOAWAY, 0, 0, struct.pack(">II", 0, 0)))
    elif c.sub == "goaway-200":
        # Assorted codes, each with a debug text; the last stream id never
        # grows. One write: the client hangs up after the first.
        c.send(b"".join(
            frame(GOAWAY, 0, 0, struct.pack(">II", 0, i % len(H2_ERRORS)) + b"storm %d" % i)
            for i in range(200)))
    elif c.sub == "graceful-goaway":
        c.send(frame(GOAWAY, 0, 0, struct.pack(">II", 0x7FFFFFFF, 0)))
        await c.writer.drain()
        await asyncio.sleep(1)
    await c.writer.drain()
    c.ended = "we closed"


async def mode_flood(c):
    await c.read_preface()
    c.send(frame(SETTINGS, 0, 0))
    streams = []

    async def note_streams():
        # The client's frames are read (so its sends never block) and its
        # streams noted for the empty DATA frames.
        while True:
            ftype, flags, stream, payload = await c.read_frame()
            if ftype == HEADERS and stream not in streams:
                streams.append(stream)
                if c.sub == "empty-data":
                    c.send(frame(HEADERS, END_HEADERS, stream, RESPONSE_HEADERS))
            elif ftype == GOAWAY:
                c.note_goaway(payload)

    reading = asyncio.ensure_future(note_streams())
    try:
        while not reading.done():
            if c.sub == "ping":
                batch = frame(PING, 0, 0, b"flooding") * 256
            elif c.sub == "settings":
                batch = frame(SETTINGS, 0, 0) * 256
            elif c.sub == "window-update":
                batch = frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1)) * 256
            else:
                batch = b"".join(frame(DATA, 0, s, b"") for s in streams[-4:]) * 64
                if not batch:
                    await asyncio.sleep(0.01)
                    continue
            c.send(batch)
            await c.writer.drain()
        reading.result()
    finally:
        reading.cancel()


async def mode_silent(c):
    while await c.reader.read(65536):
        pass
    raise ClientGone("client closed")


async def mode_reset(c):
    sock = c.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.ended = "we reset"


MODES = {
    "pass": mode_pass,
    "garbage": mode_garbage,
    "lying-length": mode_lying_length,
    "goaway-storm": mode_goaway_storm,
    "flood": mode_flood,
    "metadata-bomb": mode_metadata_bomb,
    "silent": mode_silent,
    "reset": mode_reset,
}


class Proxy:
    def __init__(self, target, control):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.control = control
        self.mode = "pass"
        self.refused = None  # the last unknown mode, said once
        self.tasks = set()
        self.n = 0
        self.turns = {}
        self.counts = {}

    def next_turn(self, key, choices):
        i = self.turns.get(key, 0)
        self.turns[key] = i + 1
        return choices[i % len(choices)]

    def count(self, key):
        self.counts[key] = self.counts.get(key, 0) + 1

    def read_mode(self):
        try:
            with open(self.control) as f:
                return f.read().strip() or "pass"
        except FileNotFoundError:
            return "pass"

    @staticmethod
    def valid(mode):
        base, _, sub = mode.partition(":")
        return base in MODES and (not sub or sub in SUBCASES[base] or
                                  base == "lying-length" and sub in LIES)

    async def watch(self):
        while True:
            mode = self.read_mode()
            if mode != self.mode and mode != self.refused:
                if not self.valid(mode):
                    log("unknown mode %r: staying in %s" % (mode, self.mode))
                    self.refused = mode
                else:
                    log("mode %s -> %s: cutting %d connection(s); counts so far %s" %
                        (self.mode, mode, len(self.tasks), self.counts))
                    self.mode = mode
                    for t in list(self.tasks):
                        t.cancel()
            await asyncio.sleep(0.1)

    async def on_client(self, reader, writer):
        self.n += 1
        mode, _, sub = self.mode.partition(":")
        c = Conn(self, self.n, mode, sub or self.next_turn(mode, SUBCASES[mode]), reader, writer)
        self.count(mode + "/" + c.sub)
        task = asyncio.current_task()
        self.tasks.add(task)
        try:
            await MODES[mode](c)
        except ClientGone as e:
            c.ended = str(e)
        except (ConnectionError, OSError) as e:
            c.ended = "connection error: %s" % e
        except asyncio.CancelledError:
            c.ended = "cut (mode change)"
        finally:
            self.tasks.discard(task)
            writer.transport.abort()
            if c.requests:
                c.notes.append("answered %d request(s)" % c.requests)
            if c.resets:
                c.notes.append("the client reset %d stream(s)" % c.resets)
            log("conn %d %s/%s: sent %d bytes; %s after %.2f s%s" %
                (c.n, c.mode, c.sub, c.sent, c.ended or "ended", time.monotonic() - c.start,
                 "; " + "; ".join(c.notes) if c.notes else ""))


async def main(target, control, port_file):
    proxy = Proxy(target, control)
    proxy.mode = proxy.read_mode()
    server = await asyncio.start_server(proxy.on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(port_file + ".tmp", port_file)
    log("ready on port %d in mode %s, target %s:%d" % ((port, proxy.mode) + proxy.target))
    asyncio.ensure_future(proxy.watch())
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: h2_fault_proxy.py TARGET_HOST:PORT CONTROL_FILE PORT_FILE")
    asyncio.run(main(*sys.argv[1:]))
