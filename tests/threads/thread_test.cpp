// tests/threads/thread_test.cpp — ringlet::Thread<R> and run_threads: values,
// exceptions, join with and without timeouts (from a task, which suspends only
// that task, and from a plain std::thread, which blocks), empty handles,
// leftover tasks cancelled when a thread's main returns, CTAD, pinning.
#include <pthread.h>
#include <sched.h>

#include <array>
#include <atomic>
#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;

namespace {

// Yields (from a task) until pred() holds; false if it never did within `limit`.
template <class Pred>
bool yield_until(Pred pred, std::chrono::milliseconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        ringlet::yield();
    }
    return true;
}

// Counts live instances: proves a task's frame was unwound.
struct Tracked {
    static inline std::atomic<int> alive{0};
    Tracked() { alive.fetch_add(1); }
    Tracked(const Tracked&) { alive.fetch_add(1); }
    ~Tracked() { alive.fetch_sub(1); }
};

}  // namespace

// ---------------------------------------------------------------- Thread<R>

RINGLET_TEST(ThreadTest, GetReturnsMainsValue) {
    ringlet::Thread<int> t([] { return 42; });
    EXPECT_EQ(t.get(), 42);
    EXPECT_TRUE(t.done());
}

RINGLET_TEST(ThreadTest, GetReturnsMoveOnlyAndStringValues) {
    ringlet::Thread<std::string> t([] { return std::string(1000, 'x'); });
    EXPECT_EQ(t.get(), std::string(1000, 'x'));
}

TEST(ThreadTest, GetFromPlainThreadWithoutScheduler) {
    // The gtest thread has no scheduler: get() blocks it.
    ringlet::Thread<int> t([] {
        ringlet::sleep(1ms);  // a real suspension inside the thread's scheduler
        return 7;
    });
    EXPECT_EQ(t.get(), 7);
}

RINGLET_TEST(ThreadTest, CtadDeducesTheResultType) {
    ringlet::Thread t([] { return 3; });
    static_assert(std::is_same_v<decltype(t), ringlet::Thread<int>>);
    ringlet::Thread v([] {}, ringlet::Options{});
    static_assert(std::is_same_v<decltype(v), ringlet::Thread<void>>);
    ringlet::Thread s([] { return std::string("three"); });
    static_assert(std::is_same_v<decltype(s), ringlet::Thread<std::string>>);
    EXPECT_EQ(t.get(), 3);
    v.get();
    EXPECT_EQ(s.get(), "three");
}

RINGLET_TEST(ThreadTest, MainRunsAsATaskOnItsOwnThread) {
    const auto here = std::this_thread::get_id();
    ringlet::Thread<std::thread::id> t([] {
        EXPECT_NE(ringlet::current_task(), 0u);
        // Tasks spawned there stay there.
        std::vector<ringlet::Task<std::thread::id>> tasks;
        for (int i = 0; i < 10; ++i) {
            tasks.push_back(ringlet::spawn([] {
                ringlet::yield();
                return std::this_thread::get_id();
            }));
        }
        const auto mine = std::this_thread::get_id();
        for (auto& task : tasks) EXPECT_EQ(task.get(), mine);
        return mine;
    });
    const auto id = t.id();
    EXPECT_NE(id, here);
    EXPECT_EQ(t.get(), id);
}

RINGLET_TEST(ThreadTest, OptionsReachTheThreadsScheduler) {
    ringlet::Options options;
    options.backend = "epoll";
    ringlet::Thread<std::string> t([] { return std::string(ringlet::stats().backend); }, options);
    EXPECT_EQ(t.get(), "epoll");
}

