// tests/runtime/mutex_condvar_test.cpp — ringlet::Mutex and ringlet::CondVar:
// std lock types, exclusion, FIFO handoff, timeouts, cancellation, threads.
#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <deque>
#include <mutex>
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

// ---- Mutex ---------------------------------------------------------------

RINGLET_TEST(MutexTest, LockUnlockTryLock) {
    ringlet::Mutex m;
    EXPECT_TRUE(m.try_lock());
    EXPECT_FALSE(m.try_lock());
    m.unlock();
    m.lock();
    EXPECT_FALSE(m.try_lock());
    m.unlock();
    EXPECT_TRUE(m.try_lock_for(0ns));
    m.unlock();
    EXPECT_TRUE(m.try_lock_for(1s));
    m.unlock();
    EXPECT_TRUE(m.try_lock_for(std::chrono::milliseconds(5)));  // the chrono template
    m.unlock();
}

RINGLET_TEST(MutexTest, WorksWithStdLockTypes) {
    ringlet::Mutex a;
    ringlet::Mutex b;
    {
        std::lock_guard guard(a);
        EXPECT_FALSE(a.try_lock());
    }
    EXPECT_TRUE(a.try_lock());
    a.unlock();
    {
        std::unique_lock lock(a);
        EXPECT_TRUE(lock.owns_lock());
        lock.unlock();
        EXPECT_TRUE(a.try_lock());
        a.unlock();
        EXPECT_TRUE(lock.try_lock());
        lock.unlock();
        EXPECT_TRUE(lock.try_lock_for(10ms));
        EXPECT_TRUE(lock.owns_lock());
    }
    EXPECT_TRUE(a.try_lock());
    a.unlock();
    {
        std::unique_lock lock(a, 10ms);  // TimedLockable: try_lock_for
        EXPECT_TRUE(lock.owns_lock());
        std::unique_lock other(a, std::try_to_lock);
        EXPECT_FALSE(other.owns_lock());
    }
    {
        std::scoped_lock both(a, b);
        EXPECT_FALSE(a.try_lock());
        EXPECT_FALSE(b.try_lock());
    }
    EXPECT_TRUE(a.try_lock());
    EXPECT_TRUE(b.try_lock());
    a.unlock();
    b.unlock();
}

RINGLET_TEST(MutexTest, UnlockOfUnlockedThrowsUsageError) {
    ringlet::Mutex m;
    EXPECT_THROW(m.unlock(), ringlet::UsageError);
    m.lock();
    m.unlock();
    EXPECT_THROW(m.unlock(), ringlet::UsageError);
    EXPECT_TRUE(m.try_lock());  // still usable
    m.unlock();
}

RINGLET_TEST(MutexTest, LockByItsOwnerThrowsUsageErrorInsteadOfDeadlocking) {
    ringlet::Mutex m;
    m.lock();
    EXPECT_THROW(m.lock(), ringlet::UsageError);
    EXPECT_FALSE(m.try_lock());         // try_lock just fails
    EXPECT_FALSE(m.try_lock_for(1ms));  // so does a timed wait
    // Another task is not the owner: it waits, and gets the mutex on unlock.
    auto other = ringlet::spawn([&] {
        m.lock();
        EXPECT_THROW(m.lock(), ringlet::UsageError);  // now it is the owner
        m.unlock();
    });
    ringlet::yield();
    m.unlock();
    other.join();
    EXPECT_TRUE(m.try_lock());
    m.unlock();
}

RINGLET_TEST(MutexTest, LockByAPlainThreadOwnerThrowsUsageError) {
    ringlet::Mutex m;
    bool threw = false;
    std::thread th([&] {
        m.lock();
        try {
            m.lock();
        } catch (const ringlet::UsageError&) {
            threw = true;
        }
        m.unlock();
    });
    th.join();
    EXPECT_TRUE(threw);
    // A task on the scheduler thread is not that thread's owner record.
    m.lock();
    m.unlock();
}

