// tests/runtime/semaphore_test.cpp — ringlet::Semaphore: permits, FIFO handoff
// without barging, timeouts and cancellation that keep the count, threads.
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

}  // namespace

RINGLET_TEST(SemaphoreTest, TryAcquireAndAvailable) {
    ringlet::Semaphore s(2);
    EXPECT_EQ(s.available(), 2u);
    EXPECT_TRUE(s.try_acquire());
    EXPECT_EQ(s.available(), 1u);
    EXPECT_TRUE(s.try_acquire());
    EXPECT_EQ(s.available(), 0u);
    EXPECT_FALSE(s.try_acquire());
    EXPECT_EQ(s.available(), 0u);
    s.release();
    EXPECT_EQ(s.available(), 1u);
    s.release(2);
    EXPECT_EQ(s.available(), 3u);
    s.release(0);
    EXPECT_EQ(s.available(), 3u);
}

RINGLET_TEST(SemaphoreTest, AcquireTakesFreePermitWithoutWaiting) {
    ringlet::Semaphore s(1);
    bool other_ran = false;
    auto other = ringlet::spawn([&] { other_ran = true; });
    s.acquire();
    EXPECT_EQ(s.available(), 0u);
    EXPECT_FALSE(other_ran);  // a free permit is taken without a switch
    other.join();
}

RINGLET_TEST(SemaphoreTest, AcquireWaitsForRelease) {
    ringlet::Semaphore s(0);
    bool acquired = false;
    auto waiter = ringlet::spawn([&] {
        s.acquire();
        acquired = true;
    });
    ringlet::yield();
    ringlet::yield();
    EXPECT_FALSE(acquired);
    s.release();
    EXPECT_TRUE(waiter.join(10s));
    EXPECT_TRUE(acquired);
    EXPECT_EQ(s.available(), 0u);
}

RINGLET_TEST(SemaphoreTest, WaitersAreServedInArrivalOrder) {
    constexpr int n = 6;
    ringlet::Semaphore s(0);
    std::vector<int> order;
    int waiting = 0;
    std::vector<ringlet::Task<void>> tasks;
    for (int i = 0; i < n; ++i) {
        tasks.push_back(ringlet::spawn([&, i] {
            ++waiting;
            s.acquire();
            order.push_back(i);
        }));
    }
    ASSERT_TRUE(yield_until([&] { return waiting == n; }));
    for (int i = 0; i < n; ++i) {
        s.release();
        ASSERT_TRUE(yield_until([&] { return static_cast<int>(order.size()) == i + 1; }));
        EXPECT_EQ(order.back(), i);
    }
    EXPECT_TRUE(ringlet::joinall(tasks, 10s));
    EXPECT_EQ(s.available(), 0u);
}

RINGLET_TEST(SemaphoreTest, LateTryAcquireCannotBargeWhileWaitersQueued) {
    ringlet::Semaphore s(0);
    bool acquired = false;
    auto waiter = ringlet::spawn([&] {
        s.acquire();
        acquired = true;
    });
    ringlet::yield();
    ASSERT_FALSE(waiter.done());
    s.release();
    // The permit was handed to the queued waiter, not left for grabs.
    EXPECT_EQ(s.available(), 0u);
    EXPECT_FALSE(s.try_acquire());
    EXPECT_FALSE(s.acquire_for(0ns));
    EXPECT_TRUE(waiter.join(10s));
    EXPECT_TRUE(acquired);
}