RINGLET_TEST(ThreadTest, GetRethrowsMainsExceptionOthersUnaffected) {
    ringlet::Event failed;
    ringlet::Thread<int> bad([] () -> int { throw std::runtime_error("boom in thread"); });
    // The others are still waiting when `bad` fails, and finish normally after.
    ringlet::Thread<int> good1([&] {
        failed.wait();
        ringlet::sleep(1ms);
        return 1;
    });
    ringlet::Thread<int> good2([&] {
        auto helper = ringlet::spawn([&] {
            failed.wait();
            return 20;
        });
        return helper.get() + 2;
    });
    EXPECT_TRUE(bad.join());
    try {
        bad.get();
        ADD_FAILURE() << "get() should rethrow main's exception";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "boom in thread");
    }
    // join() never rethrows; a second get() rethrows again.
    EXPECT_TRUE(bad.join());
    EXPECT_THROW(bad.get(), std::runtime_error);
    EXPECT_FALSE(good1.done());
    EXPECT_FALSE(good2.done());
    failed.set();
    EXPECT_EQ(good1.get(), 1);
    EXPECT_EQ(good2.get(), 22);
}

RINGLET_TEST(ThreadTest, JoinWithTimeoutFalseThenTrue) {
    ringlet::Event release;
    ringlet::Thread<int> t([&] {
        release.wait();
        return 5;
    });
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(t.join(20ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 15ms);
    EXPECT_FALSE(t.join(0ns));
    EXPECT_FALSE(t.done());
    release.set();
    EXPECT_TRUE(t.join(20s));
    EXPECT_TRUE(t.done());
    EXPECT_TRUE(t.join());  // idempotent
    EXPECT_EQ(t.get(), 5);
}

RINGLET_TEST(ThreadTest, JoinFromATaskSuspendsOnlyThatTask) {
    // The thread ends only after a task on *this* thread has ticked 200
    // times; if join() blocked the OS thread, the ticker could not run and
    // the thread's wait would time out.
    ringlet::Event enough_ticks;
    std::atomic<bool> stop{false};
    int ticks = 0;
    auto ticker = ringlet::spawn([&] {
        while (!stop.load()) {
            if (++ticks == 200) enough_ticks.set();
            ringlet::yield();
        }
    });
    ringlet::Thread<bool> t([&] { return enough_ticks.wait(20s); });
    EXPECT_EQ(ticks, 0);  // spawn() only made the ticker ready
    EXPECT_TRUE(t.join());
    const int during = ticks;  // all of them ran while main was suspended in join()
    stop.store(true);
    ticker.join();
    EXPECT_TRUE(t.get()) << "the thread's main timed out: join() blocked the scheduler";
    EXPECT_GE(during, 200);
}

RINGLET_TEST(ThreadTest, GetFromATaskLetsOtherTasksRun) {
    ringlet::Event go;
    ringlet::Thread<int> t([&] {
        go.wait();
        return 11;
    });
    // Another task of this thread sets the event the thread waits for, while
    // main is suspended in get().
    auto setter = ringlet::spawn([&] { go.set(); });
    EXPECT_EQ(t.get(), 11);
    setter.join();
}

RINGLET_TEST(ThreadTest, JoinFromPlainStdThreadBlocks) {
    ringlet::Event go;
    ringlet::Event timed_out;
    ringlet::Event finished;
    ringlet::Thread<int> t([&] {
        go.wait();
        return 9;
    });
    bool first = true, second = false;
    int value = 0;
    std::chrono::steady_clock::duration blocked{};
    std::thread plain([&] {
        EXPECT_EQ(ringlet::current_task(), 0u);
        const auto start = std::chrono::steady_clock::now();
        first = t.join(30ms);
        blocked = std::chrono::steady_clock::now() - start;
        timed_out.set();
        second = t.join();  // blocks this OS thread until main returns
        value = t.get();
        finished.set();
    });
    // Wait through ringlet (std::thread::join would block this scheduler).
    EXPECT_TRUE(timed_out.wait(20s));
    go.set();
    EXPECT_TRUE(finished.wait(20s));
    plain.join();
    EXPECT_FALSE(first);
    EXPECT_GE(blocked, 25ms);
    EXPECT_TRUE(second);
    EXPECT_EQ(value, 9);
}

RINGLET_TEST(ThreadTest, EmptyThreadThrowsUsageError) {
    ringlet::Thread<int> empty;
    EXPECT_THROW(empty.join(), ringlet::UsageError);
    EXPECT_THROW(empty.join(1ms), ringlet::UsageError);
    EXPECT_THROW(empty.get(), ringlet::UsageError);
    EXPECT_FALSE(empty.done());

    ringlet::Thread<int> t([] { return 1; });
    ringlet::Thread<int> moved = std::move(t);
    EXPECT_THROW(t.join(), ringlet::UsageError);  // NOLINT(bugprone-use-after-move)
    EXPECT_THROW(t.get(), ringlet::UsageError);   // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(moved.get(), 1);
}

TEST(ThreadTest, EmptyThreadThrowsUsageErrorOnPlainThread) {
    ringlet::Thread<void> empty;
    EXPECT_THROW(empty.join(), ringlet::UsageError);
    EXPECT_THROW(empty.get(), ringlet::UsageError);
}

RINGLET_TEST(ThreadTest, MoveAssignmentJoinsThePreviousThread) {
    std::atomic<bool> first_done{false};
    ringlet::Thread<void> a([&] {
        ringlet::sleep(5ms);
        first_done.store(true);
    });
    a = ringlet::Thread<void>([] {});  // joins the first thread (blocking briefly)
    EXPECT_TRUE(first_done.load());
    a.get();
}

TEST(ThreadTest, DestructorJoins) {
    std::atomic<bool> finished{false};
    {
        ringlet::Thread<void> t([&] {
            ringlet::sleep(10ms);
            finished.store(true);
        });
    }
    EXPECT_TRUE(finished.load());
}

RINGLET_TEST(ThreadTest, LeftoverTasksAreCancelledWhenMainReturns) {
    constexpr int n = 10;
    std::atomic<int> started{0};
    std::atomic<int> reached_end{0};
    ringlet::Event all_started;
    ringlet::Event never;  // outlives the tasks that wait on it
    ASSERT_EQ(Tracked::alive.load(), 0);
    ringlet::Thread<void> t([&] {
        for (int i = 0; i < n; ++i) {
            // Detached: only the thread's end can stop them.
            ringlet::spawn([&, i] {
                Tracked guard;
                if (started.fetch_add(1) + 1 == n) all_started.set();
                if (i % 2 == 0) {
                    never.wait();
                } else {
                    ringlet::sleep(1h);
                }
                reached_end.fetch_add(1);
            }).detach();
        }
        all_started.wait();
        // main returns with n tasks parked
    });
    EXPECT_TRUE(t.join(20s));
    t.get();
    EXPECT_EQ(started.load(), n);
    EXPECT_EQ(reached_end.load(), 0);
    EXPECT_EQ(Tracked::alive.load(), 0) << "a leftover task's frame was not unwound";
}

RINGLET_TEST(ThreadTest, RunInsideAThreadIsUsageError) {
    ringlet::Thread<bool> t([] {
        try {
            ringlet::run([] {});
        } catch (const ringlet::UsageError&) {
            return true;
        }
        return false;
    });
    EXPECT_TRUE(t.get());
}

RINGLET_TEST(ThreadTest, ManyShortThreads) {
    // Thread start-up and tear-down in a loop: each has its own scheduler.
    for (int round = 0; round < 20; ++round) {
        ringlet::Thread<int> t([round] {
            auto x = ringlet::spawn([round] { return round * 2; });
            return x.get() + 1;
        });
        EXPECT_EQ(t.get(), round * 2 + 1);
    }
}

// ---------------------------------------------------------------- run_threads

RINGLET_TEST(RunThreadsTest, EachIndexRunsExactlyOnce) {
    constexpr std::size_t n = 6;
    std::array<std::atomic<int>, n> runs{};
    std::array<std::thread::id, n> ids{};
    std::array<ringlet::TaskId, n> tasks{};
    ringlet::run_threads(n, [&](std::size_t i) {
        runs[i].fetch_add(1);
        ids[i] = std::this_thread::get_id();
        tasks[i] = ringlet::current_task();
        ringlet::sleep(1ms);  // each index is a task on a running scheduler
    });
    std::set<std::thread::id> distinct;
    for (std::size_t i = 0; i < n; ++i) {
        EXPECT_EQ(runs[i].load(), 1) << "index " << i;
        EXPECT_NE(tasks[i], 0u) << "index " << i;
        EXPECT_NE(ids[i], std::this_thread::get_id());
        distinct.insert(ids[i]);
    }
    EXPECT_EQ(distinct.size(), n);
}

TEST(RunThreadsTest, FromAPlainThreadAndWithoutIndex) {
    std::atomic<int> count{0};
    ringlet::run_threads(3, [&] { count.fetch_add(1); });
    EXPECT_EQ(count.load(), 3);
}

RINGLET_TEST(RunThreadsTest, PinPutsThreadIOnCpuIModuloCpus) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    ASSERT_EQ(::sched_getaffinity(0, sizeof allowed, &allowed), 0);
    const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
    constexpr std::size_t n = 4;
    std::array<int, n> pinned_to{};
    std::array<int, n> cpu_count{};
    ringlet::ThreadsOptions options;
    options.pin = true;
    ringlet::run_threads(
        n,
        [&](std::size_t i) {
            cpu_set_t set;
            CPU_ZERO(&set);
            ::pthread_getaffinity_np(::pthread_self(), sizeof set, &set);
            cpu_count[i] = CPU_COUNT(&set);
            pinned_to[i] = -1;
            for (int c = 0; c < CPU_SETSIZE; ++c) {
                if (CPU_ISSET(c, &set)) {
                    pinned_to[i] = c;
                    break;
                }
            }
            ringlet::yield();
        },
        options);
    for (std::size_t i = 0; i < n; ++i) {
        const int want = static_cast<int>(i % cpus);
        if (!CPU_ISSET(want, &allowed)) continue;  // not ours to pin to (cpuset)
        EXPECT_EQ(cpu_count[i], 1) << "index " << i;
        EXPECT_EQ(pinned_to[i], want) << "index " << i;
    }
}

