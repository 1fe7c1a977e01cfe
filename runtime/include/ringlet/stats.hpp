// ringlet/stats.hpp — what the calling thread's scheduler is doing.
//
// stats() is a snapshot of counters; dump_tasks() lists every live task with
// its id, name, state and what it waits on, for debugging hangs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>

namespace ringlet {

struct Stats {
    const char* backend = "none";    // "io_uring", "epoll", or "none" outside run()
    unsigned ring_flags = 0;         // IORING_SETUP_* flags in use (io_uring only)
    bool guard_pages_by_madvise = false;  // MADV_GUARD_INSTALL (else mprotect)
    std::uint64_t tasks_spawned = 0;
    std::size_t tasks_live = 0;
    std::uint64_t context_switches = 0;
    std::uint64_t polls = 0;            // blocking waits in the backend
    std::uint64_t remote_wakeups = 0;   // tasks woken from another thread
    std::size_t timers = 0;             // armed timers
    std::size_t stacks_in_use = 0;
    std::size_t stacks_free = 0;
    std::size_t stack_bytes_mapped = 0;
};

// Counters of the calling thread's scheduler (all zero on a plain thread).
Stats stats();

// Writes one line per live task of the calling thread's scheduler:
// "id name state [waiting on …]". Nothing on a plain thread.
void dump_tasks(std::ostream& out);

}  // namespace ringlet