RINGLET_TEST(MutexTest, OwnershipHandedToAWaiterMakesItTheOwner) {
    ringlet::Mutex m;
    m.lock();
    bool waiter_relock_threw = false;
    auto waiter = ringlet::spawn([&] {
        m.lock();  // queued at the yield below; granted by the unlock
        try {
            m.lock();
        } catch (const ringlet::UsageError&) {
            waiter_relock_threw = true;
        }
        m.unlock();
    });
    ringlet::yield();
    m.unlock();  // hands the mutex to `waiter`
    m.lock();    // the old owner is not the owner any more: it waits, no throw
    EXPECT_TRUE(waiter_relock_threw);
    m.unlock();
    waiter.join();
}

RINGLET_TEST(MutexTest, TryLockForTimesOut) {
    ringlet::Mutex m;
    m.lock();
    auto contender = ringlet::spawn([&] {
        const auto start = std::chrono::steady_clock::now();
        const bool got = m.try_lock_for(20ms);
        return std::pair(got, std::chrono::steady_clock::now() - start);
    });
    EXPECT_TRUE(contender.join(10s));
    auto [got, elapsed] = contender.get();
    EXPECT_FALSE(got);
    EXPECT_GE(elapsed, 15ms);
    EXPECT_LT(elapsed, 5s);
    // The timed-out waiter left the queue: unlock frees the mutex.
    m.unlock();
    EXPECT_TRUE(m.try_lock());
    m.unlock();
}

RINGLET_TEST(MutexTest, TryLockForSucceedsWhenUnlockedInTime) {
    ringlet::Mutex m;
    m.lock();
    auto contender = ringlet::spawn([&] {
        const bool got = m.try_lock_for(10s);
        if (got) m.unlock();
        return got;
    });
    ringlet::yield();
    m.unlock();
    EXPECT_TRUE(contender.get());
    EXPECT_TRUE(m.try_lock());
    m.unlock();
}

RINGLET_TEST(MutexTest, MutualExclusionAcrossYieldingTasks) {
    constexpr int tasks_n = 100;
    constexpr int rounds = 20;
    ringlet::Mutex m;
    int inside = 0;
    int max_inside = 0;
    long counter = 0;
    std::vector<ringlet::Task<void>> tasks;
    for (int t = 0; t < tasks_n; ++t) {
        tasks.push_back(ringlet::spawn([&] {
            for (int i = 0; i < rounds; ++i) {
                std::lock_guard guard(m);
                ++inside;
                max_inside = std::max(max_inside, inside);
                const long c = counter;
                ringlet::yield();  // others run while we hold the lock
                counter = c + 1;
                --inside;
            }
        }));
    }
    EXPECT_TRUE(ringlet::joinall(tasks, 30s));
    EXPECT_EQ(counter, long{tasks_n} * rounds);
    EXPECT_EQ(max_inside, 1);
    EXPECT_TRUE(m.try_lock());
    m.unlock();
}

RINGLET_TEST(MutexTest, OwnershipPassesToWaitersInFifoOrder) {
    constexpr int n = 6;
    ringlet::Mutex m;
    m.lock();
    std::vector<int> order;
    int waiting = 0;
    std::vector<ringlet::Task<void>> tasks;
    for (int i = 0; i < n; ++i) {
        tasks.push_back(ringlet::spawn([&, i] {
            ++waiting;
            std::lock_guard guard(m);
            order.push_back(i);
            ringlet::yield();
        }));
    }
    ASSERT_TRUE(yield_until([&] { return waiting == n; }));
    ringlet::yield();
    m.unlock();
    // Ownership went to the first waiter: no barging by a late try_lock.
    EXPECT_FALSE(m.try_lock());
    EXPECT_TRUE(ringlet::joinall(tasks, 10s));
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5}));
    EXPECT_TRUE(m.try_lock());
    m.unlock();
}