RINGLET_TEST(SemaphoreTest, LateAcquireQueuesBehindWaiters) {
    ringlet::Semaphore s(0);
    std::vector<int> order;
    auto first = ringlet::spawn([&] {
        s.acquire();
        order.push_back(1);
    });
    ringlet::yield();
    s.release(1);
    // A permit is free only for `first`; a late acquirer must queue.
    auto late = ringlet::spawn([&] {
        s.acquire();
        order.push_back(2);
    });
    EXPECT_TRUE(first.join(10s));
    ringlet::yield();
    EXPECT_FALSE(late.done());
    s.release(1);
    EXPECT_TRUE(late.join(10s));
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

RINGLET_TEST(SemaphoreTest, ReleaseNWakesNWaiters) {
    constexpr int n = 5;
    ringlet::Semaphore s(0);
    int acquired = 0;
    int waiting = 0;
    std::vector<ringlet::Task<void>> tasks;
    for (int i = 0; i < n; ++i) {
        tasks.push_back(ringlet::spawn([&] {
            ++waiting;
            s.acquire();
            ++acquired;
        }));
    }
    ASSERT_TRUE(yield_until([&] { return waiting == n; }));
    s.release(3);
    EXPECT_EQ(s.available(), 0u);
    ASSERT_TRUE(yield_until([&] { return acquired == 3; }));
    for (int i = 0; i < 5; ++i) ringlet::yield();
    EXPECT_EQ(acquired, 3);
    s.release(4);  // two go to waiters, two stay free
    EXPECT_TRUE(ringlet::joinall(tasks, 10s));
    EXPECT_EQ(acquired, n);
    EXPECT_EQ(s.available(), 2u);
}

RINGLET_TEST(SemaphoreTest, AcquireForTimesOutAndKeepsCount) {
    ringlet::Semaphore s(0);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(s.acquire_for(20ms));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_GE(elapsed, 15ms);
    EXPECT_LT(elapsed, 5s);
    EXPECT_EQ(s.available(), 0u);
    // The timed-out waiter left the queue: a release is not swallowed by it.
    s.release();
    EXPECT_EQ(s.available(), 1u);
    EXPECT_TRUE(s.try_acquire());
}

RINGLET_TEST(SemaphoreTest, AcquireForSucceedsWhenReleasedInTime) {
    ringlet::Semaphore s(0);
    auto releaser = ringlet::spawn([&] { s.release(); });
    EXPECT_TRUE(s.acquire_for(10s));
    EXPECT_EQ(s.available(), 0u);
    releaser.join();
}

RINGLET_TEST(SemaphoreTest, TimedOutWaiterDoesNotBlockTheQueue) {
    ringlet::Semaphore s(0);
    auto timed = ringlet::spawn([&] { return s.acquire_for(10ms); });
    bool second = false;
    auto patient = ringlet::spawn([&] {
        s.acquire();
        second = true;
    });
    EXPECT_TRUE(timed.join(10s));
    EXPECT_FALSE(timed.get());
    s.release();
    EXPECT_TRUE(patient.join(10s));
    EXPECT_TRUE(second);
    EXPECT_EQ(s.available(), 0u);
}

RINGLET_TEST(SemaphoreTest, CancelWhileWaitingKeepsCount) {
    ringlet::Semaphore s(0);
    bool acquired = false;
    auto waiter = ringlet::spawn([&] {
        s.acquire();
        acquired = true;
    });
    ringlet::yield();
    ASSERT_FALSE(waiter.done());
    waiter.cancel();
    EXPECT_TRUE(waiter.join(10s));
    EXPECT_TRUE(waiter.cancelled());
    EXPECT_FALSE(acquired);
    EXPECT_EQ(s.available(), 0u);
    s.release();
    EXPECT_EQ(s.available(), 1u);  // not handed to the cancelled waiter
}

RINGLET_TEST(SemaphoreTest, CancelRacingReleaseNeverLosesPermit) {
    // Cancel and release in the same instant, in both orders: the waiter
    // either got the permit (and the cancel arrives later) or did not, and
    // the permit is then still available. Never both, never neither.
    for (int round = 0; round < 200; ++round) {
        ringlet::Semaphore s(0);
        bool acquired = false;
        auto waiter = ringlet::spawn([&] {
            s.acquire();
            acquired = true;
            ringlet::yield();  // the pending cancel, if any, lands here
        });
        ringlet::yield();
        ASSERT_FALSE(waiter.done());
        if (round % 2 == 0) {
            waiter.cancel();
            s.release();
        } else {
            s.release();
            waiter.cancel();
        }
        ASSERT_TRUE(waiter.join(10s));
        EXPECT_EQ(s.available() + (acquired ? 1u : 0u), 1u) << "round " << round;
        EXPECT_TRUE(waiter.cancelled());
    }
}

RINGLET_TEST(SemaphoreTest, AcquireInTimeoutScopeThrowsTimeoutError) {
    ringlet::Semaphore s(0);
    EXPECT_THROW(ringlet::with_timeout(10ms, [&] { s.acquire(); }), ringlet::TimeoutError);
    s.release();
    EXPECT_EQ(s.available(), 1u);
}

RINGLET_TEST(SemaphoreTest, PlainThreadAcquireForTimesOut) {
    ringlet::Semaphore s(0);
    bool result = true;
    std::thread t([&] { result = s.acquire_for(10ms); });
    t.join();
    EXPECT_FALSE(result);
    EXPECT_EQ(s.available(), 0u);
}

RINGLET_TEST(SemaphoreTest, ThreadsAndTasksShareOneSemaphoreAsLock) {
    constexpr int threads_n = 3;
    constexpr int tasks_n = 5;
    constexpr int rounds = 2000;
    ringlet::Semaphore s(1);
    long counter = 0;  // guarded by `s` alone
    std::atomic<int> inside{0};
    std::atomic<int> overlaps{0};
    auto critical = [&](bool may_yield, int i) {
        if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
        const long c = counter;
        if (may_yield && i % 16 == 0) ringlet::yield();
        counter = c + 1;
        inside.fetch_sub(1);
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < threads_n; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < rounds; ++i) {
                s.acquire();
                critical(false, i);
                s.release();
            }
        });
    }
    std::vector<ringlet::Task<void>> tasks;
    for (int t = 0; t < tasks_n; ++t) {
        tasks.push_back(ringlet::spawn([&] {
            for (int i = 0; i < rounds; ++i) {
                s.acquire();
                critical(true, i);
                s.release();
            }
        }));
    }
    EXPECT_TRUE(ringlet::joinall(tasks, 60s));
    for (auto& t : threads) t.join();
    EXPECT_EQ(counter, static_cast<long>((threads_n + tasks_n) * rounds));
    EXPECT_EQ(overlaps.load(), 0);
    EXPECT_EQ(s.available(), 1u);
}

