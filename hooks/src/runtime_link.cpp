// runtime_link.cpp — the real functions, the runtime's table, fd state, interrupts.
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>
#include <unordered_map>

#include <sys/stat.h>

#include <ringlet/hooks.hpp>

#include "hooks_internal.hpp"
#include "timeout_access.hpp"

namespace ringlet::hooks_impl {

std::atomic<const HookRuntime*> runtime_table{nullptr};

namespace {

RealFunctions table;
std::atomic<bool> resolved{false};

template <class F>
void resolve(F& slot, const char* name) noexcept {
    void* sym = ::dlsym(RTLD_NEXT, name);
    if (sym == nullptr) {
        std::fprintf(stderr, "ringlet-hooks: libc has no %s: %s\n", name, ::dlerror());
        std::abort();
    }
    slot = reinterpret_cast<F>(sym);
}

void resolve_all() noexcept {
#define RINGLET_RESOLVE(name) resolve(table.name, #name)
    RINGLET_RESOLVE(socket);
    RINGLET_RESOLVE(socketpair);
    RINGLET_RESOLVE(connect);
    RINGLET_RESOLVE(accept);
    RINGLET_RESOLVE(accept4);
    RINGLET_RESOLVE(read);
    RINGLET_RESOLVE(readv);
    RINGLET_RESOLVE(write);
    RINGLET_RESOLVE(writev);
    RINGLET_RESOLVE(recv);
    RINGLET_RESOLVE(recvfrom);
    RINGLET_RESOLVE(recvmsg);
    RINGLET_RESOLVE(send);
    RINGLET_RESOLVE(sendto);
    RINGLET_RESOLVE(sendmsg);
    RINGLET_RESOLVE(poll);
    RINGLET_RESOLVE(ppoll);
    RINGLET_RESOLVE(select);
    RINGLET_RESOLVE(pselect);
    RINGLET_RESOLVE(epoll_wait);
    RINGLET_RESOLVE(sleep);
    RINGLET_RESOLVE(usleep);
    RINGLET_RESOLVE(nanosleep);
    RINGLET_RESOLVE(clock_nanosleep);
    RINGLET_RESOLVE(getaddrinfo);
    RINGLET_RESOLVE(gethostbyname);
    RINGLET_RESOLVE(close);
    RINGLET_RESOLVE(dup);
    RINGLET_RESOLVE(dup2);
    RINGLET_RESOLVE(dup3);
    RINGLET_RESOLVE(fcntl);
    RINGLET_RESOLVE(ioctl);
    RINGLET_RESOLVE(setsockopt);
    RINGLET_RESOLVE(flock);
    RINGLET_RESOLVE(waitpid);
    RINGLET_RESOLVE(fsync);
    RINGLET_RESOLVE(fdatasync);
#undef RINGLET_RESOLVE
    resolved.store(true, std::memory_order_release);
}

// Resolved while the library loads, before any thread of the program can call in.
[[gnu::constructor]] void resolve_at_load() { resolve_all(); }

// --- fd state ---------------------------------------------------------------

constexpr int table_fds = 1 << 16;

struct FdSlot {
    std::atomic<FdKind> kind{FdKind::unknown};
    std::atomic<std::int64_t> recv_ns{0};
    std::atomic<std::int64_t> send_ns{0};
    std::atomic<std::uint32_t> generation{0};
    std::atomic<bool> nonblocking{false};
};

FdSlot fd_slots[table_fds];  // zero pages until touched

Duration read_timeout(int fd, int option) noexcept {
    timeval tv{};
    socklen_t len = sizeof tv;
    if (::getsockopt(fd, SOL_SOCKET, option, &tv, &len) != 0) return Duration::zero();
    return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
}

FdInfo probe(int fd) noexcept {
    FdInfo info;
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        info.kind = FdKind::passthrough;  // EBADF and the like: the real call says so
        return info;
    }
    if (S_ISSOCK(st.st_mode)) {
        int type = 0;
        socklen_t len = sizeof type;
        ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
        info.kind = type == SOCK_STREAM ? FdKind::stream : FdKind::datagram;
        const int flags = table.fcntl(fd, F_GETFL);
        info.nonblocking = flags >= 0 && (flags & O_NONBLOCK) != 0;
        info.recv_timeout = read_timeout(fd, SO_RCVTIMEO);
        info.send_timeout = read_timeout(fd, SO_SNDTIMEO);
    } else if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode)) {
        info.kind = FdKind::passthrough;
    } else {
        // Pipes, FIFOs, ttys, eventfd, timerfd... A stale "non-blocking" here
        // would only make the hook the real call, which is always right.
        const int flags = table.fcntl(fd, F_GETFL);
        info.kind = flags >= 0 && (flags & O_NONBLOCK) != 0 ? FdKind::pollable_nonblocking
                                                            : FdKind::pollable;
    }
    return info;
}

// --- interrupts ---------------------------------------------------------------

struct Reported {
    TaskControlBlock* task = nullptr;
    bool cancel = false;
    const void* scope = nullptr;  // the expired Timeout scope that was reported
};
thread_local Reported reported;

thread_local std::unordered_map<int, int>* ops_in_flight = nullptr;

}  // namespace

