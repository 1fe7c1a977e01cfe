// hooks_internal.hpp — what every hooked libc function of ringlet-hooks shares.
//
// The hooks are extern "C" definitions of libc's names; the dynamic linker
// binds every library of the program to them (this library comes before libc
// in the lookup order). Each one asks first whether a ringlet task runs on
// this thread: if not (a plain thread, the scheduler's own loop, a blocking-
// pool worker, before run(), a forked child) it is the real libc function,
// found with dlsym(RTLD_NEXT), with nothing changed. Inside a task it waits
// through the runtime's IO request path (io_uring or epoll), suspending only
// that task. The kernel's O_NONBLOCK flag is never left changed: what the
// caller set is what fcntl(F_GETFL) shows, and what decides whether EAGAIN
// goes back to it.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <poll.h>
#include <signal.h>
#include <time.h>

#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <ringlet/detail/task_base.hpp>
#include <ringlet/time.hpp>

#include "hook_support.hpp"

struct addrinfo;
struct hostent;

namespace ringlet::hooks_impl {

using detail::HookRuntime;
using detail::Interrupt;
using detail::IoOpcode;
using detail::IoRequest;
using detail::TaskControlBlock;
using ringlet::Clock;
using ringlet::Duration;
using ringlet::TimePoint;

// The real libc functions, resolved on first use (dlsym(RTLD_NEXT)).
struct RealFunctions {
    int (*socket)(int, int, int);
    int (*socketpair)(int, int, int, int[2]);
    int (*connect)(int, const sockaddr*, socklen_t);
    int (*accept)(int, sockaddr*, socklen_t*);
    int (*accept4)(int, sockaddr*, socklen_t*, int);
    ssize_t (*read)(int, void*, size_t);
    ssize_t (*readv)(int, const iovec*, int);
    ssize_t (*write)(int, const void*, size_t);
    ssize_t (*writev)(int, const iovec*, int);
    ssize_t (*recv)(int, void*, size_t, int);
    ssize_t (*recvfrom)(int, void*, size_t, int, sockaddr*, socklen_t*);
    ssize_t (*recvmsg)(int, msghdr*, int);
    ssize_t (*send)(int, const void*, size_t, int);
    ssize_t (*sendto)(int, const void*, size_t, int, const sockaddr*, socklen_t);
    ssize_t (*sendmsg)(int, const msghdr*, int);
    int (*poll)(pollfd*, nfds_t, int);
    int (*ppoll)(pollfd*, nfds_t, const timespec*, const sigset_t*);
    int (*select)(int, fd_set*, fd_set*, fd_set*, timeval*);
    int (*pselect)(int, fd_set*, fd_set*, fd_set*, const timespec*, const sigset_t*);
    int (*epoll_wait)(int, epoll_event*, int, int);
    unsigned (*sleep)(unsigned);
    int (*usleep)(useconds_t);
    int (*nanosleep)(const timespec*, timespec*);
    int (*clock_nanosleep)(clockid_t, int, const timespec*, timespec*);
    int (*getaddrinfo)(const char*, const char*, const addrinfo*, addrinfo**);
    hostent* (*gethostbyname)(const char*);
    int (*close)(int);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*fcntl)(int, int, ...);
    int (*ioctl)(int, unsigned long, ...);
    int (*setsockopt)(int, int, int, const void*, socklen_t);
    int (*flock)(int, int);
    pid_t (*waitpid)(pid_t, int*, int);
    int (*fsync)(int);
    int (*fdatasync)(int);
};

// The table; every entry is resolved once, at the first hooked call.
const RealFunctions& real() noexcept;

// The runtime's entry points, once a scheduler has started (else null).
extern std::atomic<const HookRuntime*> runtime_table;

// The task running on this thread, or null: then the hook is the real call.
inline TaskControlBlock* current_task() noexcept {
    const HookRuntime* rt = runtime_table.load(std::memory_order_acquire);
    return rt != nullptr ? rt->running_task() : nullptr;
}
inline const HookRuntime& rt() noexcept { return *runtime_table.load(std::memory_order_relaxed); }

