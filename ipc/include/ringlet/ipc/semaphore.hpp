// ringlet/ipc/semaphore.hpp — a counting semaphore shared by processes.
//
// ipc::Semaphore is Python's multiprocessing.Semaphore: create it in a parent
// before starting ipc::Process children, and every process takes and returns
// permits of the same count. Typical use: at most N processes run a section
// at once (N downloads, N users of a licence, N writers of a disk):
//
//   ipc::Semaphore slots(2);
//   auto worker = [&] { slots.acquire(); do_heavy_work(); slots.release(); };
//   // six ipc::Process(worker) children: never more than two inside at once
//
// The model. The count lives in shared memory (MAP_SHARED, inherited across
// fork); every copy of a handle, in any process, names the same semaphore.
// Waits are task-aware: a waiting task suspends and its thread keeps running
// its other tasks; a plain thread blocks. Not fair (no FIFO across
// processes). Permits belong to processes, not tasks: any task of a process
// may return a permit another task of it took.
//
// Robust ownership. The semaphore records, per process, how many permits it
// holds (taken minus returned). When a process ends without returning its
// permits (SIGKILL, crash, or plain exit), they come back: waiters look for
// dead holders at the end of each 10 ms wait slice, and try_acquire() and
// value() look before they answer. Limits:
//   - the table has `holder_slots` (128) entries: permits taken while 128
//     other processes hold permits are not recorded, and are lost if their
//     holder dies without returning them (as with a plain semaphore);
//   - a process is recognised by its pid and its start time
//     (/proc/<pid>/stat), so pid reuse is detected; without /proc, a reused
//     pid would keep a dead holder's permits, and an unreaped (zombie) holder
//     counts as alive until reaped;
//   - used as a signal between processes (one releases, another acquires and
//     keeps the permit), the permits the acquirer took come back when it
//     ends. Construct with {.reclaim = false} for that use (then a holder that
//     dies loses its permits), or use an Event or ipc::Queue.
//
// Visibility/ordering: everything a process did before release() happens-
// before the acquire() that takes that permit returns, in any process.
#pragma once

#include <cstddef>
#include <memory>

#include <ringlet/time.hpp>

namespace ringlet::ipc {

namespace detail {
struct SemaphoreCore;  // semaphore.cpp
}  // namespace detail

struct SemaphoreOptions {
    // Return the permits of holders that died (see the file comment).
    bool reclaim = true;
};

// A handle to a process-shared counting semaphore. Copyable: copies name one
// semaphore. Usable from tasks on any scheduler and from plain threads.
// Thread-safe.
class Semaphore {
public:
    // Number of processes whose permits are recorded for reclaiming.
    static constexpr std::size_t holder_slots = 128;

    // Makes a new semaphore with `value` free permits, in fresh shared memory.
    // Throws: IoError if the shared memory cannot be mapped.
    explicit Semaphore(std::size_t value, SemaphoreOptions options = {});

    // Takes one permit, waiting while none is free.
    // Suspends. Throws: Cancelled, TimeoutError (enclosing scope).
    // Cancellation: no permit was taken. Process-safe.
    void acquire();

    // Takes a permit if one is free right now (after reclaiming dead
    // holders' permits). Never waits. Process-safe.
    bool try_acquire();

    // Like acquire(), but false if no permit was free within `timeout`.
    // Suspends. Throws: Cancelled, TimeoutError (enclosing scope).
    // Cancellation: no permit was taken. Process-safe.
    bool acquire_for(Duration timeout);

    // Returns `n` permits and wakes up to `n` waiters, in any process. Any
    // process may release (this process's record of held permits drops by up
    // to n). Never waits. Process-safe.
    // Throws: UsageError if the free count would pass 2^64 - 1 (nothing is
    // released then).
    void release(std::size_t n = 1);

    // Free permits right now (after reclaiming dead holders' permits).
    // Only a snapshot: others may take or return permits at any moment.
    // Never waits. Process-safe.
    std::size_t value() const;

    // True if both handles name the same semaphore.
    friend bool operator==(const Semaphore& a, const Semaphore& b) noexcept {
        return a.core_ == b.core_;
    }

private:
    bool acquire_until(TimePoint deadline);

    std::shared_ptr<detail::SemaphoreCore> core_;
};

}  // namespace ringlet::ipc
