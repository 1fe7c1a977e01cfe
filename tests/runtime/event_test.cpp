// tests/runtime/event_test.cpp — ringlet::Event: set/clear/is_set, waits with
// and without timeouts, wake-all for tasks and plain threads, cancellation.
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;

namespace {

// Yields until pred() holds; false if it never did within `limit`.
template <class Pred>
bool yield_until(Pred pred, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        ringlet::yield();
    }
    return true;
}

struct SetOnDestroy {
    bool* flag;
    ~SetOnDestroy() { *flag = true; }
};

}  // namespace

RINGLET_TEST(EventTest, SetClearIsSet) {
    ringlet::Event e;
    EXPECT_FALSE(e.is_set());
    e.set();
    EXPECT_TRUE(e.is_set());
    e.set();  // idempotent
    EXPECT_TRUE(e.is_set());
    e.clear();
    EXPECT_FALSE(e.is_set());
    e.clear();
    EXPECT_FALSE(e.is_set());
}

RINGLET_TEST(EventTest, WaitReturnsImmediatelyWhenSet) {
    ringlet::Event e;
    e.set();
    bool other_ran = false;
    auto other = ringlet::spawn([&] { other_ran = true; });
    EXPECT_TRUE(e.wait());
    EXPECT_TRUE(e.wait(0ns));
    EXPECT_TRUE(e.wait(1h));
    // A wait on a set event is not a switch: the spawned task has not run.
    EXPECT_FALSE(other_ran);
    other.join();
    EXPECT_TRUE(other_ran);
}

RINGLET_TEST(EventTest, WaitWithTimeoutReturnsFalse) {
    ringlet::Event e;
    EXPECT_FALSE(e.wait(0ns));
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(e.wait(20ms));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_GE(elapsed, 15ms);
    EXPECT_LT(elapsed, 5s);
    EXPECT_FALSE(e.is_set());
}

RINGLET_TEST(EventTest, WaitWithTimeoutReturnsTrueWhenSetInTime) {
    ringlet::Event e;
    auto setter = ringlet::spawn([&] { e.set(); });
    EXPECT_TRUE(e.wait(10s));
    setter.join();
}

RINGLET_TEST(EventTest, SetWakesAllWaitingTasks) {
    constexpr int n = 100;
    ringlet::Event e;
    int arrived = 0;
    int woken = 0;
    std::vector<ringlet::Task<bool>> waiters;
    for (int i = 0; i < n; ++i) {
        waiters.push_back(ringlet::spawn([&] {
            ++arrived;
            bool r = e.wait();
            ++woken;
            return r;
        }));
    }
    ASSERT_TRUE(yield_until([&] { return arrived == n; }));
    ringlet::yield();
    EXPECT_EQ(woken, 0);
    for (auto& w : waiters) EXPECT_FALSE(w.done());
    e.set();
    EXPECT_TRUE(ringlet::joinall(waiters, 10s));
    EXPECT_EQ(woken, n);
    for (auto& w : waiters) EXPECT_TRUE(w.get());
}

RINGLET_TEST(EventTest, SetWakesWaitingPlainThreads) {
    constexpr int n = 4;
    ringlet::Event e;
    std::atomic<int> arrived{0};
    std::atomic<int> woken{0};
    int payload = 0;  // written before set(), read after wait(): ordering check
    std::atomic<int> payload_seen{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&] {
            arrived.fetch_add(1);
            if (e.wait()) {
                payload_seen.fetch_add(payload == 42 ? 1 : 0);
                woken.fetch_add(1);
            }
        });
    }
    ASSERT_TRUE(yield_until([&] { return arrived.load() == n; }));
    EXPECT_EQ(woken.load(), 0);
    payload = 42;
    e.set();
    for (auto& t : threads) t.join();
    EXPECT_EQ(woken.load(), n);
    EXPECT_EQ(payload_seen.load(), n);
}

RINGLET_TEST(EventTest, SetWakesTasksAndThreadsTogether) {
    ringlet::Event e;
    std::atomic<int> woken{0};
    std::atomic<int> arrived{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
        threads.emplace_back([&] {
            arrived.fetch_add(1);
            if (e.wait()) woken.fetch_add(1);
        });
    }
    std::vector<ringlet::Task<void>> tasks;
    for (int i = 0; i < 10; ++i) {
        tasks.push_back(ringlet::spawn([&] {
            arrived.fetch_add(1);
            if (e.wait()) woken.fetch_add(1);
        }));
    }
    ASSERT_TRUE(yield_until([&] { return arrived.load() == 13; }));
    // The setter is a plain thread: tasks are woken across threads.
    std::thread setter([&] { e.set(); });
    EXPECT_TRUE(ringlet::joinall(tasks, 10s));
    setter.join();
    for (auto& t : threads) t.join();
    EXPECT_EQ(woken.load(), 13);
}

