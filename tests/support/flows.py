#!/usr/bin/env python3
"""Traffic for the NAT66 tests, run inside a namespace with `ip netns exec`.

  serve PORT LOG      UDP and TCP server on [::]:PORT. Each UDP datagram is logged as
                      "<epoch s> <source address> <payload>" and echoed; each TCP
                      connection is echoed line by line.
  udp DST PORT SPORT SECONDS [RATE]
                      one UDP flow from source port SPORT, a datagram "SPORT SEQ" every
                      1/RATE s (default 20) for SECONDS.
  tcp DST PORT SPORT SECONDS
                      one TCP connection from SPORT, a line every 0.1 s for SECONDS; exits 1
                      if the connection breaks or an echo is missing.
"""
import os
import select
import socket
import sys
import time


def serve(port, log):
    udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp.bind(("::", port))
    tcp = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("::", port))
    tcp.listen(16)
    out = open(log, "a", buffering=1)
    conns = []
    while True:
        ready, _, _ = select.select([udp, tcp] + conns, [], [])
        for s in ready:
            if s is udp:
                data, addr = udp.recvfrom(2048)
                out.write(f"{time.time():.3f} {addr[0]} {data.decode(errors='replace')}\n")
                udp.sendto(data, addr)
            elif s is tcp:
                c, _ = tcp.accept()
                conns.append(c)
            else:
                data = s.recv(2048)
                if not data:
                    conns.remove(s)
                    s.close()
                else:
                    s.sendall(data)


def udp(dst, port, sport, seconds, rate):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::", sport))
    end = time.monotonic() + seconds
    seq = 0
    while time.monotonic() < end:
        try:
            s.sendto(f"{sport} {seq}".encode(), (dst, port))
        except OSError:
            pass
        seq += 1
        time.sleep(1.0 / rate)


def tcp(dst, port, sport, seconds):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", sport))
    s.settimeout(5)
    s.connect((dst, port))
    print("connected", flush=True)
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        line = f"{n}\n".encode()
        s.sendall(line)
        got = b""
        while not got.endswith(b"\n"):
            chunk = s.recv(64)
            if not chunk:
                sys.exit("connection closed")
            got += chunk
        if got != line:
            sys.exit(f"echo {got!r} for {line!r}")
        n += 1
        time.sleep(0.1)
    print(f"ok {n}", flush=True)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "serve":
        serve(int(args[0]), args[1])
    elif cmd == "udp":
        rate = float(args[4]) if len(args) > 4 else 20.0
        udp(args[0], int(args[1]), int(args[2]), float(args[3]), rate)
    elif cmd == "tcp":
        tcp(args[0], int(args[1]), int(args[2]), float(args[3]))
    else:
        sys.exit(__doc__)