RINGLET_TEST(MutexTest, CancelWhileWaitingOnLock) {
    ringlet::Mutex m;
    m.lock();
    bool acquired = false;
    auto waiter = ringlet::spawn([&] {
        std::lock_guard guard(m);
        acquired = true;
    });
    bool second = false;
    auto next = ringlet::spawn([&] {
        std::lock_guard guard(m);
        second = true;
    });
    ringlet::yield();
    ASSERT_FALSE(waiter.done());
    waiter.cancel();
    EXPECT_TRUE(waiter.join(10s));
    EXPECT_TRUE(waiter.cancelled());
    EXPECT_FALSE(acquired);
    EXPECT_FALSE(m.try_lock());  // still ours
    m.unlock();                  // goes to `next`, not to the cancelled waiter
    EXPECT_TRUE(next.join(10s));
    EXPECT_TRUE(second);
    EXPECT_TRUE(m.try_lock());
    m.unlock();
}

RINGLET_TEST(MutexTest, LockInTimeoutScopeThrowsTimeoutError) {
    ringlet::Mutex m;
    m.lock();
    auto waiter = ringlet::spawn([&] { ringlet::with_timeout(10ms, [&] { m.lock(); }); });
    EXPECT_TRUE(waiter.join(10s));
    EXPECT_TRUE(waiter.failed());
    EXPECT_THROW(waiter.get(), ringlet::TimeoutError);
    m.unlock();
    EXPECT_TRUE(m.try_lock());
    m.unlock();
}

RINGLET_TEST(MutexTest, PlainThreadsAndTasksExclude) {
    constexpr int rounds = 2000;
    ringlet::Mutex m;
    long counter = 0;  // guarded by `m` alone
    std::atomic<int> inside{0};
    std::atomic<int> overlaps{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < rounds; ++i) {
                std::lock_guard guard(m);
                if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
                ++counter;
                inside.fetch_sub(1);
            }
        });
    }
    std::vector<ringlet::Task<void>> tasks;
    for (int t = 0; t < 4; ++t) {
        tasks.push_back(ringlet::spawn([&] {
            for (int i = 0; i < rounds; ++i) {
                std::lock_guard guard(m);
                if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
                const long c = counter;
                if (i % 32 == 0) ringlet::yield();
                counter = c + 1;
                inside.fetch_sub(1);
            }
        }));
    }
    EXPECT_TRUE(ringlet::joinall(tasks, 60s));
    for (auto& t : threads) t.join();
    EXPECT_EQ(counter, 6L * rounds);
    EXPECT_EQ(overlaps.load(), 0);
}

// ---- CondVar -------------------------------------------------------------

RINGLET_TEST(CondVarTest, WaitWithPredicate) {
    ringlet::Mutex m;
    ringlet::CondVar cv;
    bool ready = false;
    int value = 0;
    auto producer = ringlet::spawn([&] {
        ringlet::yield();
        {
            std::lock_guard guard(m);
            value = 7;
            ready = true;
        }
        cv.notify_one();
    });
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return ready; });
    EXPECT_TRUE(lock.owns_lock());
    EXPECT_EQ(value, 7);
    lock.unlock();
    producer.join();
}

RINGLET_TEST(CondVarTest, WaitWithPredicateAlreadyTrueDoesNotWait) {
    ringlet::Mutex m;
    ringlet::CondVar cv;
    std::unique_lock lock(m);
    cv.wait(lock, [] { return true; });
    EXPECT_TRUE(cv.wait_for(lock, 0ns, [] { return true; }));
    EXPECT_TRUE(lock.owns_lock());
}

RINGLET_TEST(CondVarTest, WaitForTimesOut) {
    ringlet::Mutex m;
    ringlet::CondVar cv;
    std::unique_lock lock(m);
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(cv.wait_for(lock, 20ms), std::cv_status::timeout);
    auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_GE(elapsed, 15ms);
    EXPECT_LT(elapsed, 5s);
    EXPECT_TRUE(lock.owns_lock());
    start = std::chrono::steady_clock::now();
    EXPECT_FALSE(cv.wait_for(lock, 20ms, [] { return false; }));
    elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_GE(elapsed, 15ms);
    EXPECT_LT(elapsed, 5s);
    EXPECT_TRUE(lock.owns_lock());
    // The mutex really is held by us again.
    auto probe = ringlet::spawn([&] { return m.try_lock(); });
    EXPECT_FALSE(probe.get());
}

