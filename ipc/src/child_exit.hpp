// child_exit.hpp — waiting for a child process to end, without blocking a scheduler.
//
// A child is watched through a pidfd (Linux >= 5.3): it becomes readable when
// the child exits, so a task waits for it with an ordinary poll on the
// backend (io_uring or epoll) and a plain thread with poll(2); the reap
// itself (waitid P_PIDFD) then never blocks. A pidfd names one process for
// good, so a recycled pid can never be signalled or reaped by mistake.
#pragma once

#include <sys/types.h>

#include <optional>

#include <ringlet/time.hpp>

#include "unique_fd.hpp"

namespace ringlet::ipc::detail {

// A pidfd for the child `pid`. Throws: IoError (ESRCH, ENOSYS before 5.3).
ringlet::detail::UniqueFd open_pidfd(pid_t pid);

// Reaps the child behind `pidfd` if it has ended: its exit code (the status,
// or -N for death by signal N), else nullopt. Never blocks. Throws: IoError
// (ECHILD: already reaped, or not our child).
std::optional<int> try_reap(int pidfd);

// Waits until the child behind `pidfd` ends or `deadline` passes, then reaps
// it. Returns its exit code as try_reap does; nullopt on timeout.
// Suspends (a task), or blocks (a plain thread). Throws: IoError, Cancelled,
// TimeoutError (enclosing scope). Cancellation: the child was not reaped.
std::optional<int> wait_reap(int pidfd, TimePoint deadline);

// Waits until the process behind `pidfd` (any process, not only a child)
// ends or `deadline` passes; true if it has ended. Does not reap.
// Suspends (a task), or blocks (a plain thread). Throws: IoError, Cancelled.
bool wait_exit(int pidfd, TimePoint deadline);

// Sends `sig` to the child behind `pidfd`. False if it has already ended
// (ESRCH). Throws: IoError for other failures.
bool send_signal(int pidfd, int sig);

}  // namespace ringlet::ipc::detail
