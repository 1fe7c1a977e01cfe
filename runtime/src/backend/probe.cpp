// backend/probe.cpp — chooses io_uring or epoll for a new scheduler.
#include <cerrno>
#include <cstdlib>
#include <string>

#include <ringlet/errors.hpp>

#include "backend/backend.hpp"

namespace ringlet::detail {

std::unique_ptr<Backend> make_backend(std::string_view requested, unsigned ring_entries) {
    std::string choice(requested);
    if (choice.empty()) {
        if (const char* env = std::getenv("RINGLET_BACKEND")) choice = env;
    }
    if (choice == "epoll") return make_epoll_backend();
    if (!choice.empty() && choice != "io_uring" && choice != "auto") {
        throw UsageError("ringlet: unknown backend '" + choice +
                         "' (use \"io_uring\", \"epoll\" or leave it empty)");
    }
    int error = 0;
    const char* failed_call = "io_uring_queue_init";
    if (auto ring = make_uring_backend(ring_entries, error, failed_call)) return ring;
    // EPERM/ENOSYS: seccomp or an old kernel; ENOMEM: memlock limits; EPERM
    // from io_uring_enter alone: a seccomp profile that allows io_uring_setup
    // only (the backend submits a NOP to find out). All mean "no io_uring
    // here", which is not an error: serve the same API on epoll (stats()
    // then says "epoll").
    if (choice == "io_uring" && error != 0) throw_io_error(error, failed_call);
    return make_epoll_backend();
}

}  // namespace ringlet::detail
