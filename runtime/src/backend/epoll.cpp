// backend/epoll.cpp — epoll backend: the same API where io_uring is missing.
//
// Chosen when io_uring_setup fails (EPERM/ENOSYS under container seccomp
// profiles, old kernels) or when RINGLET_BACKEND=epoll. Waits use
// epoll_pwait2 for sub-millisecond timeouts where the kernel has it.
#include <cerrno>
#include <cstdint>

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <ringlet/errors.hpp>

#include "backend/backend.hpp"
#include "unique_fd.hpp"

namespace ringlet::detail {

namespace {

class EpollBackend final : public Backend {
public:
    EpollBackend() {
        epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
        if (!epoll_.valid()) throw_io_error(-errno, "epoll_create1");
        eventfd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!eventfd_.valid()) throw_io_error(-errno, "eventfd");
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = 0;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, eventfd_.get(), &ev) != 0) {
            throw_io_error(-errno, "epoll_ctl");
        }
    }

    const char* name() const noexcept override { return "epoll"; }
    bool has_pending() const noexcept override { return registered_ > 0; }

    void poll(Duration timeout) override {
        epoll_event events[64];
        int n;
        if (timeout == forever) {
            n = ::epoll_wait(epoll_.get(), events, 64, -1);
        } else {
            timespec ts{};
            ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
            ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
            n = have_pwait2_ ? ::epoll_pwait2(epoll_.get(), events, 64, &ts, nullptr) : -1;
            if (n < 0 && have_pwait2_ && errno == ENOSYS) have_pwait2_ = false;
            if (!have_pwait2_) {
                // Round up so a sub-millisecond timer does not spin.
                const auto ms = (timeout.count() + 999'999) / 1'000'000;
                n = ::epoll_wait(epoll_.get(), events, 64, static_cast<int>(ms));
            }
        }
        if (n < 0) {
            if (errno == EINTR) return;
            throw_io_error(-errno, "epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            if (events[i].data.u64 == 0) {
                std::uint64_t value;
                [[maybe_unused]] ssize_t r = ::read(eventfd_.get(), &value, sizeof value);
            }
        }
    }

    void wake() noexcept override {
        const std::uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(eventfd_.get(), &one, sizeof one);
    }

private:
    UniqueFd epoll_;
    UniqueFd eventfd_;
    unsigned registered_ = 0;
    bool have_pwait2_ = true;
};

}  // namespace

std::unique_ptr<Backend> make_epoll_backend() { return std::make_unique<EpollBackend>(); }

}  // namespace ringlet::detail
