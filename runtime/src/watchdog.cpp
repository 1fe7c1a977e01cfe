// watchdog.cpp — the thread behind Options::blocked_warning.
#include "watchdog.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <new>
#include <pthread.h>
#include <thread>
#include <vector>

#include "scheduler.hpp"

namespace ringlet::detail {

namespace {

struct Watched {
    Scheduler* scheduler;
    Duration limit;
    std::uint64_t progress = 0;
    TimePoint since{};
    bool reported = false;
};

class Watchdog {
  public:
    void add(Scheduler* s, Duration limit) {
        std::lock_guard lock(mutex_);
        watched_.push_back(Watched{s, limit, s->progress(), Clock::now()});
        if (!started_) {
            started_ = true;
            std::thread([this] { loop(); }).detach();
        }
        wake_.notify_one();
    }

    void remove(Scheduler* s) noexcept {
        std::lock_guard lock(mutex_);
        std::erase_if(watched_, [s](const Watched& w) { return w.scheduler == s; });
    }

    // In a forked child: the watchdog thread did not survive; its lock may
    // have been held. The child's schedulers start a new one when they ask.
    void reinit_in_child() noexcept {
        if (mutex_.try_lock()) {
            watched_.clear();  // the parent's schedulers are not ours
            mutex_.unlock();
        } else {
            // Held at the fork, maybe mid-update: leak the parent's list, never trust it.
            new (&mutex_) std::mutex;
            new (&watched_) std::vector<Watched>;
        }
        new (&wake_) std::condition_variable;
        started_ = false;
    }

  private:
    [[noreturn]] void loop() {
        ::pthread_setname_np(::pthread_self(), "ringlet-watch");
        std::unique_lock lock(mutex_);
        for (;;) {
            Duration period = std::chrono::milliseconds(100);
            for (const Watched& w : watched_) period = std::min(period, w.limit / 4);
            period = std::max<Duration>(period, std::chrono::milliseconds(1));
            if (watched_.empty()) {
                wake_.wait(lock);
            } else {
                wake_.wait_for(lock, period);
            }
            const TimePoint now = Clock::now();
            for (Watched& w : watched_) check(w, now);
        }
    }

    static void check(Watched& w, TimePoint now) {
        const std::uint64_t p = w.scheduler->progress();
        if (p != w.progress) {
            w.progress = p;
            w.since = now;
            w.reported = false;
            return;
        }
        if (w.reported || now - w.since < w.limit) return;
        char id_name[64];
        const char* call = nullptr;
        if (!w.scheduler->describe_running(id_name, sizeof id_name, call)) {
            w.since = now;  // idle in the loop, not a task: nothing to report
            return;
        }
        // Read again: if the task moved on meanwhile, what we read may be stale.
        if (w.scheduler->progress() != p) return;
        w.reported = true;
        const auto held = std::chrono::duration_cast<std::chrono::milliseconds>(now - w.since);
        if (call != nullptr) {
            std::fprintf(stderr,
                         "ringlet: task %s has held its thread for %lld ms without a suspension "
                         "point, inside %s()\n",
                         id_name, static_cast<long long>(held.count()), call);
        } else {
            std::fprintf(stderr,
                         "ringlet: task %s has held its thread for %lld ms without a suspension "
                         "point\n",
                         id_name, static_cast<long long>(held.count()));
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<Watched> watched_;
    bool started_ = false;
};

Watchdog& watchdog() {
    static Watchdog* w = [] {
        auto* created = new Watchdog;  // never destroyed: its thread may outlive main
        ::pthread_atfork(nullptr, nullptr, [] { watchdog().reinit_in_child(); });
        return created;
    }();
    return *w;
}

}  // namespace

void watch_scheduler(Scheduler* s, Duration limit) { watchdog().add(s, limit); }

void unwatch_scheduler(Scheduler* s) noexcept { watchdog().remove(s); }

}  // namespace ringlet::detail