RINGLET_TEST(RunThreadsTest, FirstFailureInIndexOrderRethrownAfterAllEnded) {
    ringlet::Event three_failed;
    ringlet::Event release_zero;
    std::atomic<int> failures{0};
    std::atomic<bool> zero_finished{false};
    bool returned = false;
    // A second task on this thread: it runs while run_threads() suspends main,
    // sees both failures happen while run_threads() has not returned, and only
    // then lets index 0 finish.
    auto watcher = ringlet::spawn([&] {
        EXPECT_TRUE(yield_until([&] { return failures.load() == 2; }));
        EXPECT_FALSE(returned);
        release_zero.set();
    });
    try {
        ringlet::run_threads(4, [&](std::size_t i) {
            switch (i) {
                case 0:
                    release_zero.wait();
                    zero_finished.store(true);
                    return;
                case 1:
                    three_failed.wait();  // fails after index 3
                    failures.fetch_add(1);
                    throw std::runtime_error("one");
                case 3:
                    failures.fetch_add(1);
                    three_failed.set();
                    throw std::runtime_error("three");
                default:
                    return;
            }
        });
        ADD_FAILURE() << "run_threads should rethrow";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "one");  // index order, not time order
    }
    returned = true;
    EXPECT_TRUE(zero_finished.load()) << "rethrown before every thread ended";
    watcher.join();
}

