// backend/epoll.cpp — epoll backend: the same API where io_uring is missing.
//
// Chosen when io_uring_setup fails (EPERM/ENOSYS under container seccomp
// profiles, old kernels) or when RINGLET_BACKEND=epoll. Waits use
// epoll_pwait2 for sub-millisecond timeouts where the kernel has it.
#include <cerrno>
#include <cstdint>
#include <vector>

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <ringlet/blocking.hpp>
#include <ringlet/detail/waiter.hpp>
#include <ringlet/errors.hpp>

#include "backend/backend.hpp"
#include "io_request.hpp"
#include "park.hpp"
#include "scheduler.hpp"
#include "unique_fd.hpp"

namespace ringlet::detail {

namespace {

// A task waiting for one fd to become readable or writable.
struct ReadyWait {
    bool ready = false;
    bool closed = false;  // the fd was closed under the waiter
    TaskControlBlock* task = nullptr;
    std::uint64_t token = 0;
};

struct FdWaiters {
    ReadyWait* reader = nullptr;
    ReadyWait* writer = nullptr;
    bool registered = false;
};

// A file operation run on the blocking pool (regular files are always
// "ready" to epoll, so only a thread can keep them from stalling the loop).
class FileJob final : public BlockingJob {
  public:
    explicit FileJob(IoRequest& r) : request_(r) {}
    void run() noexcept override { result = syscall_nonblocking(request_); }
    long result = -ECANCELED;  // until run

  private:
    IoRequest& request_;
};

class EpollBackend final : public Backend {
  public:
    EpollBackend() {
        epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
        if (!epoll_.valid()) throw_io_error(-errno, "epoll_create1");
        eventfd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!eventfd_.valid()) throw_io_error(-errno, "eventfd");
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = wake_key;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, eventfd_.get(), &ev) != 0) {
            throw_io_error(-errno, "epoll_ctl");
        }
    }

    const char* name() const noexcept override { return "epoll"; }
    bool has_pending() const noexcept override { return waiting_ > 0; }

    long perform(IoRequest& r, TimePoint deadline) override {
        if (r.op == IoOpcode::futex_wait) return -ENOSYS;  // no futex in epoll: callers poll
        if (r.is_file_op()) {
            FileJob job(r);
            try {
                run_blocking(job);
            } catch (...) {
                // Cancelled while the job ran: it completed, but its result is
                // dropped, so an fd it opened must not leak.
                if (r.op == IoOpcode::openat && job.result >= 0)
                    ::close(static_cast<int>(job.result));
                throw;
            }
            return job.result;
        }
        return readiness_io(
            r, deadline,
            [](void* self, int fd, bool out, TimePoint d) {
                return static_cast<EpollBackend*>(self)->wait_ready(fd, out, d);
            },
            this);
    }

    void abandon_after_fork() noexcept override {
        epoll_.reset();
        eventfd_.reset();
    }

    void forget_fd(int fd) noexcept override {
        if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return;
        FdWaiters& st = fds_[static_cast<std::size_t>(fd)];
        if (st.registered) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
        // Wake whoever waits on it: their call fails with EBADF instead of
        // retrying on an fd number that may already name another file.
        for (ReadyWait* w : {st.reader, st.writer}) {
            if (w != nullptr) {
                w->closed = true;
                complete(w);
            }
        }
        st = FdWaiters{};
    }

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
            if (events[i].data.u64 == wake_key) {
                std::uint64_t value;
                [[maybe_unused]] ssize_t r = ::read(eventfd_.get(), &value, sizeof value);
                continue;
            }
            const int fd = static_cast<int>(events[i].data.u64 - fd_key_base);
            FdWaiters& st = fds_[static_cast<std::size_t>(fd)];
            const std::uint32_t ev = events[i].events;
            if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) && st.reader) {
                complete(std::exchange(st.reader, nullptr));
            }
            if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && st.writer) {
                complete(std::exchange(st.writer, nullptr));
            }
            arm(fd, st);  // one-shot fired: re-arm for whoever still waits
        }
    }

    void wake() noexcept override {
        const std::uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(eventfd_.get(), &one, sizeof one);
    }

  private:
    static constexpr std::uint64_t wake_key = 0;
    static constexpr std::uint64_t fd_key_base = 1;

    void complete(ReadyWait* w) noexcept {
        --waiting_;
        w->ready = true;
        if (try_claim(w->task, w->token, WakeReason::notified)) Scheduler::wake(w->task);
    }

    // EPOLLONESHOT keeps an event from firing again for a waiter that has
    // not run yet; the mask is rebuilt from whoever still waits.
    void arm(int fd, FdWaiters& st) {
        std::uint32_t mask = 0;
        if (st.reader) mask |= EPOLLIN | EPOLLRDHUP;
        if (st.writer) mask |= EPOLLOUT;
        if (mask == 0) return;  // stays disarmed (one-shot) until someone waits
        epoll_event ev{};
        ev.events = mask | EPOLLONESHOT;
        ev.data.u64 = fd_key_base + static_cast<std::uint64_t>(fd);
        int res = ::epoll_ctl(epoll_.get(), st.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
        if (res != 0 && errno == ENOENT && st.registered) {
            res = ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);  // closed + reused fd
        }
        if (res != 0) throw_io_error(-errno, "epoll_ctl");
        st.registered = true;
    }

    long wait_ready(int fd, bool out, TimePoint deadline) {
        if (static_cast<std::size_t>(fd) >= fds_.size())
            fds_.resize(static_cast<std::size_t>(fd) + 64);
        FdWaiters& st = fds_[static_cast<std::size_t>(fd)];
        ReadyWait*& slot = out ? st.writer : st.reader;
        if (slot != nullptr) {
            throw UsageError(out ? "ringlet: two tasks wait to write the same socket at once"
                                 : "ringlet: two tasks wait to read the same socket at once");
        }
        ReadyWait rw;
        slot = &rw;
        try {
            arm(fd, st);
        } catch (...) {
            slot = nullptr;
            throw;
        }
        ++waiting_;
        Waiter w;
        prepare_wait(w, out ? "fd writable" : "fd readable");
        describe_wait(w, nullptr, nullptr, fd);
        rw.task = w.task;
        rw.token = w.token;
        const WakeReason reason = block(w, deadline);
        if (!rw.ready) {
            --waiting_;
            // fds_ may have grown meanwhile: look the slot up again.
            FdWaiters& now = fds_[static_cast<std::size_t>(fd)];
            (out ? now.writer : now.reader) = nullptr;
            throw_if_interrupted(reason, deadline);
            return -ETIMEDOUT;
        }
        return rw.closed ? -EBADF : 0;
    }

    std::vector<FdWaiters> fds_;
    std::size_t waiting_ = 0;
    UniqueFd epoll_;
    UniqueFd eventfd_;
    bool have_pwait2_ = true;
};

}  // namespace

std::unique_ptr<Backend> make_epoll_backend() { return std::make_unique<EpollBackend>(); }

}  // namespace ringlet::detail
