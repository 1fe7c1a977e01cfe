#include "io_request.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <sys/syscall.h>

#include <cerrno>

#include <ringlet/blocking.hpp>
#include <ringlet/time.hpp>

#include "scheduler.hpp"

namespace ringlet::detail {

namespace {

// poll(2) until `fd` is ready or `deadline` passes: the plain-thread wait.
long poll_thread(int fd, bool out, TimePoint deadline) noexcept {
    for (;;) {
        int timeout_ms = -1;
        if (deadline != TimePoint::max()) {
            const auto left = deadline - Clock::now();
            if (left <= Duration::zero()) return -ETIMEDOUT;
            timeout_ms = static_cast<int>(
                (std::chrono::duration_cast<std::chrono::microseconds>(left).count() + 999) / 1000);
        }
        pollfd p{fd, static_cast<short>(out ? POLLOUT : POLLIN), 0};
        const int n = ::poll(&p, 1, timeout_ms);
        if (n > 0) return 0;
        if (n < 0 && errno != EINTR) return -errno;
    }
}

long socket_error(int fd) noexcept {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return -errno;
    return -err;
}

}  // namespace

const char* IoRequest::name() const noexcept {
    static constexpr const char* names[] = {"recv",  "send",  "recvmsg", "sendmsg", "accept",
                                            "connect", "poll", "futex_wait", "read",  "write",   "fsync",
                                            "open",  "close", "statx"};
    return names[static_cast<int>(op)];
}

namespace {

long syscall_once(const IoRequest& r) noexcept {
    long res = -ENOSYS;
    switch (r.op) {
        case IoOpcode::recv: res = ::recv(r.fd, r.buf, r.len, r.flags | MSG_DONTWAIT); break;
        case IoOpcode::send:
            res = ::send(r.fd, r.buf, r.len, r.flags | MSG_DONTWAIT | MSG_NOSIGNAL);
            break;
        case IoOpcode::recvmsg: res = ::recvmsg(r.fd, r.msg, r.flags | MSG_DONTWAIT); break;
        case IoOpcode::sendmsg:
            res = ::sendmsg(r.fd, r.msg, r.flags | MSG_DONTWAIT | MSG_NOSIGNAL);
            break;
        case IoOpcode::accept:
            res = ::accept4(r.fd, r.addr, r.addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
            break;
        case IoOpcode::connect: res = ::connect(r.fd, r.addr, r.addr_size); break;
        case IoOpcode::poll: {
            pollfd p{r.fd, static_cast<short>(r.flags), 0};
            res = ::poll(&p, 1, 0);
            if (res == 0) return -EAGAIN;
            if (res > 0) res = p.revents;
            break;
        }
        case IoOpcode::futex_wait: res = -ENOSYS; break;  // waits of their own, not readiness
        case IoOpcode::read: res = ::pread(r.fd, r.buf, r.len, r.offset); break;
        case IoOpcode::write: res = ::pwrite(r.fd, r.buf, r.len, r.offset); break;
        case IoOpcode::fsync: res = ::fsync(r.fd); break;
        case IoOpcode::openat: res = ::openat(AT_FDCWD, r.path, r.flags | O_CLOEXEC, r.mode); break;
        case IoOpcode::close: res = ::close(r.fd); break;
        case IoOpcode::statx:
            res = ::statx(r.fd, r.path ? r.path : "", r.flags, STATX_BASIC_STATS, r.stx);
            break;
    }
    if (res < 0 && res != -ENOSYS) return -errno;
    return res;
}

}  // namespace

long syscall_nonblocking(const IoRequest& r) noexcept {
    for (;;) {
        const long res = syscall_once(r);
        // EINTR: a signal handler ran before the call did anything. The caller
        // asked for the operation, not for the signal: make it again. Not
        // close (the fd is gone whatever it says; a retry could close a reused
        // number), and connect goes on in the background (POSIX): wait for it
        // as for EINPROGRESS.
        if (res != -EINTR || r.op == IoOpcode::close) return res;
        if (r.op == IoOpcode::connect) return -EINPROGRESS;
    }
}

long back_off_before_retry(TimePoint deadline, Duration& delay) {
    const TimePoint now = Clock::now();
    if (deadline <= now) return -ETIMEDOUT;
    ringlet::sleep(std::min<Duration>(delay, deadline - now));
    delay = std::min<Duration>(delay * 2, std::chrono::milliseconds(50));
    return 0;
}

long readiness_io(IoRequest& r, TimePoint deadline,
                  long (*wait)(void* ctx, int fd, bool out, TimePoint deadline), void* ctx) {
    Duration delay = std::chrono::milliseconds(1);
    for (;;) {
        long res = syscall_nonblocking(r);
        if (r.op == IoOpcode::connect && res == -EINPROGRESS) {
            res = wait(ctx, r.fd, true, deadline);
            return res < 0 ? res : socket_error(r.fd);
        }
        if (res != -EAGAIN || r.is_file_op()) return res;
        if (r.op == IoOpcode::connect) {
            res = back_off_before_retry(deadline, delay);
            if (res < 0) return res;
            continue;
        }
        res = wait(ctx, r.fd, r.wants_output() || (r.op == IoOpcode::poll && (r.flags & POLLOUT)),
                   deadline);
        if (res < 0) return res;
    }
}

long perform_io(IoRequest& r, TimePoint deadline) {
    Scheduler* s = Scheduler::current();
    if (s == nullptr || s->running() == nullptr) {
        // A plain thread: the call itself, blocking this thread.
        return readiness_io(
            r, deadline,
            [](void*, int fd, bool out, TimePoint d) { return poll_thread(fd, out, d); }, nullptr);
    }
    check_interrupts();
    return s->backend().perform(r, deadline);
}

void forget_fd(int fd) noexcept {
    if (Scheduler* s = Scheduler::current()) s->backend().forget_fd(fd);
}

}  // namespace ringlet::detail
