// tests/net/blocking_test.cpp — ringlet::blocking(): values and exceptions
// come back, f runs on another thread, the scheduler keeps running meanwhile,
// plain threads can call it, cancel and Timeout wait for f to finish, the
// pool runs jobs in parallel up to its limit.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <ringlet/blocking.hpp>
#include <ringlet/ringlet.hpp>

#include "net_helpers.hpp"
#include "ringlet_test.hpp"

using namespace std::chrono_literals;
using namespace nettest;

namespace {

// Waits (on the calling OS thread) until `count` reaches `target` or `limit`
// passes; true if reached. Used inside blocking() jobs.
bool wait_count(std::atomic<int>& count, int target, std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (count.load() < target) {
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

struct Counted {
    int* destroyed;
    ~Counted() { ++*destroyed; }
};

}  // namespace

RINGLET_TEST(BlockingTest, ReturnsTheValue) {
    EXPECT_EQ(ringlet::blocking([] { return 42; }), 42);
    EXPECT_EQ(ringlet::blocking([] { return std::string("from a worker"); }), "from a worker");
    auto p = ringlet::blocking([] { return std::make_unique<int>(7); });  // move-only
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, 7);
    int side = 0;
    ringlet::blocking([&] { side = 5; });  // void
    EXPECT_EQ(side, 5);
}

RINGLET_TEST(BlockingTest, AcceptsLvalueAndMutableCallables) {
    int calls = 0;
    auto f = [&calls]() mutable { return ++calls; };
    EXPECT_EQ(ringlet::blocking(f), 1);
    EXPECT_EQ(ringlet::blocking(f), 2);
    auto counter = [n = 10]() mutable { return ++n; };
    EXPECT_EQ(ringlet::blocking(counter), 11);
    EXPECT_EQ(ringlet::blocking(counter), 12);  // the same object, not a copy
}

RINGLET_TEST(BlockingTest, PropagatesTheException) {
    EXPECT_THROW(ringlet::blocking([]() -> int { throw std::out_of_range("worker failed"); }),
                 std::out_of_range);
    try {
        ringlet::blocking([] { throw std::runtime_error("message kept"); });
        ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "message kept");
    }
    // An exception that is not a std::exception comes back too.
    EXPECT_THROW(ringlet::blocking([] { throw 17; }), int);
    // And the pool is still fine afterwards.
    EXPECT_EQ(ringlet::blocking([] { return 1; }), 1);
}

RINGLET_TEST(BlockingTest, RunsOnAnotherThread) {
    const auto me = std::this_thread::get_id();
    const auto worker = ringlet::blocking([] { return std::this_thread::get_id(); });
    EXPECT_NE(worker, me);
}

RINGLET_TEST(BlockingTest, OtherTasksKeepRunningWhileItBlocks) {
    std::atomic<int> ticks{0};
    bool stop = false;
    auto ticker = ringlet::spawn([&] {
        while (!stop) {
            ++ticks;
            ringlet::sleep(1ms);
        }
    });
    // The job blocks its thread until the ticker has advanced: it can only
    // finish if the scheduler is not stalled by this call.
    const bool advanced = ringlet::blocking([&] {
        const int start = ticks.load();
        return wait_count(ticks, start + 10, 20s);
    });
    stop = true;
    ticker.join();
    EXPECT_TRUE(advanced);
}

RINGLET_TEST(BlockingTest, ManyCallsRunInParallel) {
    // 8 jobs that each wait for all 8 to have started: only possible if the
    // pool runs them at once.
    constexpr int n = 8;
    std::atomic<int> started{0};
    std::vector<ringlet::Task<bool>> tasks;
    for (int i = 0; i < n; ++i) {
        tasks.push_back(ringlet::spawn([&] {
            return ringlet::blocking([&] {
                ++started;
                return wait_count(started, n, 20s);
            });
        }));
    }
    for (auto& t : tasks) EXPECT_TRUE(t.get());
}

RINGLET_TEST(BlockingTest, PoolLimit) {
    const std::size_t old = ringlet::blocking_pool_limit();
    EXPECT_EQ(old, 64u);  // the documented default (nothing else changes it)
    ringlet::set_blocking_pool_limit(2);
    EXPECT_EQ(ringlet::blocking_pool_limit(), 2u);
    // Under a low limit every job still runs (queued ones wait their turn).
    std::atomic<int> done{0};
    std::vector<ringlet::Task<void>> tasks;
    for (int i = 0; i < 12; ++i) {
        tasks.push_back(ringlet::spawn([&] {
            ringlet::blocking([&] {
                std::this_thread::sleep_for(2ms);  // the "blocking work"
                ++done;
            });
        }));
    }
    for (auto& t : tasks) t.get();
    EXPECT_EQ(done.load(), 12);
    ringlet::set_blocking_pool_limit(0);  // 0 means 1
    EXPECT_EQ(ringlet::blocking_pool_limit(), 1u);
    EXPECT_EQ(ringlet::blocking([] { return 3; }), 3);
    ringlet::set_blocking_pool_limit(old);
    EXPECT_EQ(ringlet::blocking_pool_limit(), old);
}