RINGLET_TEST(CondVarTest, WaitForReturnsNoTimeoutWhenNotified) {
    ringlet::Mutex m;
    ringlet::CondVar cv;
    bool flag = false;
    auto notifier = ringlet::spawn([&] {
        std::lock_guard guard(m);
        flag = true;
        cv.notify_all();
    });
    std::unique_lock lock(m);
    EXPECT_TRUE(cv.wait_for(lock, 10s, [&] { return flag; }));
    flag = false;
    lock.unlock();
    auto notifier2 = ringlet::spawn([&] { cv.notify_one(); });
    lock.lock();
    EXPECT_EQ(cv.wait_for(lock, 10s), std::cv_status::no_timeout);
    lock.unlock();
    notifier.join();
    notifier2.join();
}

RINGLET_TEST(CondVarTest, NotifyOneWakesExactlyOne) {
    constexpr int n = 5;
    ringlet::Mutex m;
    ringlet::CondVar cv;
    int waiting = 0;
    int woken = 0;
    std::vector<ringlet::Task<void>> tasks;
    for (int i = 0; i < n; ++i) {
        tasks.push_back(ringlet::spawn([&] {
            std::unique_lock lock(m);
            ++waiting;
            cv.wait(lock);  // no predicate: count real wake-ups
            ++woken;
        }));
    }
    ASSERT_TRUE(yield_until([&] { return waiting == n; }));
    cv.notify_one();
    ASSERT_TRUE(yield_until([&] { return woken == 1; }));
    for (int i = 0; i < 10; ++i) ringlet::yield();
    EXPECT_EQ(woken, 1);
    cv.notify_one();
    ASSERT_TRUE(yield_until([&] { return woken == 2; }));
    for (int i = 0; i < 10; ++i) ringlet::yield();
    EXPECT_EQ(woken, 2);
    cv.notify_all();
    EXPECT_TRUE(ringlet::joinall(tasks, 10s));
    EXPECT_EQ(woken, n);
}

RINGLET_TEST(CondVarTest, NotifyWithoutWaitersIsLost) {
    ringlet::Mutex m;
    ringlet::CondVar cv;
    cv.notify_one();
    cv.notify_all();
    std::unique_lock lock(m);
    EXPECT_EQ(cv.wait_for(lock, 10ms), std::cv_status::timeout);
}

RINGLET_TEST(CondVarTest, NotifyAllWakesAll) {
    constexpr int n = 50;
    ringlet::Mutex m;
    ringlet::CondVar cv;
    bool go = false;
    int waiting = 0;
    int woken = 0;
    std::vector<ringlet::Task<void>> tasks;
    for (int i = 0; i < n; ++i) {
        tasks.push_back(ringlet::spawn([&] {
            std::unique_lock lock(m);
            ++waiting;
            cv.wait(lock, [&] { return go; });
            ++woken;
        }));
    }
    ASSERT_TRUE(yield_until([&] { return waiting == n; }));
    EXPECT_EQ(woken, 0);
    {
        std::lock_guard guard(m);
        go = true;
    }
    cv.notify_all();
    EXPECT_TRUE(ringlet::joinall(tasks, 10s));
    EXPECT_EQ(woken, n);
}

namespace {
// Records, when destroyed, whether the mutex was held by someone (us).
struct HeldProbe {
    ringlet::Mutex* m;
    int* held;  // 1 held, 0 free, -1 not run
    ~HeldProbe() {
        if (m->try_lock()) {
            *held = 0;
            m->unlock();
        } else {
            *held = 1;
        }
    }
};
}  // namespace