RINGLET_TEST(SemaphoreTest, ThreadsReleaseTasksAcquireExactCount) {
    constexpr int producers = 3;
    constexpr int per_producer = 3000;
    constexpr int consumers = 6;
    constexpr int total = producers * per_producer;
    ringlet::Semaphore s(0);
    std::atomic<int> taken{0};
    std::vector<ringlet::Task<void>> tasks;
    for (int c = 0; c < consumers; ++c) {
        tasks.push_back(ringlet::spawn([&, c] {
            // Split `total` acquisitions among the consumers.
            const int mine = total / consumers + (c < total % consumers ? 1 : 0);
            for (int i = 0; i < mine; ++i) {
                s.acquire();
                taken.fetch_add(1, std::memory_order_relaxed);
            }
        }));
    }
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
            // Producer 1 returns permits three at a time: release(n) wakes n.
            if (p == 1) {
                for (int i = 0; i < per_producer / 3; ++i) s.release(3);
            } else {
                for (int i = 0; i < per_producer; ++i) s.release();
            }
        });
    }
    EXPECT_TRUE(ringlet::joinall(tasks, 60s));
    for (auto& t : threads) t.join();
    EXPECT_EQ(taken.load(), total);
    EXPECT_EQ(s.available(), 0u);
}

RINGLET_TEST(SemaphoreTest, PlainThreadWaiterIsWokenByTask) {
    ringlet::Semaphore s(0);
    std::atomic<bool> started{false};
    std::atomic<bool> acquired{false};
    std::thread t([&] {
        started = true;
        s.acquire();
        acquired = true;
    });
    ASSERT_TRUE(yield_until([&] { return started.load(); }));
    s.release();
    t.join();
    EXPECT_TRUE(acquired.load());
    EXPECT_EQ(s.available(), 0u);
}

RINGLET_TEST(SemaphoreTest, TasksOnTwoSchedulersShareOneSemaphore) {
    constexpr int rounds = 3000;
    ringlet::Semaphore s(1);
    long counter = 0;  // guarded by `s` alone
    std::atomic<int> overlaps{0};
    std::atomic<int> inside{0};
    auto worker = [&] {
        for (int i = 0; i < rounds; ++i) {
            s.acquire();
            if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
            const long c = counter;
            if (i % 8 == 0) ringlet::yield();
            counter = c + 1;
            inside.fetch_sub(1);
            s.release();
        }
    };
    std::thread other([&] {
        ringlet::run([&] {
            auto a = ringlet::spawn(worker);
            auto b = ringlet::spawn(worker);
            ringlet::joinall(a, b);
        });
    });
    auto a = ringlet::spawn(worker);
    auto b = ringlet::spawn(worker);
    EXPECT_TRUE(ringlet::joinall(a, b, 60s));
    other.join();
    EXPECT_EQ(counter, 4L * rounds);
    EXPECT_EQ(overlaps.load(), 0);
    EXPECT_EQ(s.available(), 1u);
}

// No scheduler anywhere: plain threads only.
TEST(SemaphoreTest, PlainThreadsWithoutScheduler) {
    ringlet::Semaphore s(0);
    std::atomic<int> acquired{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&] {
            s.acquire();
            acquired.fetch_add(1);
        });
    }
    s.release(4);
    for (auto& t : threads) t.join();
    EXPECT_EQ(acquired.load(), 4);
    EXPECT_EQ(s.available(), 0u);
    EXPECT_FALSE(s.acquire_for(5ms));
}
