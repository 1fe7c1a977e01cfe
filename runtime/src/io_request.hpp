// io_request.hpp — one IO operation, described once for every backend.
//
// perform_io() runs it as a suspension point: on io_uring it is an SQE whose
// state lives in the waiting task's frame; on epoll it is a non-blocking
// attempt plus a readiness wait; on a plain thread it is the syscall itself
// (poll(2) when the fd would block). Results follow the kernel's convention:
// >= 0 on success, -errno on failure, -ETIMEDOUT when the call's own deadline
// passed. Rule kept by every backend: when Cancelled or TimeoutError leaves
// perform_io(), the kernel has finished with the request's buffers.
#pragma once

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include <ringlet/time.hpp>

struct statx;

namespace ringlet::detail {

enum class IoOpcode : std::uint8_t {
    recv, send, recvmsg, sendmsg, accept, connect, poll,  // socket-like: readiness based
    futex_wait,  // io_uring only (Linux >= 6.7): -ENOSYS elsewhere; see below
    read, write, fsync, openat, close, statx,              // files: always "ready"
};

struct IoRequest {
    IoOpcode op;
    int fd = -1;
    void* buf = nullptr;
    std::size_t len = 0;
    int flags = 0;  // MSG_* for recv/send; open flags for openat; poll events for poll
    off_t offset = 0;
    msghdr* msg = nullptr;
    sockaddr* addr = nullptr;     // accept: out; connect: in
    socklen_t* addrlen = nullptr;  // accept
    socklen_t addr_size = 0;      // connect
    const char* path = nullptr;   // openat, statx
    // futex_wait: waits while the 32-bit word at `buf` equals `futex_value`,
    // as a process-shared futex (not FUTEX_PRIVATE): 0 when woken, -EAGAIN if
    // the word already differs. For waits on words in shared memory.
    std::uint32_t futex_value = 0;
    mode_t mode = 0;
    struct ::statx* stx = nullptr;

    const char* name() const noexcept;
    bool is_file_op() const noexcept { return op >= IoOpcode::read; }
    bool wants_output() const noexcept {
        return op == IoOpcode::send || op == IoOpcode::sendmsg || op == IoOpcode::connect;
    }
};

// Runs `r` as a suspension point. Throws: Cancelled, TimeoutError (enclosing
// scope) — only once the kernel no longer uses r's buffers.
long perform_io(IoRequest& r, TimePoint deadline = TimePoint::max());

// The plain system call for `r`, never blocking on a socket: -EAGAIN /
// -EINPROGRESS when it would. Files block as usual.
long syscall_nonblocking(const IoRequest& r) noexcept;

// The readiness loop shared by the epoll backend and plain threads: try the
// syscall without blocking; while it would block, `wait` for the fd
// (0 = ready, -errno, or -ETIMEDOUT) and retry.
long readiness_io(IoRequest& r, TimePoint deadline,
                  long (*wait)(void* ctx, int fd, bool out, TimePoint deadline), void* ctx);

// connect() on a Unix socket whose listener's backlog is full fails with
// EAGAIN while polling "writable", so waiting for readiness would spin: sleep
// instead, 1 ms doubling to 50 ms, until `deadline` (then -ETIMEDOUT).
// Suspends. Throws: Cancelled, TimeoutError.
long back_off_before_retry(TimePoint deadline, Duration& delay);

// Before closing an fd: the backend wakes the tasks waiting on it (their call
// fails with EBADF) and drops any registration. Does not touch the fd itself,
// so other holders (dup'd fds, forked children) keep a working socket.
void forget_fd(int fd) noexcept;

}  // namespace ringlet::detail
