// tests/runtime/time_timeout_test.cpp — sleep (in tasks and on plain threads), Timeout scopes
// (which scope fires, nesting, past deadlines), with_timeout, and *_for calls inside scopes.
#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

struct SetOnDestroy {
    bool* flag;
    ~SetOnDestroy() { *flag = true; }
};

}  // namespace

// ---- sleep ---------------------------------------------------------------------------

RINGLET_TEST(TimeTimeoutTest, SleepZeroBehavesLikeYield) {
    std::vector<int> order;
    auto t = ringlet::spawn([&] {
        order.push_back(1);
        ringlet::sleep(0ms);
        order.push_back(3);
    });
    order.push_back(0);
    ringlet::sleep(0ms);  // lets the ready task run, like yield()
    order.push_back(2);
    ringlet::sleep(0ms);
    order.push_back(4);
    t.join();
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

RINGLET_TEST(TimeTimeoutTest, SleepNegativeBehavesLikeYield) {
    bool ran = false;
    auto t = ringlet::spawn([&] { ran = true; });
    ringlet::sleep(-5ms);
    EXPECT_TRUE(ran);
    t.join();
}

RINGLET_TEST(TimeTimeoutTest, SleepZeroIsACancellationPoint) {
    long rounds = 0;
    auto spinner = ringlet::spawn([&] {
        for (;;) {
            ++rounds;
            ringlet::sleep(0ms);
        }
    });
    ringlet::yield();
    ringlet::yield();
    EXPECT_GE(rounds, 1);
    spinner.cancel();
    EXPECT_TRUE(spinner.join(10s));
    EXPECT_TRUE(spinner.cancelled());
}

RINGLET_TEST(TimeTimeoutTest, SleepWaitsAtLeastItsDuration) {
    const auto start = Clock::now();
    ringlet::sleep(20ms);
    EXPECT_GE(Clock::now() - start, 20ms);  // "at least", by contract
}

RINGLET_TEST(TimeTimeoutTest, SleepLetsOthersRun) {
    bool ran = false;
    auto t = ringlet::spawn([&] { ran = true; });
    ringlet::sleep(1ms);
    EXPECT_TRUE(ran);
    t.join();
}

RINGLET_TEST(TimeTimeoutTest, ShorterSleepEndsFirst) {
    std::vector<int> order;
    auto slow = ringlet::spawn([&] {
        ringlet::sleep(60ms);
        order.push_back(2);
    });
    auto fast = ringlet::spawn([&] {
        ringlet::sleep(1ms);
        order.push_back(1);
    });
    ringlet::joinall(slow, fast);
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

RINGLET_TEST(TimeTimeoutTest, ThousandTasksSleeping100msAllFinish) {
    constexpr int n = 1000;
    const auto start = Clock::now();
    std::vector<ringlet::Task<int>> tasks;
    tasks.reserve(n);
    for (int i = 0; i < n; ++i) {
        tasks.push_back(ringlet::spawn([] {
            ringlet::sleep(100ms);
            return 1;
        }));
    }
    EXPECT_TRUE(ringlet::joinall(tasks));
    int sum = 0;
    for (auto& t : tasks) sum += t.get();
    EXPECT_EQ(sum, n);
    // They sleep together, not one after the other (that would be 100 s).
    EXPECT_LT(Clock::now() - start, 100s);
    EXPECT_EQ(ringlet::stats().timers, 0u);
}

TEST(TimeTimeoutTest, SleepOnAPlainThreadSleeps) {
    const auto start = Clock::now();
    ringlet::sleep(20ms);
    EXPECT_GE(Clock::now() - start, 20ms);
    EXPECT_NO_THROW(ringlet::sleep(0ms));
    EXPECT_NO_THROW(ringlet::sleep(-1ms));
}

RINGLET_TEST(TimeTimeoutTest, SleepOnAThreadBesideASchedulerSleepsThatThreadOnly) {
    std::atomic<bool> thread_done{false};
    std::thread th([&] {
        ringlet::sleep(30ms);
        thread_done = true;
    });
    // Meanwhile this scheduler keeps running tasks.
    auto t = ringlet::spawn([] { return 1; });
    EXPECT_EQ(t.get(), 1);
    th.join();
    EXPECT_TRUE(thread_done.load());
}

// ---- Timeout scopes --------------------------------------------------------------------

RINGLET_TEST(TimeTimeoutTest, TimeoutScopeThrowsAtTheSuspensionPoint) {
    bool destroyed = false;
    bool after = false;
    const ringlet::Timeout* seen = nullptr;
    {
        ringlet::Timeout scope(10ms);
        EXPECT_FALSE(scope.expired());
        EXPECT_GT(scope.deadline(), Clock::now() - 1s);
        try {
            SetOnDestroy guard{&destroyed};
            ringlet::sleep(1h);
            after = true;
        } catch (const ringlet::TimeoutError& e) {
            seen = e.scope();
            EXPECT_EQ(e.scope(), &scope);
            EXPECT_TRUE(scope.expired());
        }
        EXPECT_NE(seen, nullptr);
    }
    EXPECT_TRUE(destroyed);
    EXPECT_FALSE(after);
}

RINGLET_TEST(TimeTimeoutTest, TimeoutErrorIsAStdRuntimeError) {
    ringlet::Timeout scope(1ms);
    try {
        ringlet::sleep(1h);
        ADD_FAILURE() << "no TimeoutError";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(dynamic_cast<const ringlet::TimeoutError*>(&e), nullptr);
        EXPECT_NE(std::string(e.what()), "");
    }
}

RINGLET_TEST(TimeTimeoutTest, ExpiredScopeThrowsAgainAtLaterSuspensionPoints) {
    ringlet::Timeout scope(5ms);
    EXPECT_THROW(ringlet::sleep(1h), ringlet::TimeoutError);
    EXPECT_TRUE(scope.expired());
    try {
        ringlet::yield();
        ADD_FAILURE() << "yield() inside an expired scope did not throw";
    } catch (const ringlet::TimeoutError& e) {
        EXPECT_EQ(e.scope(), &scope);
    }
    ringlet::Event e;
    EXPECT_THROW(e.wait(), ringlet::TimeoutError);
}

RINGLET_TEST(TimeTimeoutTest, ScopeThatEndsInTimeNeverFires) {
    {
        ringlet::Timeout scope(10s);
        ringlet::sleep(1ms);
        ringlet::yield();
        EXPECT_FALSE(scope.expired());
    }
    {
        ringlet::Timeout scope(5ms);
        // Leaving the scope removes its deadline.
    }
    EXPECT_NO_THROW(ringlet::sleep(20ms));
}

RINGLET_TEST(TimeTimeoutTest, TimeoutAppliesToEveryKindOfWait) {
    ringlet::Event e;
    ringlet::Semaphore sem(0);
    ringlet::Mutex m;
    ringlet::Channel<int> ch(0);
    ringlet::Event release;
    auto blocker = ringlet::spawn([&] { release.wait(); });
    m.lock();
    auto other = ringlet::spawn([&] {
        {
            ringlet::Timeout scope(2ms);
            EXPECT_THROW(e.wait(), ringlet::TimeoutError);
        }
        {
            ringlet::Timeout scope(2ms);
            EXPECT_THROW(sem.acquire(), ringlet::TimeoutError);
        }
        {
            ringlet::Timeout scope(2ms);
            EXPECT_THROW(m.lock(), ringlet::TimeoutError);
        }
        {
            ringlet::Timeout scope(2ms);
            EXPECT_THROW(ch.recv(), ringlet::TimeoutError);
        }
        {
            ringlet::Timeout scope(2ms);
            EXPECT_THROW(ch.send(1), ringlet::TimeoutError);
        }
        {
            ringlet::Timeout scope(2ms);
            EXPECT_THROW(blocker.join(), ringlet::TimeoutError);
        }
    });
    other.join();
    EXPECT_FALSE(other.failed());
    // Nothing was taken or left behind by the timed-out waits.
    EXPECT_EQ(sem.available(), 0u);
    m.unlock();
    EXPECT_TRUE(m.try_lock());
    m.unlock();
    int v = 5;
    EXPECT_FALSE(ch.try_send(v));
    EXPECT_EQ(ch.try_recv(), std::nullopt);
    release.set();
    EXPECT_TRUE(blocker.join(10s));
}

RINGLET_TEST(TimeTimeoutTest, GrantRacingWithTheScopeDeadlineIsNeverLostNorDoubled) {
    // The deadline passes while the task is parked but before its timer fires;
    // then a permit is granted. Either acquire() succeeded (and the timeout
    // arrives at the next suspension point) or it threw: never both, never neither.
    ringlet::Semaphore sem(0);
    bool acquired = false;
    bool timed_out = false;
    bool blocked = false;
    auto t = ringlet::spawn([&] {
        ringlet::Timeout scope(1ms);
        try {
            blocked = true;
            sem.acquire();
            acquired = true;
            ringlet::yield();  // the expired scope throws here
        } catch (const ringlet::TimeoutError&) {
            timed_out = true;
        }
    });
    for (int i = 0; i < 100 && !blocked; ++i) ringlet::yield();
    ASSERT_TRUE(blocked);
    const auto until = Clock::now() + 5ms;
    while (Clock::now() < until) {
    }
    sem.release();
    EXPECT_TRUE(t.join(10s));
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(sem.available() + (acquired ? 1u : 0u), 1u);
}

RINGLET_TEST(TimeTimeoutTest, TimersAreRemovedWhenWaitsEndEarly) {
    ringlet::Event e;
    auto t = ringlet::spawn([&] { return e.wait(1h); });
    ringlet::yield();
    EXPECT_EQ(ringlet::stats().timers, 1u);
    e.set();
    EXPECT_TRUE(t.get());
    EXPECT_EQ(ringlet::stats().timers, 0u);
    {
        ringlet::Timeout scope(1h);
        ringlet::sleep(1ms);
    }
    EXPECT_EQ(ringlet::stats().timers, 0u);
}

RINGLET_TEST(TimeTimeoutTest, OuterScopeFiresThroughWithTimeout) {
    ringlet::Timeout outer(5ms);
    try {
        ringlet::with_timeout(1h, [] { ringlet::sleep(1h); });
        ADD_FAILURE() << "no TimeoutError";
    } catch (const ringlet::TimeoutError& e) {
        EXPECT_EQ(e.scope(), &outer);
    }
    EXPECT_TRUE(outer.expired());
}

RINGLET_TEST(TimeTimeoutTest, TimeoutOnlyAffectsTheTaskThatOwnsIt) {
    auto other = ringlet::spawn([] {
        ringlet::sleep(30ms);
        return 1;
    });
    {
        ringlet::Timeout scope(5ms);
        EXPECT_THROW(ringlet::sleep(1h), ringlet::TimeoutError);
    }
    EXPECT_EQ(other.get(), 1);
    EXPECT_FALSE(other.failed());
}

RINGLET_TEST(TimeTimeoutTest, NestedScopesInnerShorterWins) {
    ringlet::Timeout outer(1h);
    try {
        ringlet::Timeout inner(5ms);
        try {
            ringlet::sleep(1h);
            ADD_FAILURE() << "no TimeoutError";
        } catch (const ringlet::TimeoutError& e) {
            EXPECT_EQ(e.scope(), &inner);
            EXPECT_TRUE(inner.expired());
            EXPECT_FALSE(outer.expired());
            throw;
        }
    } catch (const ringlet::TimeoutError&) {
    }
    // Back in the outer scope only: waits work again.
    EXPECT_NO_THROW(ringlet::sleep(1ms));
    EXPECT_FALSE(outer.expired());
}

RINGLET_TEST(TimeTimeoutTest, NestedScopesOuterShorterWins) {
    ringlet::Timeout outer(5ms);
    const ringlet::Timeout* inner_addr = nullptr;
    bool inner_expired = true;
    try {
        ringlet::Timeout inner(1h);
        inner_addr = &inner;
        try {
            ringlet::sleep(1h);
        } catch (const ringlet::TimeoutError&) {
            inner_expired = inner.expired();
            throw;
        }
    } catch (const ringlet::TimeoutError& e) {
        EXPECT_EQ(e.scope(), &outer);
        EXPECT_NE(e.scope(), inner_addr);
    }
    EXPECT_TRUE(outer.expired());
    EXPECT_FALSE(inner_expired);
}

RINGLET_TEST(TimeTimeoutTest, ThreeNestedScopesMiddleShortestWins) {
    ringlet::Timeout a(1h);
    ringlet::Timeout b(5ms);
    ringlet::Timeout c(2h);
    try {
        ringlet::sleep(1h);
        ADD_FAILURE() << "no TimeoutError";
    } catch (const ringlet::TimeoutError& e) {
        EXPECT_EQ(e.scope(), &b);
    }
    EXPECT_FALSE(a.expired());
    EXPECT_TRUE(b.expired());
    EXPECT_FALSE(c.expired());
}

RINGLET_TEST(TimeTimeoutTest, ScopesInDifferentTasksAreIndependent) {
    auto t1 = ringlet::spawn([] {
        ringlet::Timeout scope(5ms);
        try {
            ringlet::sleep(1h);
        } catch (const ringlet::TimeoutError& e) {
            return e.scope() == &scope;
        }
        return false;
    });
    auto t2 = ringlet::spawn([] {
        ringlet::Timeout scope(1h);
        ringlet::sleep(20ms);
        return !scope.expired();
    });
    EXPECT_TRUE(t1.get());
    EXPECT_TRUE(t2.get());
}

RINGLET_TEST(TimeTimeoutTest, DeadlineAlreadyPastThrowsAtFirstSuspensionPoint) {
    ringlet::Timeout scope(0ns);
    // No suspension point yet: nothing throws, code runs.
    volatile int work = 0;
    for (int i = 0; i < 1000; ++i) work = work + i;
    EXPECT_FALSE(scope.expired());
    try {
        ringlet::yield();
        ADD_FAILURE() << "no TimeoutError";
    } catch (const ringlet::TimeoutError& e) {
        EXPECT_EQ(e.scope(), &scope);
    }
    EXPECT_TRUE(scope.expired());
}

RINGLET_TEST(TimeTimeoutTest, NegativeTimeoutThrowsAtFirstWait) {
    ringlet::Timeout scope(-1s);
    ringlet::Semaphore sem(0);
    EXPECT_THROW(sem.acquire(), ringlet::TimeoutError);
    EXPECT_THROW(ringlet::sleep(1ms), ringlet::TimeoutError);
}

TEST(TimeTimeoutTest, TimeoutOutsideATaskThrowsUsageError) {
    EXPECT_THROW(ringlet::Timeout scope(1s), ringlet::UsageError);
    EXPECT_THROW(ringlet::with_timeout(1s, [] { return 1; }), ringlet::UsageError);
    bool threw = false;
    std::thread th([&] {
        try {
            ringlet::Timeout scope(1s);
        } catch (const ringlet::UsageError&) {
            threw = true;
        }
    });
    th.join();
    EXPECT_TRUE(threw);
}

RINGLET_TEST(TimeTimeoutTest, TimeoutOnAThreadStartedByATaskThrowsUsageError) {
    bool threw = false;
    std::thread th([&] {
        try {
            ringlet::Timeout scope(1s);
        } catch (const ringlet::UsageError&) {
            threw = true;
        }
    });
    th.join();
    EXPECT_TRUE(threw);
}

// ---- with_timeout ------------------------------------------------------------------------

RINGLET_TEST(TimeTimeoutTest, WithTimeoutReturnsTheValueWhenFast) {
    EXPECT_EQ(ringlet::with_timeout(10s, [] {
                  ringlet::sleep(1ms);
                  return 5;
              }),
              5);
    EXPECT_EQ(ringlet::with_timeout(10s, [] { return std::string("s"); }), "s");
    int x = 1;
    int& r = ringlet::with_timeout(10s, [&]() -> int& { return x; });
    EXPECT_EQ(&r, &x);
    bool ran = false;
    ringlet::with_timeout(10s, [&] { ran = true; });
    EXPECT_TRUE(ran);
    // Afterwards no deadline is left behind.
    EXPECT_NO_THROW(ringlet::sleep(1ms));
}

RINGLET_TEST(TimeTimeoutTest, WithTimeoutThrowsWhenSlow) {
    bool after = false;
    EXPECT_THROW(ringlet::with_timeout(5ms,
                                       [&] {
                                           ringlet::sleep(1h);
                                           after = true;
                                           return 1;
                                       }),
                 ringlet::TimeoutError);
    EXPECT_FALSE(after);
    EXPECT_NO_THROW(ringlet::sleep(1ms));
}

RINGLET_TEST(TimeTimeoutTest, WithTimeoutPassesTheFunctionsOwnException) {
    EXPECT_THROW(ringlet::with_timeout(10s, []() -> int { throw std::out_of_range("own"); }),
                 std::out_of_range);
}

RINGLET_TEST(TimeTimeoutTest, WithTimeoutWaitingOnATask) {
    ringlet::Event release;
    auto t = ringlet::spawn([&] {
        release.wait();
        return 2;
    });
    EXPECT_THROW(ringlet::with_timeout(5ms, [&] { return t.get(); }), ringlet::TimeoutError);
    EXPECT_FALSE(t.done());  // the timed-out get() did not disturb the task
    release.set();
    EXPECT_EQ(ringlet::with_timeout(10s, [&] { return t.get(); }), 2);
}

// ---- *_for calls inside a scope ----------------------------------------------------------

RINGLET_TEST(TimeTimeoutTest, OwnTimeoutEarlierThanScopeReturnsFalse) {
    ringlet::Timeout scope(1h);
    ringlet::Event e;
    EXPECT_FALSE(e.wait(2ms));
    ringlet::Semaphore sem(0);
    EXPECT_FALSE(sem.acquire_for(2ms));
    ringlet::Mutex m;
    m.lock();
    auto locker = ringlet::spawn([&] { return m.try_lock_for(2ms); });
    EXPECT_FALSE(locker.get());
    m.unlock();
    ringlet::Channel<int> ch(0);
    EXPECT_EQ(ch.recv_for(2ms), std::nullopt);
    int v = 3;
    EXPECT_FALSE(ch.send_for(v, 2ms));
    EXPECT_EQ(v, 3);  // still the caller's
    ringlet::Event release;
    auto t = ringlet::spawn([&] { release.wait(); });
    EXPECT_FALSE(t.join(2ms));
    release.set();
    t.join();
    EXPECT_FALSE(scope.expired());
}

RINGLET_TEST(TimeTimeoutTest, ScopeEarlierThanOwnTimeoutThrows) {
    ringlet::Timeout scope(5ms);
    ringlet::Event e;
    try {
        (void)e.wait(1h);
        ADD_FAILURE() << "no TimeoutError";
    } catch (const ringlet::TimeoutError& err) {
        EXPECT_EQ(err.scope(), &scope);
    }
    EXPECT_TRUE(scope.expired());
}

RINGLET_TEST(TimeTimeoutTest, ScopeEarlierThanRecvForThrows) {
    ringlet::Timeout scope(5ms);
    ringlet::Channel<int> ch(1);
    EXPECT_THROW((void)ch.recv_for(1h), ringlet::TimeoutError);
    EXPECT_TRUE(scope.expired());
}

// ---- deadline_after --------------------------------------------------------------------

TEST(TimeTimeoutTest, DeadlineAfterSaturates) {
    EXPECT_EQ(ringlet::deadline_after(ringlet::forever), ringlet::TimePoint::max());
    EXPECT_EQ(ringlet::deadline_after(ringlet::Duration::max() - 1ns), ringlet::TimePoint::max());
    const auto before = Clock::now();
    const auto d = ringlet::deadline_after(1s);
    const auto after = Clock::now();
    EXPECT_GE(d, before + 1s);
    EXPECT_LE(d, after + 1s);
    const auto past = ringlet::deadline_after(-1s);
    EXPECT_LE(past, Clock::now());  // "now": already due
    EXPECT_GE(past, before);
}
