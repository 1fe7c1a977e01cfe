"""bench/compare/peers/mp_peer.py — the multiprocessing peer: multiprocessing.Pool.

    python3 mp_peer.py --workload io|spawn --units N [--port P]

Python's answer to ringlet's ipc::ProcessPool (model "pool"): a
Pool(os.cpu_count()) with the fork start method. io: pool.map over the
units, each a blocking socket round trip to the delay server; spawn: one
apply_async() per unit of a function that returns its argument, then every
get() (a pool's units never all live at once: the figure is the cost of one
unit of work sent to a pool and back). The pool's start and join are in the
measured section, as in the C++ model. Prints the same JSON line as
`compare_models cell`.
"""
import multiprocessing
import os
import socket
import sys
import time

import peer_common as pc

PORT = 0


def io_unit(i):
    with socket.create_connection(("127.0.0.1", PORT)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(pc.request(i))
        data = b""
        while len(data) < pc.MESSAGE_SIZE:
            chunk = s.recv(pc.MESSAGE_SIZE - len(data))
            if not chunk:
                raise ConnectionError("server closed early")
            data += chunk
        return pc.answer_value(data)


def identity(i):
    return i


def main():
    global PORT
    a = pc.args()
    pc.raise_fd_limit()
    PORT = a["port"]
    n = a["units"]
    extra = {}
    ctx = multiprocessing.get_context("fork")
    base_pss, base_kernel = pc.tree_pss_kib(), pc.kernel_kib()
    u0 = pc.usage_now()
    t0 = time.perf_counter()
    excluded = 0.0
    excluded_usage = (0, 0, 0, 0)
    failed, first = 0, ""
    results = [0] * n
    pool = ctx.Pool(os.cpu_count())
    try:
        if a["workload"] == "io":
            results = pool.map(io_unit, range(n))
        else:
            pending = [pool.apply_async(identity, (i,)) for i in range(n)]
            results = [p.get() for p in pending]
            at = time.perf_counter()
            before = pc.usage_now()
            mem = pc.tree_pss_kib()
            extra = {"spawn_s": at - t0, "mem_kib": mem, "mem_per_unit_kib": (mem - base_pss) / n,
                     "kmem_per_unit_kib": (pc.kernel_kib() - base_kernel) / n}
            excluded = time.perf_counter() - at
            excluded_usage = pc.usage_minus(pc.usage_now(), before)
    except Exception as e:  # a unit's exception comes back through map()/get()
        failed, first = 1, repr(e)
    pool.close()
    pool.join()
    wall = time.perf_counter() - t0 - excluded
    usage = pc.usage_minus(pc.usage_minus(pc.usage_now(), u0), excluded_usage)
    return pc.report("mp", a, wall, usage, results, failed, first, extra)


if __name__ == "__main__":
    sys.exit(main())