RINGLET_TEST(CondVarTest, CancelledInWaitReacquiresMutexBeforeUnwinding) {
    ringlet::Mutex m;
    ringlet::CondVar cv;
    int held_during_unwind = -1;
    bool caught = false;
    auto waiter = ringlet::spawn([&] {
        std::unique_lock lock(m);
        try {
            HeldProbe probe{&m, &held_during_unwind};
            cv.wait(lock);
        } catch (const ringlet::Cancelled&) {
            caught = true;
            EXPECT_TRUE(lock.owns_lock());
            throw;
        }
    });
    ringlet::yield();
    ASSERT_FALSE(waiter.done());
    EXPECT_TRUE(m.try_lock());  // the waiter released it while waiting
    // Cancel while we hold the mutex: the waiter must not unwind until it
    // has the mutex back.
    waiter.cancel();
    for (int i = 0; i < 10; ++i) ringlet::yield();
    EXPECT_FALSE(waiter.done());
    m.unlock();
    EXPECT_TRUE(waiter.join(10s));
    EXPECT_TRUE(waiter.cancelled());
    EXPECT_TRUE(caught);
    EXPECT_EQ(held_during_unwind, 1);
    // After the unique_lock was destroyed the mutex is free, from another task.
    auto probe = ringlet::spawn([&] {
        const bool got = m.try_lock();
        if (got) m.unlock();
        return got;
    });
    EXPECT_TRUE(probe.get());
}

RINGLET_TEST(CondVarTest, CancelledInWaitWithFreeMutex) {
    ringlet::Mutex m;
    ringlet::CondVar cv;
    int held_during_unwind = -1;
    auto waiter = ringlet::spawn([&] {
        std::unique_lock lock(m);
        HeldProbe probe{&m, &held_during_unwind};
        cv.wait(lock, [] { return false; });
    });
    ringlet::yield();
    waiter.cancel();
    EXPECT_TRUE(waiter.join(10s));
    EXPECT_TRUE(waiter.cancelled());
    EXPECT_EQ(held_during_unwind, 1);
    EXPECT_TRUE(m.try_lock());
    m.unlock();
    // A later notify does not touch the gone waiter.
    cv.notify_all();
}

RINGLET_TEST(CondVarTest, TimeoutScopeInWaitReacquiresMutex) {
    ringlet::Mutex m;
    ringlet::CondVar cv;
    int held_during_unwind = -1;
    auto waiter = ringlet::spawn([&] {
        std::unique_lock lock(m);
        ringlet::Timeout scope(10ms);
        HeldProbe probe{&m, &held_during_unwind};
        cv.wait(lock);
    });
    EXPECT_TRUE(waiter.join(10s));
    EXPECT_THROW(waiter.get(), ringlet::TimeoutError);
    EXPECT_EQ(held_during_unwind, 1);
    EXPECT_TRUE(m.try_lock());
    m.unlock();
}

RINGLET_TEST(CondVarTest, WaitWithoutOwningLockThrowsUsageError) {
    ringlet::Mutex m;
    ringlet::CondVar cv;
    std::unique_lock lock(m, std::defer_lock);
    EXPECT_THROW(cv.wait(lock), ringlet::UsageError);
    EXPECT_THROW(cv.wait_for(lock, 1ms), ringlet::UsageError);
    EXPECT_THROW(cv.wait(lock, [] { return false; }), ringlet::UsageError);
    EXPECT_THROW(cv.wait_for(lock, 1ms, [] { return false; }), ringlet::UsageError);
    std::unique_lock<ringlet::Mutex> empty;
    EXPECT_THROW(cv.wait(empty), ringlet::UsageError);
    EXPECT_FALSE(lock.owns_lock());
    EXPECT_TRUE(m.try_lock());
    m.unlock();
}

RINGLET_TEST(CondVarTest, PlainThreadProducerTaskConsumer) {
    constexpr int n = 2000;
    ringlet::Mutex m;
    ringlet::CondVar cv;
    std::deque<int> queue;
    bool finished = false;
    std::thread producer([&] {
        for (int i = 0; i < n; ++i) {
            {
                std::lock_guard guard(m);
                queue.push_back(i);
            }
            cv.notify_one();
        }
        {
            std::lock_guard guard(m);
            finished = true;
        }
        cv.notify_all();
    });
    std::vector<int> got;
    {
        std::unique_lock lock(m);
        for (;;) {
            cv.wait(lock, [&] { return !queue.empty() || finished; });
            while (!queue.empty()) {
                got.push_back(queue.front());
                queue.pop_front();
            }
            if (finished) break;
        }
    }
    producer.join();
    ASSERT_EQ(got.size(), size_t{n});
    for (int i = 0; i < n; ++i) ASSERT_EQ(got[i], i);
}

