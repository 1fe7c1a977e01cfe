"""bench/compare/peers/gevent_peer.py — the gevent peer: one greenlet per unit.

    python3 gevent_peer.py --workload io|spawn --units N [--port P]

io: each greenlet connects with gevent's cooperative socket, sends the
64-byte request, reads the answer; spawn: each greenlet announces itself,
waits on a gevent Event, returns; gevent.joinall joins them. Prints the same
JSON line as `compare_models cell`.
"""
import sys
import time

import gevent
import gevent.event
import gevent.socket

import peer_common as pc


def io_unit(i, port, results):
    s = gevent.socket.create_connection(("127.0.0.1", port))
    try:
        s.setsockopt(gevent.socket.IPPROTO_TCP, gevent.socket.TCP_NODELAY, 1)
        s.sendall(pc.request(i))
        data = b""
        while len(data) < pc.MESSAGE_SIZE:
            chunk = s.recv(pc.MESSAGE_SIZE - len(data))
            if not chunk:
                raise ConnectionError("server closed early")
            data += chunk
        results[i] = pc.answer_value(data)
    finally:
        s.close()


def main():
    a = pc.args()
    pc.raise_fd_limit()
    n = a["units"]
    results = [0] * n
    extra = {}
    base_pss, base_kernel = pc.tree_pss_kib(), pc.kernel_kib()
    u0 = pc.usage_now()
    t0 = time.perf_counter()
    excluded = 0.0
    excluded_usage = (0, 0, 0, 0)
    if a["workload"] == "io":
        greenlets = [gevent.spawn(io_unit, i, a["port"], results) for i in range(n)]
        gevent.joinall(greenlets)
    else:
        gate = gevent.event.Event()
        state = {"ready": 0, "at": None}

        def unit(i):
            state["ready"] += 1
            if state["ready"] == n:
                state["at"] = time.perf_counter()
            gate.wait()
            results[i] = i

        greenlets = [gevent.spawn(unit, i) for i in range(n)]
        while state["ready"] < n:
            gevent.sleep(0)
        at = state["at"]
        before = pc.usage_now()
        mem = pc.tree_pss_kib()
        extra = {"spawn_s": at - t0, "mem_kib": mem, "mem_per_unit_kib": (mem - base_pss) / n,
                 "kmem_per_unit_kib": (pc.kernel_kib() - base_kernel) / n}
        excluded = time.perf_counter() - at
        excluded_usage = pc.usage_minus(pc.usage_now(), before)
        gate.set()
        gevent.joinall(greenlets)
    wall = time.perf_counter() - t0 - excluded
    usage = pc.usage_minus(pc.usage_minus(pc.usage_now(), u0), excluded_usage)
    failed = [g for g in greenlets if not g.successful()]
    first = repr(failed[0].exception) if failed else ""
    return pc.report("gevent", a, wall, usage, results, len(failed), first, extra)


if __name__ == "__main__":
    sys.exit(main())
