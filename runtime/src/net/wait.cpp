// net/wait.cpp — wait_readable / wait_writable: one poll request per wait.
#include <cerrno>
#include <poll.h>

#include <ringlet/errors.hpp>
#include <ringlet/net/wait.hpp>

#include "io_request.hpp"

namespace ringlet::net {

namespace {

bool wait_ready(int fd, short events, Duration timeout, const char* what) {
    if (fd < 0) throw IoError(EBADF, what);
    const TimePoint deadline = deadline_after(timeout);
    // A zero timeout is a non-blocking check (poll with 0), never a suspension.
    ringlet::detail::IoRequest r{ringlet::detail::IoOpcode::poll, fd};
    r.flags = events;
    long res;
    if (timeout <= Duration::zero()) {
        res = ringlet::detail::syscall_nonblocking(r);
        if (res == -EAGAIN) return false;
    } else {
        res = ringlet::detail::perform_io(r, deadline);
        if (res == -ETIMEDOUT && deadline != TimePoint::max()) return false;
    }
    if (res < 0) throw_io_error(static_cast<int>(res), what);
    // io_uring reports POLLNVAL in the mask instead of failing the request.
    if ((res & POLLNVAL) != 0) throw IoError(EBADF, what);
    return true;
}

}  // namespace

bool wait_readable(int fd, Duration timeout) {
    return wait_ready(fd, POLLIN, timeout, "wait_readable");
}

bool wait_writable(int fd, Duration timeout) {
    return wait_ready(fd, POLLOUT, timeout, "wait_writable");
}

}  // namespace ringlet::net