const RealFunctions& real() noexcept {
    if (!resolved.load(std::memory_order_acquire)) resolve_all();
    return table;
}

FdInfo fd_info(int fd) noexcept {
    if (fd < 0 || fd >= table_fds) return probe(fd);
    FdSlot& s = fd_slots[fd];
    FdInfo info;
    info.kind = s.kind.load(std::memory_order_acquire);
    if (info.kind == FdKind::unknown) {
        info = probe(fd);
        s.recv_ns.store(info.recv_timeout.count(), std::memory_order_relaxed);
        s.send_ns.store(info.send_timeout.count(), std::memory_order_relaxed);
        s.nonblocking.store(info.nonblocking, std::memory_order_relaxed);
        s.kind.store(info.kind, std::memory_order_release);
    } else {
        info.recv_timeout = Duration(s.recv_ns.load(std::memory_order_relaxed));
        info.send_timeout = Duration(s.send_ns.load(std::memory_order_relaxed));
        info.nonblocking = s.nonblocking.load(std::memory_order_relaxed);
    }
    info.generation = s.generation.load(std::memory_order_acquire);
    return info;
}

void fd_forget(int fd) noexcept {
    if (fd < 0 || fd >= table_fds) return;
    FdSlot& s = fd_slots[fd];
    s.kind.store(FdKind::unknown, std::memory_order_release);
    s.generation.fetch_add(1, std::memory_order_acq_rel);
}

void fd_reprobe(int fd) noexcept {
    if (fd < 0 || fd >= table_fds) return;
    fd_slots[fd].kind.store(FdKind::unknown, std::memory_order_release);
}

void fd_created(int fd, FdKind kind, bool nonblocking) noexcept {
    if (fd < 0 || fd >= table_fds) return;
    FdSlot& s = fd_slots[fd];
    s.nonblocking.store(nonblocking, std::memory_order_relaxed);
    s.recv_ns.store(0, std::memory_order_relaxed);
    s.send_ns.store(0, std::memory_order_relaxed);
    s.kind.store(kind, std::memory_order_release);
}

void fd_set_timeout(int fd, bool send, Duration d) noexcept {
    if (fd < 0 || fd >= table_fds) return;
    (send ? fd_slots[fd].send_ns : fd_slots[fd].recv_ns)
        .store(d.count(), std::memory_order_relaxed);
}

std::uint32_t fd_generation(int fd) noexcept {
    if (fd < 0 || fd >= table_fds) return 0;
    return fd_slots[fd].generation.load(std::memory_order_acquire);
}

bool caller_nonblocking(int fd) noexcept {
    const int flags = real().fcntl(fd, F_GETFL);
    return flags >= 0 && (flags & O_NONBLOCK) != 0;
}

void ops_begin(int fd) noexcept {
    if (ops_in_flight == nullptr) ops_in_flight = new std::unordered_map<int, int>;
    ++(*ops_in_flight)[fd];
}

void ops_end(int fd) noexcept {
    auto it = ops_in_flight->find(fd);
    if (--it->second == 0) ops_in_flight->erase(it);
}

int ops_pending(int fd) noexcept {
    if (ops_in_flight == nullptr) return 0;
    auto it = ops_in_flight->find(fd);
    return it == ops_in_flight->end() ? 0 : it->second;
}

int repeated_interrupt(TaskControlBlock* t) noexcept {
    if (reported.task != t) return 0;
    if (reported.cancel) {
        if (t->cancel_requested.load(std::memory_order_relaxed)) return ECANCELED;
    } else if (const Timeout* scope = TimeoutAccess::earliest(t)) {
        if (scope == reported.scope && scope->expired()) return ETIMEDOUT;
    }
    reported = {};  // delivered since, or its scope is gone
    return 0;
}

int report_interrupt(TaskControlBlock* t, Interrupt why, int timeout_errno) noexcept {
    if (why == Interrupt::cancelled) {
        reported = {t, true, nullptr};
        return EINTR;
    }
    reported = {t, false, TimeoutAccess::earliest(t)};
    return timeout_errno;
}

long wait_fd(int fd, short events, TimePoint deadline, Interrupt* why) noexcept {
    const std::uint32_t generation = fd_generation(fd);
    IoRequest r{IoOpcode::poll, fd};
    r.flags = events;
    ops_begin(fd);
    long res = rt().perform(r, deadline, why);
    ops_end(fd);
    // Closed by another task while we waited: never touch the number again,
    // it may already name another file.
    if (fd_generation(fd) != generation) return -EBADF;
    return res < 0 ? res : 0;
}

}  // namespace ringlet::hooks_impl

extern "C" [[gnu::visibility("default")]] void ringlet_hooks_attach(
    const ringlet::detail::HookRuntime* table) {
    using ringlet::detail::HookRuntime;
    if (table == nullptr || table->version != HookRuntime::current_version ||
        table->size != sizeof(HookRuntime)) {
        std::fprintf(stderr,
                     "ringlet-hooks: this program's ringlet is another version; hooks stay off\n");
        return;
    }
    ringlet::hooks_impl::runtime_table.store(table, std::memory_order_release);
}

namespace ringlet {

bool hooks_installed() noexcept {
    return hooks_impl::runtime_table.load(std::memory_order_acquire) != nullptr;
}

}  // namespace ringlet
