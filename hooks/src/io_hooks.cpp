// io_hooks.cpp — sockets, pipes and fds: connect, accept, read/write, close, fcntl.
//
// A socket is always tried first with the real call and MSG_DONTWAIT (the
// fast path when data is there costs no more than libc). When it would block
// and the caller's fd is blocking, the task waits through the backend and the
// call is retried, so each call keeps its libc meaning: a blocking send on a
// stream socket sends everything, SO_RCVTIMEO/SO_SNDTIMEO end the wait with
// EAGAIN (EINPROGRESS for connect), and a caller's own O_NONBLOCK gets EAGAIN.
// Pipes, FIFOs and ttys are polled for readiness, then read with the real call.
#include <algorithm>
#include <cstdarg>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <vector>

#include <sys/ioctl.h>

#include "hooks_internal.hpp"

using namespace ringlet::hooks_impl;

namespace {

ssize_t fail(int err) noexcept {
    errno = err;
    return -1;
}

bool is_socket(FdKind k) noexcept { return k == FdKind::stream || k == FdKind::datagram; }

std::size_t iov_total(const iovec* iov, std::size_t n) noexcept {
    std::size_t total = 0;
    for (std::size_t i = 0; i < n; ++i) total += iov[i].iov_len;
    return total;
}

// Drops the first `done` bytes from a private copy of an iovec array.
void advance(std::vector<iovec>& iov, std::size_t& first, std::size_t done) noexcept {
    while (done > 0 && first < iov.size()) {
        const std::size_t take = std::min(done, iov[first].iov_len);
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + take;
        iov[first].iov_len -= take;
        done -= take;
        if (iov[first].iov_len == 0) ++first;
    }
}

// The errno for a wait that ended without the fd becoming ready.
int wait_errno(TaskControlBlock* t, long res, Interrupt why, int timeout_errno,
               int own_deadline_errno) noexcept {
    if (why != Interrupt::none) return report_interrupt(t, why, timeout_errno);
    if (res == -ETIMEDOUT) return own_deadline_errno;
    return static_cast<int>(-res);
}

// recvmsg semantics on a socket the caller sees as blocking (unless it
// turns out O_NONBLOCK): returns what libc's call would.
ssize_t socket_recv(TaskControlBlock* t, int fd, const FdInfo& info, msghdr* msg, int flags) {
    const bool wait_all = (flags & MSG_WAITALL) != 0 && info.kind == FdKind::stream;
    const std::size_t want = iov_total(msg->msg_iov, msg->msg_iovlen);
    std::vector<iovec> rest;  // only for MSG_WAITALL after a partial read
    std::size_t first = 0;
    msghdr part = *msg;
    std::size_t total = 0;
    TimePoint deadline = TimePoint::min();
    for (;;) {
        ssize_t n;
        if (info.nonblocking) {
            n = real().recvmsg(fd, &part, flags);  // the caller's own semantics, EAGAIN included
            if (n < 0) return total > 0 ? ssize_t(total) : -1;
        } else {
            if (total == 0) {
                if (const int again = repeated_interrupt(t)) return fail(again);
            }
            if (deadline == TimePoint::min()) deadline = deadline_for(info.recv_timeout);
            // The backend receives itself, as TcpStream::read does (one SQE
            // on io_uring; a non-blocking try, then a readiness wait, on epoll).
            IoRequest r{IoOpcode::recvmsg, fd};
            r.msg = &part;
            r.flags = flags;
            Interrupt why = Interrupt::none;
            const std::uint32_t generation = fd_generation(fd);
            ops_begin(fd);
            const long res = rt().perform(r, deadline, &why);
            ops_end(fd);
            if (fd_generation(fd) != generation) return total > 0 ? ssize_t(total) : fail(EBADF);
            if (res < 0) {
                if (res == -ENOTSOCK) fd_reprobe(fd);  // a stale entry: another file now
                if (total > 0) return ssize_t(total);
                return fail(wait_errno(t, res, why, ETIMEDOUT, EAGAIN));
            }
            n = res;
        }
        total += static_cast<std::size_t>(n);
        if (!wait_all || n == 0 || total >= want) {
            if (&part != msg) {
                msg->msg_namelen = part.msg_namelen;
                msg->msg_controllen = part.msg_controllen;
                msg->msg_flags = part.msg_flags;
            }
            return ssize_t(total);
        }
        if (rest.empty()) rest.assign(msg->msg_iov, msg->msg_iov + msg->msg_iovlen);
        advance(rest, first, static_cast<std::size_t>(n));
        part.msg_iov = rest.data() + first;
        part.msg_iovlen = rest.size() - first;
    }
}

// sendmsg semantics on a socket the caller sees as blocking: a stream
// socket gets every byte (or the count sent before an error or timeout).
ssize_t socket_send(TaskControlBlock* t, int fd, const FdInfo& info, const msghdr* msg, int flags) {
    const std::size_t want = iov_total(msg->msg_iov, msg->msg_iovlen);
    std::vector<iovec> rest;
    std::size_t first = 0;
    msghdr part = *msg;
    std::size_t total = 0;
    TimePoint deadline = TimePoint::min();
    if (info.nonblocking) return real().sendmsg(fd, msg, flags);  // the caller's own semantics
    for (;;) {
        if (total == 0) {
            if (const int again = repeated_interrupt(t)) return fail(again);
        }
        if (deadline == TimePoint::min()) deadline = deadline_for(info.send_timeout);
        // The backend sends, as TcpStream::write does (one SQE on io_uring).
        IoRequest r{IoOpcode::sendmsg, fd};
        r.msg = &part;
        r.flags = flags;
        Interrupt why = Interrupt::none;
        const std::uint32_t generation = fd_generation(fd);
        ops_begin(fd);
        const long res = rt().perform(r, deadline, &why);
        ops_end(fd);
        if (fd_generation(fd) != generation) return total > 0 ? ssize_t(total) : fail(EBADF);
        if (res < 0) {
            if (total > 0) return ssize_t(total);
            // The backend sends with MSG_NOSIGNAL; libc's send raises SIGPIPE.
            if (res == -EPIPE && (flags & MSG_NOSIGNAL) == 0) ::raise(SIGPIPE);
            if (res == -ENOTSOCK) fd_reprobe(fd);
            return fail(wait_errno(t, res, why, ETIMEDOUT, EAGAIN));
        }
        total += static_cast<std::size_t>(res);
        if (info.kind != FdKind::stream || total >= want) return ssize_t(total);
        if (rest.empty()) rest.assign(msg->msg_iov, msg->msg_iov + msg->msg_iovlen);
        advance(rest, first, static_cast<std::size_t>(res));
        part.msg_iov = rest.data() + first;
        part.msg_iovlen = rest.size() - first;
    }
}

// A pipe, FIFO or tty: wait until poll says ready, then the real call.
template <class Call>
ssize_t pollable_io(TaskControlBlock* t, int fd, short events, const char* name, Call call) {
    for (;;) {
        pollfd p{fd, events, 0};
        const int ready = real().poll(&p, 1, 0);
        if (ready != 0 || caller_nonblocking(fd)) {
            NotedCall noted(name);  // another reader may have raced us to the data
            return call();
        }
        if (const int again = repeated_interrupt(t)) return fail(again);
        Interrupt why = Interrupt::none;
        const long res = wait_fd(fd, events, TimePoint::max(), &why);
        if (res < 0) return fail(wait_errno(t, res, why, EINTR, EINTR));
    }
}

// Runs `call` with O_NONBLOCK set on the fd for the duration of the call
// alone (connect and accept have no MSG_DONTWAIT). No other task of this
// thread can run meanwhile, so none sees the flag; `flags` is the caller's.
template <class Call>
long with_nonblock(int fd, int flags, Call call) {
    real().fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    const long res = call();
    const int saved = errno;
    real().fcntl(fd, F_SETFL, flags);
    errno = saved;
    return res;
}

ssize_t hooked_read(TaskControlBlock* t, int fd, void* buf, std::size_t len, const char* name) {
    const FdInfo info = fd_info(fd);
    if (is_socket(info.kind)) {
        iovec iov{buf, len};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        return socket_recv(t, fd, info, &msg, 0);
    }
    if (info.kind == FdKind::pollable) {
        return pollable_io(t, fd, POLLIN, name, [&] { return real().read(fd, buf, len); });
    }
    NotedCall noted(name);
    return real().read(fd, buf, len);
}

ssize_t hooked_recvfrom(int fd, void* buf, std::size_t len, int flags, sockaddr* from,
                        socklen_t* fromlen) {
    TaskControlBlock* t = current_task();
    if (t == nullptr || (flags & MSG_DONTWAIT) != 0) {
        return real().recvfrom(fd, buf, len, flags, from, fromlen);
    }
    const FdInfo info = fd_info(fd);
    if (!is_socket(info.kind)) return real().recvfrom(fd, buf, len, flags, from, fromlen);
    iovec iov{buf, len};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (from != nullptr && fromlen != nullptr) {
        msg.msg_name = from;
        msg.msg_namelen = *fromlen;
    }
    const ssize_t n = socket_recv(t, fd, info, &msg, flags);
    if (n >= 0 && from != nullptr && fromlen != nullptr) *fromlen = msg.msg_namelen;
    return n;
}

ssize_t hooked_sendto(int fd, const void* buf, std::size_t len, int flags, const sockaddr* to,
                      socklen_t tolen) {
    TaskControlBlock* t = current_task();
    if (t == nullptr || (flags & MSG_DONTWAIT) != 0) {
        return real().sendto(fd, buf, len, flags, to, tolen);
    }
    const FdInfo info = fd_info(fd);
    if (!is_socket(info.kind)) return real().sendto(fd, buf, len, flags, to, tolen);
    iovec iov{const_cast<void*>(buf), len};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_name = const_cast<sockaddr*>(to);
    msg.msg_namelen = to != nullptr ? tolen : 0;
    return socket_send(t, fd, info, &msg, flags);
}

int hooked_accept(int fd, sockaddr* addr, socklen_t* addrlen, int flags) {
    TaskControlBlock* t = current_task();
    if (t == nullptr) return real().accept4(fd, addr, addrlen, flags);
    const FdInfo info = fd_info(fd);
    const int fl = real().fcntl(fd, F_GETFL);
    if (!is_socket(info.kind) || fl < 0 || (fl & O_NONBLOCK) != 0) {
        const int res = real().accept4(fd, addr, addrlen, flags);
        if (res >= 0) fd_created(res, info.kind, (flags & SOCK_NONBLOCK) != 0);
        return res;
    }
    const TimePoint deadline = deadline_for(info.recv_timeout);
    for (;;) {
        const int res = static_cast<int>(
            with_nonblock(fd, fl, [&] { return real().accept4(fd, addr, addrlen, flags); }));
        if (res >= 0) {
            fd_created(res, info.kind, (flags & SOCK_NONBLOCK) != 0);
            return res;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        if (const int again = repeated_interrupt(t)) return static_cast<int>(fail(again));
        Interrupt why = Interrupt::none;
        const long waited = wait_fd(fd, POLLIN, deadline, &why);
        if (waited < 0) return static_cast<int>(fail(wait_errno(t, waited, why, EINTR, EAGAIN)));
    }
}

thread_local bool in_forget = false;

}  // namespace

extern "C" {

int socket(int domain, int type, int protocol) {
    const int fd = real().socket(domain, type, protocol);
    if (fd >= 0) {
        fd_created(fd, (type & 0xf) == SOCK_STREAM ? FdKind::stream : FdKind::datagram,
                   (type & SOCK_NONBLOCK) != 0);
    }
    return fd;
}

int socketpair(int domain, int type, int protocol, int sv[2]) {
    const int res = real().socketpair(domain, type, protocol, sv);
    if (res == 0) {
        const FdKind kind = (type & 0xf) == SOCK_STREAM ? FdKind::stream : FdKind::datagram;
        fd_created(sv[0], kind, (type & SOCK_NONBLOCK) != 0);
        fd_created(sv[1], kind, (type & SOCK_NONBLOCK) != 0);
    }
    return res;
}

int connect(int fd, const sockaddr* addr, socklen_t len) {
    TaskControlBlock* t = current_task();
    if (t == nullptr) return real().connect(fd, addr, len);
    const FdInfo info = fd_info(fd);
    const int fl = real().fcntl(fd, F_GETFL);
    if (!is_socket(info.kind) || fl < 0 || (fl & O_NONBLOCK) != 0) {
        return real().connect(fd, addr, len);
    }
    if (const int again = repeated_interrupt(t)) return static_cast<int>(fail(again));
    const TimePoint deadline = deadline_for(info.send_timeout);
    Duration delay = std::chrono::milliseconds(1);
    for (;;) {
        const long res = with_nonblock(fd, fl, [&] { return real().connect(fd, addr, len); });
        if (res == 0) return 0;
        if (errno == EAGAIN && addr != nullptr && addr->sa_family == AF_UNIX) {
            // A Unix listener's backlog is full: a blocking connect waits for
            // room, but readiness would spin; back off as the runtime does.
            if (Clock::now() >= deadline) return static_cast<int>(fail(EAGAIN));
            const Interrupt why = rt().sleep_until(std::min(deadline, Clock::now() + delay));
            if (why != Interrupt::none) {
                return static_cast<int>(fail(report_interrupt(t, why, ETIMEDOUT)));
            }
            delay = std::min<Duration>(delay * 2, std::chrono::milliseconds(50));
            continue;
        }
        if (errno != EINPROGRESS) return -1;
        Interrupt why = Interrupt::none;
        const long waited = wait_fd(fd, POLLOUT, deadline, &why);
        // Interrupted or timed out: the connection goes on in the background,
        // as after a signal (a second connect() reports EALREADY).
        if (waited < 0) {
            return static_cast<int>(fail(wait_errno(t, waited, why, ETIMEDOUT, EINPROGRESS)));
        }
        int err = 0;
        socklen_t err_len = sizeof err;
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) return -1;
        return err == 0 ? 0 : static_cast<int>(fail(err));
    }
}

int accept(int fd, sockaddr* addr, socklen_t* addrlen) {
    return hooked_accept(fd, addr, addrlen, 0);
}

int accept4(int fd, sockaddr* addr, socklen_t* addrlen, int flags) {
    return hooked_accept(fd, addr, addrlen, flags);
}

ssize_t read(int fd, void* buf, size_t len) {
    TaskControlBlock* t = current_task();
    if (t == nullptr) return real().read(fd, buf, len);
    return hooked_read(t, fd, buf, len, "read");
}

// _FORTIFY_SOURCE builds of C libraries (Debian's) call these instead.
ssize_t __read_chk(int fd, void* buf, size_t len, size_t buflen) {
    if (len > buflen) {
        static const char msg[] = "*** buffer overflow detected ***: read\n";
        real().write(STDERR_FILENO, msg, sizeof msg - 1);
        std::abort();
    }
    return read(fd, buf, len);
}

ssize_t readv(int fd, const iovec* iov, int iovcnt) {
    TaskControlBlock* t = current_task();
    if (t == nullptr || iovcnt < 0) return real().readv(fd, iov, iovcnt);
    const FdInfo info = fd_info(fd);
    if (is_socket(info.kind)) {
        msghdr msg{};
        msg.msg_iov = const_cast<iovec*>(iov);
        msg.msg_iovlen = static_cast<std::size_t>(iovcnt);
        return socket_recv(t, fd, info, &msg, 0);
    }
    if (info.kind == FdKind::pollable) {
        return pollable_io(t, fd, POLLIN, "readv", [&] { return real().readv(fd, iov, iovcnt); });
    }
    NotedCall noted("readv");
    return real().readv(fd, iov, iovcnt);
}

ssize_t write(int fd, const void* buf, size_t len) {
    TaskControlBlock* t = current_task();
    if (t == nullptr) return real().write(fd, buf, len);
    const FdInfo info = fd_info(fd);
    if (is_socket(info.kind)) {
        iovec iov{const_cast<void*>(buf), len};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        return socket_send(t, fd, info, &msg, 0);
    }
    if (info.kind == FdKind::pollable) {
        return pollable_io(t, fd, POLLOUT, "write", [&] { return real().write(fd, buf, len); });
    }
    NotedCall noted("write");
    return real().write(fd, buf, len);
}

ssize_t writev(int fd, const iovec* iov, int iovcnt) {
    TaskControlBlock* t = current_task();
    if (t == nullptr || iovcnt < 0) return real().writev(fd, iov, iovcnt);
    const FdInfo info = fd_info(fd);
    if (is_socket(info.kind)) {
        msghdr msg{};
        msg.msg_iov = const_cast<iovec*>(iov);
        msg.msg_iovlen = static_cast<std::size_t>(iovcnt);
        return socket_send(t, fd, info, &msg, 0);
    }
    if (info.kind == FdKind::pollable) {
        return pollable_io(t, fd, POLLOUT, "writev",
                           [&] { return real().writev(fd, iov, iovcnt); });
    }
    NotedCall noted("writev");
    return real().writev(fd, iov, iovcnt);
}

ssize_t recv(int fd, void* buf, size_t len, int flags) {
    return hooked_recvfrom(fd, buf, len, flags, nullptr, nullptr);
}

ssize_t __recv_chk(int fd, void* buf, size_t len, size_t buflen, int flags) {
    if (len > buflen) std::abort();
    return recv(fd, buf, len, flags);
}

ssize_t recvfrom(int fd, void* buf, size_t len, int flags, sockaddr* from, socklen_t* fromlen) {
    return hooked_recvfrom(fd, buf, len, flags, from, fromlen);
}

ssize_t __recvfrom_chk(int fd, void* buf, size_t len, size_t buflen, int flags, sockaddr* from,
                       socklen_t* fromlen) {
    if (len > buflen) std::abort();
    return recvfrom(fd, buf, len, flags, from, fromlen);
}

ssize_t recvmsg(int fd, msghdr* msg, int flags) {
    TaskControlBlock* t = current_task();
    if (t == nullptr || (flags & MSG_DONTWAIT) != 0) return real().recvmsg(fd, msg, flags);
    const FdInfo info = fd_info(fd);
    if (!is_socket(info.kind)) return real().recvmsg(fd, msg, flags);
    return socket_recv(t, fd, info, msg, flags);
}

ssize_t send(int fd, const void* buf, size_t len, int flags) {
    return hooked_sendto(fd, buf, len, flags, nullptr, 0);
}

ssize_t sendto(int fd, const void* buf, size_t len, int flags, const sockaddr* to,
               socklen_t tolen) {
    return hooked_sendto(fd, buf, len, flags, to, tolen);
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
    TaskControlBlock* t = current_task();
    if (t == nullptr || (flags & MSG_DONTWAIT) != 0) return real().sendmsg(fd, msg, flags);
    const FdInfo info = fd_info(fd);
    if (!is_socket(info.kind)) return real().sendmsg(fd, msg, flags);
    return socket_send(t, fd, info, msg, flags);
}

int close(int fd) {
    // Every hooked wait on this number ends first (EBADF), before the number
    // can name another file: the generation bump tells the waiters, the
    // backend's forget_fd wakes them (and cancels their io_uring requests,
    // which end before the waiters resume, so the kernel is done with their
    // buffers).
    fd_forget(fd);
    if (ops_pending(fd) > 0 && current_task() != nullptr && !in_forget) {
        in_forget = true;
        rt().forget_fd(fd);
        in_forget = false;
        for (int spins = 0; ops_pending(fd) > 0 && spins < 100000; ++spins) {
            rt().sleep_until(Clock::now());  // a yield: let the woken waiters leave
        }
    }
    return real().close(fd);
}

int dup(int fd) {
    const int res = real().dup(fd);
    if (res >= 0) fd_forget(res);
    return res;
}

int dup2(int fd, int fd2) {
    const int res = real().dup2(fd, fd2);
    if (res >= 0 && fd != fd2) fd_forget(res);
    return res;
}

int dup3(int fd, int fd2, int flags) {
    const int res = real().dup3(fd, fd2, flags);
    if (res >= 0) fd_forget(res);
    return res;
}

// O_NONBLOCK stays the caller's own (the hooks never leave it changed), so
// F_GETFL/F_SETFL and ioctl(FIONBIO) are the kernel's, unhooked; fcntl is
// hooked only to learn of the fds that F_DUPFD makes.
// Both names: with _FILE_OFFSET_BITS=64 the headers call fcntl64, without, fcntl.
int hooked_fcntl(int fd, int cmd, ...) __asm__("fcntl");
int hooked_fcntl64(int fd, int cmd, ...) __asm__("fcntl64");

int hooked_fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void* arg = va_arg(ap, void*);  // what glibc itself reads, for every command
    va_end(ap);
    const int res = real().fcntl(fd, cmd, arg);
    if (res >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) fd_forget(res);
    if (res >= 0 && cmd == F_SETFL) fd_reprobe(fd);
    return res;
}

int hooked_fcntl64(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    const int res = real().fcntl(fd, cmd, arg);
    if (res >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) fd_forget(res);
    if (res >= 0 && cmd == F_SETFL) fd_reprobe(fd);
    return res;
}

// FIONBIO sets O_NONBLOCK too: the hooks learn the fd's flags again.
int ioctl(int fd, unsigned long request, ...) {
    va_list ap;
    va_start(ap, request);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    const int res = real().ioctl(fd, request, arg);
    if (res == 0 && request == FIONBIO) fd_reprobe(fd);
    return res;
}

int setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
    const int res = real().setsockopt(fd, level, name, value, len);
    if (res == 0 && level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO) &&
        value != nullptr && len >= sizeof(timeval)) {
        const auto* tv = static_cast<const timeval*>(value);
        fd_set_timeout(fd, name == SO_SNDTIMEO,
                       std::chrono::seconds(tv->tv_sec) + std::chrono::microseconds(tv->tv_usec));
    }
    return res;
}

}  // extern "C"
