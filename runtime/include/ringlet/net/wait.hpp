// ringlet/net/wait.hpp — wait until a foreign fd is readable or writable.
//
// gevent's wait_read / wait_write: the way to drive another event-driven C
// library (libpq's asynchronous API, c-ares, libcurl's multi interface …) by
// its file descriptor from a task. The fd is not owned, not modified (its
// O_NONBLOCK flag stays as the library set it) and not read: the call only
// waits for readiness, as poll(2) would, on io_uring (a poll request) or on
// epoll (a registration). On a plain thread it is poll(2) itself.
//
// Timeouts follow the rule of the other `Duration` waits (Event::wait,
// Task::join): the call's own timeout is an expected outcome and returns
// false; an enclosing ringlet::Timeout scope throws TimeoutError as at any
// suspension point. A timeout of zero (or less) checks once without
// suspending. "Ready" includes hang-up and error conditions (POLLHUP,
// POLLERR): the caller's next read or write reports them.
#pragma once

#include <chrono>

#include <ringlet/time.hpp>

namespace ringlet::net {

// Waits until `fd` is readable (POLLIN, or POLLHUP/POLLERR), at most
// `timeout`. Returns true when ready, false when `timeout` passed first.
// One task at a time may wait to read a given fd (on epoll a second waiter
// is a UsageError).
// Suspends. Throws: IoError(EBADF) for an invalid fd or one closed through
// ringlet while waiting, Cancelled, TimeoutError (enclosing scope).
// Cancellation: nothing happened to the fd; the wait is withdrawn.
bool wait_readable(int fd, Duration timeout = forever);

// Waits until `fd` is writable (POLLOUT, or POLLHUP/POLLERR), at most
// `timeout`; as wait_readable otherwise.
// Suspends. Throws: IoError(EBADF), Cancelled, TimeoutError (enclosing scope).
// Cancellation: nothing happened to the fd; the wait is withdrawn.
bool wait_writable(int fd, Duration timeout = forever);

template <class Rep, class Period>
bool wait_readable(int fd, std::chrono::duration<Rep, Period> timeout) {
    return wait_readable(fd, std::chrono::duration_cast<Duration>(timeout));
}
template <class Rep, class Period>
bool wait_writable(int fd, std::chrono::duration<Rep, Period> timeout) {
    return wait_writable(fd, std::chrono::duration_cast<Duration>(timeout));
}

}  // namespace ringlet::net
