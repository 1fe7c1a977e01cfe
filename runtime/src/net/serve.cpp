#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <poll.h>

#include <sys/socket.h>
#include <sys/stat.h>

#include <ringlet/net/serve.hpp>

#include "io_request.hpp"

namespace ringlet::net::detail {

namespace {

using ringlet::detail::IoOpcode;
using ringlet::detail::IoRequest;
using ringlet::detail::perform_io;

TimePoint saturating_add(TimePoint t, Duration d) noexcept {
    if (d == forever || t.time_since_epoch() > TimePoint::max().time_since_epoch() - d) {
        return TimePoint::max();
    }
    return t + d;
}

std::uint64_t socket_inode(int fd) noexcept {
    struct stat st {};
    return ::fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
}

}  // namespace

AcceptFailure classify_accept_failure(const IoError& e) noexcept {
    switch (e.code().value()) {
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            return AcceptFailure::back_off;  // retrying at once would spin
        case ECONNABORTED:
        case EPROTO:
        case EPERM:
        case EINTR:
        case EAGAIN:
            return AcceptFailure::retry;  // that peer is gone; the next may be fine
        default:
            return AcceptFailure::stop;
    }
}

void log_accept_backoff(const IoError& e, Duration delay) noexcept {
    std::fprintf(stderr, "ringlet::net::serve: accept: %s; retrying in %lld ms\n",
                 e.code().message().c_str(),
                 static_cast<long long>(
                     std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()));
}

void log_handler_failure(std::exception_ptr error) noexcept {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ringlet::net::serve: connection handler failed: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "ringlet::net::serve: connection handler failed\n");
    }
}

// ---- ServeState ---------------------------------------------------------------

ServeState::ServeState(const ServeOptions& options, bool handler_establishes)
    : options_(options),
      handler_establishes_(handler_establishes),
      limits_startups_(handler_establishes || options.first_byte_timeout != forever),
      needs_reaper_(options.idle_timeout != forever ||
                    (limits_startups_ && (options.startup_timeout != forever ||
                                          (options.startups_soft != unlimited &&
                                           options.pressure_startup_timeout != forever)))),
      random_(static_cast<std::uint64_t>(Clock::now().time_since_epoch().count()) ^
              reinterpret_cast<std::uintptr_t>(this)) {
    if (options_.max_connections == 0) {
        throw UsageError("ringlet::net::serve: max_connections must be at least 1");
    }
    if (options_.startups_hard < options_.startups_soft) {
        throw UsageError("ringlet::net::serve: startups_hard must be at least startups_soft");
    }
    if (options_.max_connections != unlimited) slots_.emplace(options_.max_connections);
    if (needs_reaper_) {
        reaper_ = ringlet::spawn(SpawnOptions{.name = "serve-reaper"}, [this] { reap(); });
    }
}

ServeState::~ServeState() {
    // finish() ran on every way out of serve(); this only covers a throw
    // before the accept loop started.
    if (reaper_.valid() && !reaper_.done()) reaper_.cancel();
}

void ServeState::acquire_slot() {
    if (slots_) slots_->acquire();
}

void ServeState::release_slot() noexcept {
    if (slots_) slots_->release();
}

TimePoint ServeState::startup_deadline(const ServeRecord& r) const noexcept {
    Duration limit = options_.startup_timeout;
    if (startups_.size() > options_.startups_soft) {
        limit = std::min(limit, options_.pressure_startup_timeout);
    }
    return saturating_add(r.accepted, limit);
}

void ServeState::kick_reaper(TimePoint deadline) {
    if (reaper_.valid() && deadline < reaper_wakes_) {
        reaper_wakes_ = deadline;
        reaper_kick_.set();
    }
}

ServeRecord* ServeState::admit(int fd) {
    if (limits_startups_) {
        const std::size_t n = startups_.size();
        if (n >= options_.startups_hard) return nullptr;
        if (n >= options_.startups_soft && options_.startups_hard != unlimited) {
            // sshd's MaxStartups: drop with a probability rising linearly
            // from 1/(hard-soft+1) at the soft limit to 1 at the hard one.
            random_ += 0x9e3779b97f4a7c15ULL;  // splitmix64
            std::uint64_t z = random_;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            z ^= z >> 31;
            const std::uint64_t span = options_.startups_hard - options_.startups_soft + 1;
            if (z % span < n - options_.startups_soft + 1) return nullptr;
        }
    }
    ServeRecord& r = records_.emplace_back();
    r.self = std::prev(records_.end());
    r.fd = fd;
    r.id = ++next_id_;
    r.inode = socket_inode(fd);
    r.accepted = Clock::now();
    r.seen_since = r.accepted;
    if (limits_startups_) {
        r.startup = true;
        startups_.push_back(&r);
        r.startup_pos = std::prev(startups_.end());
        kick_reaper(startup_deadline(*startups_.front()));
    }
    return &r;
}

void ServeState::unlist_startup(ServeRecord& r) noexcept {
    if (!r.startup) return;
    startups_.erase(r.startup_pos);
    r.startup = false;
}

void ServeState::abandon(ServeRecord& r) noexcept {
    unlist_startup(r);
    release_slot();
    records_.erase(r.self);
}

