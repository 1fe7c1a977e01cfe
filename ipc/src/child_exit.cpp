#include "child_exit.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <ringlet/errors.hpp>

#include "io_request.hpp"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace ringlet::ipc::detail {

namespace {

int exit_code_of(const siginfo_t& info) noexcept {
    switch (info.si_code) {
        case CLD_EXITED: return info.si_status;
        case CLD_KILLED:
        case CLD_DUMPED: return -info.si_status;
        default: return info.si_status;
    }
}

}  // namespace

ringlet::detail::UniqueFd open_pidfd(pid_t pid) {
    const long fd = ::syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) throw_io_error(-errno, "pidfd_open");
    // CLOEXEC is implied by pidfd_open; later children must not inherit it anyway.
    return ringlet::detail::UniqueFd(static_cast<int>(fd));
}

std::optional<int> try_reap(int pidfd) {
    siginfo_t info{};
    for (;;) {
        if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info,
                     WEXITED | WNOHANG) == 0) {
            break;
        }
        if (errno != EINTR) throw_io_error(-errno, "waitid");
    }
    if (info.si_pid == 0) return std::nullopt;  // still running
    return exit_code_of(info);
}

std::optional<int> wait_reap(int pidfd, TimePoint deadline) {
    for (;;) {
        if (auto code = try_reap(pidfd)) return code;
        ringlet::detail::IoRequest r{ringlet::detail::IoOpcode::poll, pidfd};
        r.flags = POLLIN;
        const long res = ringlet::detail::perform_io(r, deadline);
        if (res == -ETIMEDOUT) return try_reap(pidfd);  // it may have ended just now
        if (res < 0 && res != -EINTR) throw_io_error(static_cast<int>(res), "poll(pidfd)");
    }
}

bool wait_exit(int pidfd, TimePoint deadline) {
    for (;;) {
        ringlet::detail::IoRequest r{ringlet::detail::IoOpcode::poll, pidfd};
        r.flags = POLLIN;
        const long res = ringlet::detail::perform_io(r, deadline);
        if (res == -ETIMEDOUT) return false;
        if (res >= 0) return true;
        if (res != -EINTR) throw_io_error(static_cast<int>(res), "poll(pidfd)");
    }
}

bool send_signal(int pidfd, int sig) {
    if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0) return true;
    if (errno == ESRCH) return false;
    throw_io_error(-errno, "pidfd_send_signal");
}

}  // namespace ringlet::ipc::detail
