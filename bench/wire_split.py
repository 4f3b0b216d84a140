#!/usr/bin/env python3
"""bench/wire_split.py — where a sequential workflow's time goes, read from a
packet capture of the worker's gRPC connection(s): how long the worker held
each task it was given, and how long the server took to give it the next.

    wire_split.py --pcap F --server-port P --worker-ports "A B ..." --id-prefix X

Prints one JSON object. bench/run --wire captures each cell with tcpdump on
the loopback (the server port) and calls this on the capture; nothing here
depends on which worker it was: the same reading serves twe and the SDKs.

How it reads:
  - TCP: the segments of each direction of each worker connection, put in
    sequence order (a segment's bytes seen before are dropped), time-stamped
    by the capture;
  - HTTP/2: frames after the client's preface; DATA frames' payloads (less
    padding) appended per stream;
  - gRPC: each length-prefixed message, time-stamped by the segment that
    completed it; a compressed one (the Go SDK sends gzip by default) is
    inflated when it is gzip or deflate, else counted as unreadable;
  - the workflow ids of the run: protobuf strings beginning with the
    driver's --id-prefix (the byte before the string must be its length,
    so one id is never taken for a longer one; ids under 128 bytes, whose
    length is one byte).
Each message that names a workflow is an event of that workflow: "in" from
the server (a poll's task, or a completion's answer carrying the next task),
"out" from the worker (its answer: a task completion, an activity result).
A sequential workflow (OneActivity, TenSequential: each workflow task starts
at most one activity, whose result brings the next workflow task) gives
in, out, in, out ...: the 1st, 3rd, 5th ... in-out pairs are workflow tasks,
the 2nd, 4th ... activities. Workflows whose events do not alternate, or
whose pair count is even, are left out and counted ("irregular").

Measures (milliseconds; n, p50, p90, p99 and max over the pairs):
  worker_wft   a workflow task's bytes on the wire -> the worker's answer on
               the wire (what the worker costs a workflow task);
  worker_act   an activity task on the wire -> its result on the wire (the
               activity is a no-op: the worker's hand-off and back);
  server_wft   the worker's answer to a workflow task -> the next task of the
               workflow on the wire (the server: record, dispatch, deliver);
  server_act   an activity result -> the next workflow task on the wire;
  worker_share the part of each workflow's span (first task on the wire ->
               last answer on the wire) the worker held, summed over them.
A capture adds its own cost to the machine; both sides of a comparison pay it.
"""