void ServeState::establish(ServeRecord& r) noexcept {
    r.established = true;
    unlist_startup(r);
}

void ServeState::time_out(ServeRecord& r) noexcept {
    unlist_startup(r);
    if (r.closed || r.timed_out) return;
    r.timed_out = true;
    r.shut_at = Clock::now();
    // Only if the fd is still this connection's socket: a handler may have
    // closed its stream early and the number been reused since.
    if (socket_inode(r.fd) == r.inode) ::shutdown(r.fd, SHUT_RDWR);
}

bool ServeState::begin(ServeRecord& r) {
    if (options_.first_byte_timeout == forever) return true;
    IoRequest q{IoOpcode::poll, r.fd};
    q.flags = POLLIN | POLLRDHUP;
    const long res = perform_io(q, saturating_add(r.accepted, options_.first_byte_timeout));
    if (r.timed_out) return false;  // shut down meanwhile (startup deadline, EMFILE)
    if (res < 0) {
        r.timed_out = res == -ETIMEDOUT;
        unlist_startup(r);
        return false;
    }
    if (!handler_establishes_) establish(r);
    return true;
}

void ServeState::end(ServeRecord& r) noexcept {
    r.closed = true;
    unlist_startup(r);
    release_slot();
    ++ended_;
    connection_ended_.set();
    records_.erase(r.self);  // drops the handle of the task running this: it ends next
}

bool ServeState::shed_startup() {
    if (startups_.empty()) return false;
    const std::uint64_t before = ended_;
    time_out(*startups_.front());
    // The victim's task closes its stream at its next turn; wait for that
    // (or any other connection to end) so the accept that follows finds a
    // free descriptor. A handler that ignores the shutdown costs 1 s.
    const TimePoint deadline = deadline_after(std::chrono::seconds(1));
    while (ended_ == before) {
        connection_ended_.clear();
        const TimePoint now = Clock::now();
        if (now >= deadline || !connection_ended_.wait(deadline - now)) break;
    }
    return true;
}

void ServeState::reap() {
    const Duration idle = options_.idle_timeout;
    const Duration tick =
        idle == forever
            ? forever
            : std::clamp<Duration>(idle / 4, std::chrono::milliseconds(1), std::chrono::seconds(5));
    for (;;) {
        const TimePoint now = Clock::now();
        TimePoint next = TimePoint::max();
        // Startups are in accept order and share one timeout, so the oldest
        // has the earliest deadline.
        while (!startups_.empty()) {
            ServeRecord& r = *startups_.front();
            const TimePoint d = startup_deadline(r);
            if (d > now) {
                next = d;
                break;
            }
            time_out(r);
        }
        if (idle != forever) {
            for (ServeRecord& r : records_) {
                ringlet::detail::TaskControlBlock* t = r.task.control_block();
                if (t == nullptr || r.closed) continue;
                if (r.timed_out) {
                    // Shut down one idle_timeout ago and still waiting on
                    // something else than its socket: cancel it.
                    if (now - r.shut_at >= idle) {
                        r.task.cancel();
                        r.shut_at = TimePoint::max() - idle;  // once
                    }
                    continue;
                }
                // Idle: parked in the same wait (same park count) since the
                // last look, for idle_timeout.
                const bool parked = t->parked.load(std::memory_order_relaxed) != 0;
                if (!parked || t->park_counter != r.seen_parks) {
                    r.seen_parks = t->park_counter;
                    r.seen_since = now;
                } else if (now - r.seen_since >= idle) {
                    time_out(r);
                }
            }
            next = std::min(next, now + tick);
        }
        reaper_wakes_ = next;
        reaper_kick_.clear();
        const TimePoint before = Clock::now();
        if (next == TimePoint::max()) {
            (void)reaper_kick_.wait();
        } else if (next > before) {
            (void)reaper_kick_.wait(next - before);
        } else {
            ringlet::yield();
        }
    }
}

void ServeState::finish(bool cancel) {
    if (cancel) {
        if (reaper_.valid()) reaper_.cancel();
        for (ServeRecord& r : records_) {
            if (r.task.valid()) r.task.cancel();
        }
    }
    while (!records_.empty()) {
        ServeRecord& r = records_.front();
        const std::uint64_t id = r.id;
        if (ringlet::detail::TaskControlBlock* t = r.task.control_block()) {
            t->refs.fetch_add(1, std::memory_order_relaxed);  // outlives end()'s erase
            ringlet::detail::TaskRef keep(t);
            if (cancel) {
                try {
                    (void)ringlet::detail::join_task(t, TimePoint::max());
                } catch (...) {
                    // Cancelled again while unwinding: keep joining; the
                    // tasks use this frame.
                }
            } else {
                (void)ringlet::detail::join_task(t, TimePoint::max());
            }
        }
        if (!records_.empty() && records_.front().id == id) {
            // Its task was cancelled before it first ran: its body (and so
            // end()) never ran; the stream closed with its arguments.
            ServeRecord& gone = records_.front();
            gone.closed = true;
            abandon(gone);
        }
    }
    if (reaper_.valid()) {
        reaper_.cancel();
        try {
            (void)reaper_.join();
        } catch (...) {
        }
    }
}

}  // namespace ringlet::net::detail