TEST(BlockingThreadTest, WorksFromAPlainThread) {
    // No scheduler: blocking() just blocks this thread until f returns.
    EXPECT_EQ(ringlet::blocking([] { return 6 * 7; }), 42);
    EXPECT_THROW(ringlet::blocking([] { throw std::logic_error("x"); }), std::logic_error);
    std::atomic<int> sum{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&, i] { sum += ringlet::blocking([i] { return i + 1; }); });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(sum.load(), 10);
}

RINGLET_TEST(BlockingCancelTest, CancelWhileRunningIsDeliveredAfterFReturns) {
    std::atomic<bool> f_started{false}, f_finished{false};
    ringlet::Event release;  // set by this task; waited for by the worker thread
    ringlet::Event started_event;
    bool after_call = false;
    int destroyed = 0;
    auto t = ringlet::spawn([&] {
        Counted guard{&destroyed};
        const int v = ringlet::blocking([&] {
            f_started = true;
            started_event.set();
            release.wait();  // a plain thread waiting on an Event blocks
            f_finished = true;
            return 1;
        });
        after_call = v == 1;
    });
    ASSERT_TRUE(started_event.wait(20s));
    t.cancel();
    // f cannot be interrupted: the task stays in blocking() until f returns.
    EXPECT_FALSE(t.join(50ms));
    EXPECT_FALSE(f_finished.load());
    release.set();
    ASSERT_TRUE(t.join(20s));
    EXPECT_TRUE(f_finished.load());  // f completed: its side effect is visible
    EXPECT_TRUE(t.cancelled());      // and then the cancel was delivered
    EXPECT_FALSE(after_call);
    EXPECT_EQ(destroyed, 1);
}

RINGLET_TEST(BlockingCancelTest, TimeoutWhileRunningIsDeliveredAfterFReturns) {
    std::atomic<bool> f_finished{false};
    const auto t0 = Clock::now();
    try {
        ringlet::Timeout scope(10ms);
        ringlet::blocking([&] {
            std::this_thread::sleep_for(150ms);  // the blocking work outlasts the scope
            f_finished = true;
            return 0;
        });
        ADD_FAILURE() << "no TimeoutError after the deadline passed during f";
    } catch (const ringlet::TimeoutError&) {
    }
    EXPECT_TRUE(f_finished.load());
    EXPECT_GE(Clock::now() - t0, 150ms);
}

RINGLET_TEST(BlockingCancelTest, CancelledWaiterDoesNotStopOtherTasks) {
    // While one task waits (uninterruptibly) for its job, the scheduler runs
    // others, including the one that releases the job.
    ringlet::Event release;
    std::atomic<bool> in_f{false};
    auto t = ringlet::spawn([&] {
        ringlet::blocking([&] {
            in_f = true;
            release.wait();
        });
    });
    auto releaser = ringlet::spawn([&] {
        while (!in_f) ringlet::sleep(1ms);
        t.cancel();
        ringlet::yield();
        release.set();
    });
    EXPECT_TRUE(t.join(20s));
    EXPECT_TRUE(t.cancelled());
    releaser.get();
}

// A cancel that is already pending when blocking() is called: blocking() is
// a suspension point, so Cancelled comes first and f never runs (like every
// IO call, which checks for interrupts before it starts).
RINGLET_TEST(BlockingCancelTest, PendingCancelPreventsTheCall) {
    std::atomic<bool> ran{false};
    std::shared_ptr<ringlet::Task<void>> self = std::make_shared<ringlet::Task<void>>();
    ringlet::Event go;
    *self = ringlet::spawn([&, self] {
        go.wait();
        self->cancel();  // pending: delivered at the next suspension point
        ringlet::blocking([&] { ran = true; });
    });
    go.set();
    ASSERT_TRUE(self->join(20s));
    EXPECT_TRUE(self->cancelled());
    EXPECT_FALSE(ran.load()) << "blocking() ran f for a task that was already cancelled";
}

// Same for a Timeout scope that has already expired.
RINGLET_TEST(BlockingCancelTest, ExpiredTimeoutPreventsTheCall) {
    std::atomic<bool> ran{false};
    ringlet::Timeout expired(0ns);
    EXPECT_THROW(ringlet::blocking([&] { ran = true; }), ringlet::TimeoutError);
    EXPECT_FALSE(ran.load()) << "blocking() ran f although its Timeout had already expired";
}