RINGLET_TEST(EventTest, PlainThreadWaitTimesOut) {
    ringlet::Event e;
    bool result = true;
    std::chrono::steady_clock::duration elapsed{};
    std::thread t([&] {
        const auto start = std::chrono::steady_clock::now();
        result = e.wait(20ms);
        elapsed = std::chrono::steady_clock::now() - start;
    });
    t.join();
    EXPECT_FALSE(result);
    EXPECT_GE(elapsed, 15ms);
    EXPECT_LT(elapsed, 5s);
}

RINGLET_TEST(EventTest, SetBeforeWait) {
    ringlet::Event e;
    e.set();
    std::vector<ringlet::Task<bool>> waiters;
    for (int i = 0; i < 10; ++i) waiters.push_back(ringlet::spawn([&] { return e.wait(); }));
    EXPECT_TRUE(ringlet::joinall(waiters, 10s));
    for (auto& w : waiters) EXPECT_TRUE(w.get());
    bool thread_result = false;
    std::thread t([&] { thread_result = e.wait(); });
    t.join();
    EXPECT_TRUE(thread_result);
}

RINGLET_TEST(EventTest, ClearThenWaitBlocksAgain) {
    ringlet::Event e;
    e.set();
    e.clear();
    EXPECT_FALSE(e.wait(10ms));
    bool woke = false;
    auto waiter = ringlet::spawn([&] { woke = e.wait(); });
    ringlet::yield();
    ringlet::yield();
    EXPECT_FALSE(woke);
    EXPECT_FALSE(waiter.done());
    e.set();
    waiter.join();
    EXPECT_TRUE(woke);
}

RINGLET_TEST(EventTest, CancelWhileWaiting) {
    ringlet::Event e;
    bool destroyed = false;
    bool returned = false;
    auto waiter = ringlet::spawn([&] {
        SetOnDestroy guard{&destroyed};
        e.wait();
        returned = true;
    });
    bool other_woke = false;
    auto other = ringlet::spawn([&] { other_woke = e.wait(); });
    ringlet::yield();
    ASSERT_FALSE(waiter.done());
    waiter.cancel();
    EXPECT_TRUE(waiter.join(10s));
    EXPECT_TRUE(waiter.cancelled());
    EXPECT_FALSE(waiter.failed());
    EXPECT_TRUE(destroyed);
    EXPECT_FALSE(returned);
    EXPECT_FALSE(e.is_set());  // the event is untouched
    // The other waiter is still queued and is woken by set().
    EXPECT_FALSE(other.done());
    e.set();
    EXPECT_TRUE(other.join(10s));
    EXPECT_TRUE(other_woke);
}

RINGLET_TEST(EventTest, CancelWithTimeoutWhileWaiting) {
    ringlet::Event e;
    auto waiter = ringlet::spawn([&] { return e.wait(1h); });
    ringlet::yield();
    waiter.cancel();
    EXPECT_TRUE(waiter.join(10s));
    EXPECT_TRUE(waiter.cancelled());
    EXPECT_THROW(waiter.get(), ringlet::Cancelled);
    EXPECT_FALSE(e.is_set());
}

RINGLET_TEST(EventTest, WaitInTimeoutScopeThrowsTimeoutError) {
    ringlet::Event e;
    ringlet::Timeout scope(10ms);
    try {
        e.wait();
        ADD_FAILURE() << "wait returned without the event being set";
    } catch (const ringlet::TimeoutError& err) {
        EXPECT_EQ(err.scope(), &scope);
    }
    EXPECT_TRUE(scope.expired());
}

RINGLET_TEST(EventTest, NegativeTimeoutReturnsAtOnce) {
    ringlet::Event e;
    EXPECT_FALSE(e.wait(-1s));
    e.set();
    EXPECT_TRUE(e.wait(-1s));
}

RINGLET_TEST(EventTest, WakesTasksOnAnotherScheduler) {
    // Tasks of a second scheduler (another thread's ringlet::run) wait; a
    // task of this scheduler sets the event.
    ringlet::Event e;
    ringlet::Event all_waiting;
    std::atomic<int> arrived{0};
    std::atomic<int> woken{0};
    std::thread other([&] {
        ringlet::run([&] {
            std::vector<ringlet::Task<void>> tasks;
            for (int i = 0; i < 20; ++i) {
                tasks.push_back(ringlet::spawn([&] {
                    if (arrived.fetch_add(1) + 1 == 20) all_waiting.set();
                    if (e.wait()) woken.fetch_add(1);
                }));
            }
            ringlet::joinall(tasks);
        });
    });
    ASSERT_TRUE(all_waiting.wait(10s));
    e.set();
    other.join();
    EXPECT_EQ(woken.load(), 20);
}

// No scheduler anywhere: plain threads only.
TEST(EventTest, PlainThreadsWithoutScheduler) {
    ringlet::Event e;
    std::atomic<int> woken{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
        threads.emplace_back([&] {
            if (e.wait(10s)) woken.fetch_add(1);
        });
    }
    e.set();
    for (auto& t : threads) t.join();
    EXPECT_EQ(woken.load(), 3);
    e.clear();
    EXPECT_FALSE(e.wait(5ms));
}