RINGLET_TEST(RunThreadsTest, ZeroThreadsIsUsageError) {
    bool called = false;
    EXPECT_THROW(ringlet::run_threads(0, [&] { called = true; }), ringlet::UsageError);
    EXPECT_FALSE(called);
}

RINGLET_TEST(RunThreadsTest, ThreadsShareAChannel) {
    // The thread-per-core shape: every index produces, index 0 also consumes.
    constexpr std::size_t n = 4;
    constexpr int per_thread = 500;
    ringlet::Channel<int> ch(8);
    std::atomic<std::size_t> producers_left{n};
    long long sum = 0;
    int count = 0;
    ringlet::run_threads(n, [&](std::size_t i) {
        ringlet::Task<void> consumer;
        if (i == 0) {
            consumer = ringlet::spawn([&] {
                while (auto v = ch.recv()) {
                    sum += *v;
                    ++count;
                }
            });
        }
        for (int k = 1; k <= per_thread; ++k) ch.send(k);
        if (producers_left.fetch_sub(1) == 1) ch.close();
        if (consumer.valid()) consumer.get();
    });
    EXPECT_EQ(count, static_cast<int>(n) * per_thread);
    EXPECT_EQ(sum, static_cast<long long>(n) * per_thread * (per_thread + 1) / 2);
}