import argparse
import gzip
import json
import re
import struct
import sys
import zlib

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def packets(path):
    """(time_ns, src_port, dst_port, seq, payload) of each TCP/IPv4 or IPv6
    segment with a payload in a classic pcap file."""
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            return
        magic = struct.unpack("<I", head[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            end = "<"
        elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
            end = ">"
        else:
            raise SystemExit(f"wire_split: {path}: not a pcap file")
        nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
        link = struct.unpack(end + "I", head[20:24])[0]
        skip = {1: 14, 113: 16, 276: 20, 0: 4}.get(link)
        if skip is None:
            raise SystemExit(f"wire_split: {path}: link type {link} not read")
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            sec, frac, incl, _ = struct.unpack(end + "IIII", rec)
            data = f.read(incl)
            t = sec * 1_000_000_000 + (frac if nano else frac * 1000)
            ip = data[skip:]
            if not ip:
                continue
            if ip[0] >> 4 == 4:
                if ip[9] != 6:
                    continue
                tcp = ip[(ip[0] & 15) * 4:]
            elif ip[0] >> 4 == 6:
                if ip[6] != 6:
                    continue
                tcp = ip[40:]
            else:
                continue
            if len(tcp) < 20:
                continue
            sport, dport, seq = struct.unpack(">HHI", tcp[:8])
            payload = tcp[(tcp[12] >> 4) * 4:]
            if payload:
                yield t, sport, dport, seq, payload


class Direction:
    """One direction of one connection: TCP bytes -> HTTP/2 frames -> gRPC
    messages, each handed to on_message(time_ns, bytes, stream_id)."""

    def __init__(self, client, on_message, counts):
        self.next_seq = None
        self.pending = {}  # seq -> (time, payload): segments ahead of a gap
        self.buf = b""
        self.need_preface = client
        self.streams = {}  # stream id -> bytes of gRPC framing not yet whole
        self.on_message = on_message
        self.counts = counts

    def segment(self, t, seq, payload):
        if self.next_seq is None:
            self.next_seq = seq
        if len(payload) > len(self.pending.get(seq, (0, b""))[1]):
            self.pending[seq] = (t, payload)
        moved = True
        while moved:
            moved = False
            for s in list(self.pending):
                behind = (self.next_seq - s) % (1 << 32)  # s at or before next_seq
                if behind >= 1 << 31:
                    continue
                t0, p = self.pending.pop(s)
                if behind < len(p):
                    self.feed(t0, p[behind:])
                    self.next_seq = (s + len(p)) % (1 << 32)
                moved = True

    def feed(self, t, data):
        self.buf += data
        if self.need_preface:
            if len(self.buf) < len(PREFACE):
                return
            if self.buf.startswith(PREFACE):
                self.buf = self.buf[len(PREFACE):]
            self.need_preface = False
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + length:
                return
            ftype, flags = self.buf[3], self.buf[4]
            sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            body = self.buf[9:9 + length]
            self.buf = self.buf[9 + length:]
            if ftype != 0:
                continue
            if flags & 0x8 and body:  # PADDED
                body = body[1:len(body) - body[0]]
            self.grpc(t, sid, body)

    def grpc(self, t, sid, body):
        pend = self.streams.get(sid, b"") + body
        while len(pend) >= 5:
            n = int.from_bytes(pend[1:5], "big")
            if len(pend) < 5 + n:
                break
            flag, msg = pend[0], pend[5:5 + n]
            pend = pend[5 + n:]
            if flag & 1:
                msg = inflate(msg)
                if msg is None:
                    self.counts["unreadable"] += 1
                    continue
            self.counts["messages"] += 1
            self.on_message(t, msg, sid)
        self.streams[sid] = pend


def read_connections(pcap, server_port, worker_ports, make_handler):
    """Feeds every segment between the server's port and the worker's ports
    to its direction's reader; make_handler(worker_port, "in" | "out") gives
    each direction's on_message. Returns (connections seen, counts)."""
    counts = {"messages": 0, "unreadable": 0, "segments": 0}
    dirs = {}
    for t, sport, dport, seq, payload in packets(pcap):
        if sport == server_port and dport in worker_ports:
            key, client = (dport, "in"), False
        elif dport == server_port and sport in worker_ports:
            key, client = (sport, "out"), True
        else:
            continue
        d = dirs.get(key)
        if d is None:
            d = dirs[key] = Direction(client, make_handler(*key), counts)
        counts["segments"] += 1
        d.segment(t, seq, payload)
    return len({k[0] for k in dirs}), counts


def inflate(msg):
    try:
        if msg[:2] == b"\x1f\x8b":
            return gzip.decompress(msg)
        return zlib.decompress(msg)
    except (OSError, zlib.error, EOFError):
        return None


def quantiles(values):
    if not values:
        return None
    v = sorted(values)
    n = len(v)
    pick = lambda q: v[min(n - 1, int(q * n))]
    return {"n": n, "p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": v[-1]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--server-port", type=int, required=True)
    ap.add_argument("--worker-ports", required=True, help="the worker's local ports, space-separated")
    ap.add_argument("--id-prefix", required=True)
    ap.add_argument("--events", action="store_true",
                    help="also each workflow's messages (ms from its first, i/o) on stderr")
    a = ap.parse_args()
    worker_ports = {int(p) for p in a.worker_ports.split()}
    if not worker_ports:
        raise SystemExit("wire_split: no worker port")
    ids = re.compile(re.escape(a.id_prefix.encode()) + rb"[0-9]+")
    events = {}  # workflow id -> [(time, "in" | "out")]

    def handler(_port, direction):
        def on_message(t, msg, _sid):
            seen = set()
            for m in ids.finditer(msg):
                s = m.start()
                if s == 0:
                    continue
                wid = msg[s:s + msg[s - 1]]
                if ids.fullmatch(wid):
                    seen.add(wid.decode())
            for wid in seen:
                events.setdefault(wid, []).append((t, direction))
        return on_message

    connections, counts = read_connections(a.pcap, a.server_port, worker_ports, handler)

    if a.events:
        for wid, ev in sorted(events.items()):
            ev.sort()
            print(wid, " ".join(f"{'i' if d == 'in' else 'o'}{(t - ev[0][0]) / 1e6:.2f}" for t, d in ev),
                  file=sys.stderr)
    worker_wft, worker_act, server_wft, server_act = [], [], [], []
    held = span = 0
    irregular = 0
    for ev in events.values():
        ev.sort()
        pattern = "".join("i" if d == "in" else "o" for _, d in ev)
        pairs = len(ev) // 2
        if pattern != "io" * pairs or pairs % 2 == 0:
            irregular += 1
            continue
        for k in range(pairs):
            t_in, t_out = ev[2 * k][0], ev[2 * k + 1][0]
            (worker_wft if k % 2 == 0 else worker_act).append((t_out - t_in) / 1e6)
            held += t_out - t_in
            if k + 1 < pairs:
                (server_wft if k % 2 == 0 else server_act).append((ev[2 * k + 2][0] - t_out) / 1e6)
        span += ev[-1][0] - ev[0][0]
    out = {
        "workflows": len(events) - irregular,
        "irregular": irregular,
        "worker_connections": connections,
        **counts,
        "worker_wft_ms": quantiles(worker_wft),
        "worker_act_ms": quantiles(worker_act),
        "server_wft_ms": quantiles(server_wft),
        "server_act_ms": quantiles(server_act),
        "worker_share": held / span if span > 0 else None,
    }
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