RINGLET_TEST(CondVarTest, TaskProducerPlainThreadConsumers) {
    constexpr int n = 2000;
    constexpr int consumers = 2;
    ringlet::Mutex m;
    ringlet::CondVar cv;
    std::deque<int> queue;
    bool finished = false;
    std::atomic<long> sum{0};
    std::atomic<int> count{0};
    std::vector<std::thread> threads;
    for (int c = 0; c < consumers; ++c) {
        threads.emplace_back([&] {
            std::unique_lock lock(m);
            for (;;) {
                cv.wait(lock, [&] { return !queue.empty() || finished; });
                if (queue.empty()) return;  // finished and drained
                sum += queue.front();
                ++count;
                queue.pop_front();
            }
        });
    }
    for (int i = 0; i < n; ++i) {
        {
            std::lock_guard guard(m);
            queue.push_back(i);
        }
        cv.notify_one();
        if (i % 64 == 0) ringlet::yield();
    }
    {
        std::lock_guard guard(m);
        finished = true;
    }
    cv.notify_all();
    for (auto& t : threads) t.join();
    EXPECT_EQ(count.load(), n);
    EXPECT_EQ(sum.load(), long{n} * (n - 1) / 2);
}

namespace {
template <class M>
concept TimedLockable = requires(M& m) {
    { m.try_lock_for(std::chrono::milliseconds(1)) } -> std::convertible_to<bool>;
    { m.try_lock_until(std::chrono::steady_clock::now()) } -> std::convertible_to<bool>;
};
}  // namespace

// mutex.hpp promises TimedLockable, which needs try_lock_until as well as
// try_lock_for (std::unique_lock::try_lock_until calls it).
RINGLET_TEST(MutexTest, SatisfiesTimedLockable) {
    constexpr bool timed = TimedLockable<ringlet::Mutex>;
    EXPECT_TRUE(timed) << "ringlet::Mutex has no try_lock_until";
}

RINGLET_TEST(CondVarTest, ProducerAndConsumerOnDifferentSchedulers) {
    constexpr int n = 2000;
    ringlet::Mutex m;
    ringlet::CondVar cv;
    std::deque<int> queue;
    bool finished = false;
    std::thread producer([&] {
        ringlet::run([&] {
            for (int i = 0; i < n; ++i) {
                {
                    std::lock_guard guard(m);
                    queue.push_back(i);
                }
                cv.notify_one();
                if (i % 50 == 0) ringlet::yield();
            }
            std::lock_guard guard(m);
            finished = true;
            cv.notify_all();
        });
    });
    int expected = 0;
    {
        std::unique_lock lock(m);
        for (;;) {
            cv.wait(lock, [&] { return !queue.empty() || finished; });
            while (!queue.empty()) {
                EXPECT_EQ(queue.front(), expected);
                ++expected;
                queue.pop_front();
            }
            if (finished) break;
        }
    }
    producer.join();
    EXPECT_EQ(expected, n);
}

// No scheduler anywhere: plain threads only.
TEST(MutexTest, PlainThreadsWithoutScheduler) {
    ringlet::Mutex m;
    ringlet::CondVar cv;
    long counter = 0;
    int turn = 0;
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 500; ++i) {
                std::unique_lock lock(m);
                cv.wait(lock, [&] { return turn == t; });  // strict alternation
                ++counter;
                turn = 1 - t;
                cv.notify_all();
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(counter, 1000);
    std::unique_lock lock(m);
    EXPECT_EQ(cv.wait_for(lock, 5ms), std::cv_status::timeout);
}