// What the hooks know of one fd. Learned on first use (fstat, getsockopt),
// kept up to date by the hooked socket/accept/setsockopt/close/dup calls.
// A stale entry (an fd closed and reused behind the hooks' back, by fclose
// say) costs cooperation at worst, never a wrong result: a socket is always
// tried with the real call first, and the caller's O_NONBLOCK is read from
// the kernel before the hook decides to wait.
enum class FdKind : std::uint8_t {
    unknown,
    stream,                // SOCK_STREAM socket: partial writes are completed
    datagram,              // any other socket
    pollable,              // pipe, FIFO, tty, eventfd...: wait for readiness, then call
    pollable_nonblocking,  // the same with the caller's O_NONBLOCK: the real call
    passthrough,           // regular file, directory, block device: always "ready"
};

struct FdInfo {
    FdKind kind = FdKind::unknown;
    Duration recv_timeout = Duration::zero();  // SO_RCVTIMEO; zero = none
    Duration send_timeout = Duration::zero();  // SO_SNDTIMEO
    std::uint32_t generation = 0;              // bumped by each hooked close
    bool nonblocking = false;                  // the caller's O_NONBLOCK (sockets)
};

// The entry for `fd`, probed if unknown (fds past the table are probed each time).
FdInfo fd_info(int fd) noexcept;
void fd_forget(int fd) noexcept;                                  // closed, or replaced by dup2
void fd_reprobe(int fd) noexcept;                                 // flags changed: learn it again
void fd_created(int fd, FdKind kind, bool nonblocking) noexcept;  // a new socket
void fd_set_timeout(int fd, bool send, Duration d) noexcept;
std::uint32_t fd_generation(int fd) noexcept;

// The caller's own O_NONBLOCK, read from the kernel (the hooks never keep it changed).
bool caller_nonblocking(int fd) noexcept;

// Hooked operations in flight on this thread per fd: close() lets them end first.
void ops_begin(int fd) noexcept;
void ops_end(int fd) noexcept;
int ops_pending(int fd) noexcept;

// Interrupt handling. A C library may retry a call that failed with EINTR
// (hiredis and libpq do), so the first interrupted call of a task reports
// EINTR (or ETIMEDOUT) and each later one, until the task reaches a ringlet
// suspension point, fails at once with ECANCELED (or ETIMEDOUT): the library
// gives up and control comes back to ringlet code, where Cancelled is thrown.
//
// On a call's slow path, before it waits: 0, or the errno to fail with now.
int repeated_interrupt(TaskControlBlock* t) noexcept;
// After a wait ended by `why` (not none): records it, returns the errno.
int report_interrupt(TaskControlBlock* t, Interrupt why, int timeout_errno) noexcept;

// Deadline `d` from now, saturating (ringlet::deadline_after, which this
// library cannot call: it links no runtime).
inline TimePoint after(Duration d) noexcept {
    const TimePoint now = Clock::now();
    if (d <= Duration::zero()) return now;
    if (d >= TimePoint::max() - now) return TimePoint::max();
    return now + d;
}

// Deadline `d` from now; zero or negative means none (SO_RCVTIMEO's convention).
inline TimePoint deadline_for(Duration d) noexcept {
    return d > Duration::zero() ? after(d) : TimePoint::max();
}

// Waits for `events` on one fd through the backend. 0 ready, -ETIMEDOUT at
// deadline, -EBADF when the fd was closed meanwhile, -errno on failure, or
// -EINTR with *why set when the task was interrupted.
long wait_fd(int fd, short events, TimePoint deadline, Interrupt* why) noexcept;

// RAII: records the blocking call the task sits in, for blocked_warning.
class NotedCall {
  public:
    explicit NotedCall(const char* name) noexcept : active_(current_task() != nullptr) {
        if (active_) rt().note_call(name);
    }
    ~NotedCall() {
        if (active_) rt().note_call(nullptr);
    }
    NotedCall(const NotedCall&) = delete;
    NotedCall& operator=(const NotedCall&) = delete;

  private:
    bool active_;
};

// The poll() of the hooks, shared by poll/ppoll/select/pselect. Inside a task.
int cooperative_poll(TaskControlBlock* t, pollfd* fds, nfds_t n, TimePoint deadline) noexcept;

}  // namespace ringlet::hooks_impl
