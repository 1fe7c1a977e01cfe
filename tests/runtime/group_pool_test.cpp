// tests/runtime/group_pool_test.cpp — ringlet::Group and ringlet::Pool: join,
// cancel, size, bounded concurrency, free slots, ordered map, failures.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
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

struct CountOnDestroy {
    int* count;
    ~CountOnDestroy() { ++*count; }
};

}  // namespace

// ---- Group ---------------------------------------------------------------

RINGLET_TEST(GroupTest, SpawnJoinSize) {
    ringlet::Group group;
    EXPECT_EQ(group.size(), 0u);
    EXPECT_TRUE(group.join());  // empty: at once
    ringlet::Event go;
    int finished = 0;
    for (int i = 0; i < 5; ++i) {
        group.spawn([&] {
            go.wait();
            ++finished;
        });
    }
    EXPECT_EQ(group.size(), 5u);
    ringlet::yield();
    EXPECT_EQ(group.size(), 5u);
    go.set();
    EXPECT_TRUE(group.join(10s));
    EXPECT_EQ(finished, 5);
    EXPECT_EQ(group.size(), 0u);
}

RINGLET_TEST(GroupTest, SpawnReturnsTaskHandle) {
    ringlet::Group group;
    auto t = group.spawn([](int a, int b) { return a + b; }, 2, 3);
    auto named = group.spawn(ringlet::SpawnOptions{.name = "adder"}, [] { return 1; });
    EXPECT_EQ(named.name(), "adder");
    EXPECT_TRUE(group.join(10s));
    EXPECT_EQ(t.get(), 5);
    EXPECT_EQ(named.get(), 1);
}

RINGLET_TEST(GroupTest, SizeCountsUnfinishedTasks) {
    ringlet::Group group;
    ringlet::Event e1;
    ringlet::Event e2;
    ringlet::Event e3;
    auto t1 = group.spawn([&] { e1.wait(); });
    auto t2 = group.spawn([&] { e2.wait(); });
    auto t3 = group.spawn([&] { e3.wait(); });
    EXPECT_EQ(group.size(), 3u);
    e2.set();
    t2.join();
    EXPECT_EQ(group.size(), 2u);
    e1.set();
    t1.join();
    EXPECT_EQ(group.size(), 1u);
    e3.set();
    t3.join();
    EXPECT_EQ(group.size(), 0u);
}

RINGLET_TEST(GroupTest, JoinWithTimeoutReturnsFalse) {
    ringlet::Group group;
    ringlet::Event go;
    group.spawn([&] { go.wait(); });
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(group.join(20ms));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_GE(elapsed, 15ms);
    EXPECT_LT(elapsed, 5s);
    EXPECT_EQ(group.size(), 1u);
    go.set();
    EXPECT_TRUE(group.join(10s));
    EXPECT_EQ(group.size(), 0u);
}

RINGLET_TEST(GroupTest, AddExistingTask) {
    ringlet::Group group;
    ringlet::Event go;
    auto t = ringlet::spawn([&] {
        go.wait();
        return 11;
    });
    group.add(t);
    EXPECT_EQ(group.size(), 1u);
    auto setter = ringlet::spawn([&] { go.set(); });
    EXPECT_TRUE(group.join(10s));
    EXPECT_TRUE(t.done());
    EXPECT_EQ(t.get(), 11);  // the handle still works
    setter.join();
}

RINGLET_TEST(GroupTest, AddedTaskIsCancelledWithTheGroup) {
    ringlet::Group group;
    ringlet::Event never;
    auto t = ringlet::spawn([&] { never.wait(); });
    group.add(t);
    group.cancel();
    EXPECT_TRUE(group.join(10s));
    EXPECT_TRUE(t.cancelled());
}

RINGLET_TEST(GroupTest, JoinWaitsForTasksSpawnedDuringJoin) {
    ringlet::Group group;
    bool grandchild_done = false;
    group.spawn([&] {
        ringlet::yield();
        group.spawn([&] {
            ringlet::yield();
            ringlet::sleep(5ms);
            grandchild_done = true;
        });
    });
    EXPECT_TRUE(group.join(10s));
    EXPECT_TRUE(grandchild_done);
    EXPECT_EQ(group.size(), 0u);
}

RINGLET_TEST(GroupTest, CancelCancelsEveryTask) {
    ringlet::Group group;
    ringlet::Event never;
    int unwound = 0;
    std::vector<ringlet::Task<void>> tasks;
    for (int i = 0; i < 10; ++i) {
        tasks.push_back(group.spawn([&] {
            CountOnDestroy guard{&unwound};
            never.wait();
        }));
    }
    ringlet::yield();
    group.cancel();
    EXPECT_TRUE(group.join(10s));
    EXPECT_EQ(unwound, 10);
    for (auto& t : tasks) EXPECT_TRUE(t.cancelled());
    EXPECT_EQ(group.size(), 0u);
    group.cancel();  // nothing left: no effect
}

RINGLET_TEST(GroupTest, CancelDoesNotWait) {
    ringlet::Group group;
    ringlet::Event never;
    auto t = group.spawn([&] { never.wait(); });
    ringlet::yield();
    group.cancel();
    EXPECT_FALSE(t.done());  // delivered when the task next runs
    EXPECT_TRUE(group.join(10s));
    EXPECT_TRUE(t.cancelled());
}

RINGLET_TEST(GroupTest, JoinDoesNotThrowTasksErrors) {
    ringlet::Group group;
    auto bad = group.spawn([]() -> int { throw std::runtime_error("task failed"); });
    auto good = group.spawn([] { return 1; });
    EXPECT_NO_THROW(EXPECT_TRUE(group.join(10s)));
    EXPECT_TRUE(bad.failed());
    EXPECT_THROW(bad.get(), std::runtime_error);
    EXPECT_EQ(good.get(), 1);
}

RINGLET_TEST(GroupTest, JoinFromTwoTasks) {
    ringlet::Group group;
    ringlet::Event go;
    for (int i = 0; i < 3; ++i) group.spawn([&] { go.wait(); });
    auto j1 = ringlet::spawn([&] { return group.join(10s); });
    auto j2 = ringlet::spawn([&] { return group.join(10s); });
    ringlet::yield();
    go.set();
    EXPECT_TRUE(j1.get());
    EXPECT_TRUE(j2.get());
}

// ---- Pool ----------------------------------------------------------------

RINGLET_TEST(PoolTest, ZeroLimitThrowsUsageError) {
    EXPECT_THROW(ringlet::Pool(0), ringlet::UsageError);
}

RINGLET_TEST(PoolTest, NeverMoreThanLimitRunning) {
    ringlet::Pool pool(3);
    EXPECT_EQ(pool.limit(), 3u);
    int running = 0;
    int max_running = 0;
    int finished = 0;
    for (int i = 0; i < 20; ++i) {
        pool.spawn([&, i] {
            ++running;
            max_running = std::max(max_running, running);
            for (int k = 0; k < 1 + i % 4; ++k) ringlet::yield();
            if (i % 5 == 0) ringlet::sleep(1ms);
            --running;
            ++finished;
        });
    }
    EXPECT_TRUE(pool.join(10s));
    EXPECT_EQ(finished, 20);
    EXPECT_EQ(max_running, 3);
    EXPECT_EQ(pool.free_count(), 3u);
}

RINGLET_TEST(PoolTest, SpawnWaitsWhileFull) {
    ringlet::Pool pool(3);
    ringlet::Event release_first;
    ringlet::Event release_rest;
    pool.spawn([&] { release_first.wait(); });
    pool.spawn([&] { release_rest.wait(); });
    pool.spawn([&] { release_rest.wait(); });
    EXPECT_EQ(pool.free_count(), 0u);
    bool fourth_spawned = false;
    bool fourth_ran = false;
    auto spawner = ringlet::spawn([&] {
        pool.spawn([&] { fourth_ran = true; });
        fourth_spawned = true;
    });
    for (int i = 0; i < 10; ++i) ringlet::yield();
    EXPECT_FALSE(fourth_spawned);
    EXPECT_EQ(pool.size(), 3u);
    release_first.set();
    EXPECT_TRUE(spawner.join(10s));
    EXPECT_TRUE(fourth_spawned);
    release_rest.set();
    EXPECT_TRUE(pool.join(10s));
    EXPECT_TRUE(fourth_ran);
    EXPECT_EQ(pool.free_count(), 3u);
}

RINGLET_TEST(PoolTest, FreeCountReflectsRunningTasks) {
    ringlet::Pool pool(3);
    EXPECT_EQ(pool.free_count(), 3u);
    ringlet::Event go;
    pool.spawn([&] { go.wait(); });
    EXPECT_EQ(pool.free_count(), 2u);  // the slot is taken at spawn
    pool.spawn([&] { go.wait(); });
    pool.spawn([&] { go.wait(); });
    EXPECT_EQ(pool.free_count(), 0u);
    ringlet::yield();
    EXPECT_EQ(pool.free_count(), 0u);
    EXPECT_EQ(pool.size(), 3u);
    go.set();
    EXPECT_TRUE(pool.join(10s));
    EXPECT_EQ(pool.free_count(), 3u);
    EXPECT_EQ(pool.size(), 0u);
}

RINGLET_TEST(PoolTest, FailedTaskReleasesSlot) {
    ringlet::Pool pool(1);
    auto bad = pool.spawn([]() -> int { throw std::runtime_error("x"); });
    EXPECT_TRUE(bad.join(10s));
    EXPECT_EQ(pool.free_count(), 1u);
    EXPECT_THROW(bad.get(), std::runtime_error);
    auto good = pool.spawn([] { return 2; });
    EXPECT_EQ(good.get(), 2);
}

RINGLET_TEST(PoolTest, MapKeepsInputOrder) {
    ringlet::Pool pool(4);
    std::vector<int> inputs{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    int running = 0;
    int max_running = 0;
    auto results = pool.map(
        [&](int x) {
            ++running;
            max_running = std::max(max_running, running);
            ringlet::sleep(std::chrono::milliseconds(2 * (10 - x)));  // later inputs finish first
            --running;
            return std::to_string(x * x);
        },
        inputs);
    ASSERT_EQ(results.size(), inputs.size());
    for (int x : inputs) EXPECT_EQ(results[x], std::to_string(x * x));
    EXPECT_LE(max_running, 4);
    EXPECT_EQ(pool.free_count(), 4u);
}

RINGLET_TEST(PoolTest, MapOverEmptyRange) {
    ringlet::Pool pool(2);
    std::vector<int> none;
    auto results = pool.map([](int x) { return x; }, none);
    EXPECT_TRUE(results.empty());
}

RINGLET_TEST(PoolTest, MapRethrowsFirstFailureAndCancelsTheRest) {
    ringlet::Pool pool(10);
    ringlet::Event never;
    int cancelled = 0;
    int completed = 0;
    std::vector<int> inputs{0, 1, 2, 3, 4, 5, 6, 7};
    try {
        pool.map(
            [&](int x) -> int {
                if (x == 5) throw std::runtime_error("5");  // fails first in time
                if (x == 2) {
                    ringlet::sleep(10ms);
                    throw std::runtime_error("2");  // fails first in input order
                }
                if (x < 2) {
                    ++completed;
                    return x;
                }
                try {
                    never.wait();
                } catch (const ringlet::Cancelled&) {
                    ++cancelled;
                    throw;
                }
                return x;
            },
            inputs);
        ADD_FAILURE() << "map() did not throw";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "2");
    }
    EXPECT_TRUE(pool.join(10s));
    EXPECT_EQ(completed, 2);
    EXPECT_EQ(cancelled, 4);  // inputs 3, 4, 6, 7
    EXPECT_EQ(pool.free_count(), 10u);
}

RINGLET_TEST(PoolTest, MapWithMoreInputsThanSlots) {
    ringlet::Pool pool(2);
    std::vector<int> inputs(25);
    for (int i = 0; i < 25; ++i) inputs[i] = i;
    int running = 0;
    int max_running = 0;
    auto results = pool.map(
        [&](int x) {
            ++running;
            max_running = std::max(max_running, running);
            ringlet::yield();
            --running;
            return x + 1;
        },
        inputs);
    ASSERT_EQ(results.size(), 25u);
    for (int i = 0; i < 25; ++i) EXPECT_EQ(results[i], i + 1);
    EXPECT_EQ(max_running, 2);
}

RINGLET_TEST(PoolTest, CancelCancelsRunningTasks) {
    ringlet::Pool pool(3);
    ringlet::Event never;
    int unwound = 0;
    std::vector<ringlet::Task<void>> tasks;
    for (int i = 0; i < 3; ++i) {
        tasks.push_back(pool.spawn([&] {
            CountOnDestroy guard{&unwound};
            never.wait();
        }));
    }
    ringlet::yield();
    EXPECT_EQ(pool.free_count(), 0u);
    pool.cancel();
    EXPECT_TRUE(pool.join(10s));
    EXPECT_EQ(unwound, 3);
    for (auto& t : tasks) EXPECT_TRUE(t.cancelled());
    EXPECT_EQ(pool.free_count(), 3u);
    EXPECT_EQ(pool.size(), 0u);
}

RINGLET_TEST(PoolTest, CancelledBeforeStartReleasesSlot) {
    ringlet::Pool pool(2);
    bool ran = false;
    auto t = pool.spawn([&] { ran = true; });
    EXPECT_EQ(pool.free_count(), 1u);
    t.cancel();  // before its first run
    EXPECT_TRUE(t.join(10s));
    EXPECT_TRUE(t.cancelled());
    EXPECT_FALSE(ran);
    EXPECT_EQ(pool.free_count(), 2u);
    EXPECT_TRUE(pool.join(10s));
    EXPECT_EQ(pool.free_count(), 2u);
}

RINGLET_TEST(PoolTest, SpawnWaitingForSlotCanBeCancelled) {
    ringlet::Pool pool(1);
    ringlet::Event go;
    pool.spawn([&] { go.wait(); });
    bool spawned = false;
    auto spawner = ringlet::spawn([&] {
        pool.spawn([] {});
        spawned = true;
    });
    ringlet::yield();
    spawner.cancel();
    EXPECT_TRUE(spawner.join(10s));
    EXPECT_TRUE(spawner.cancelled());
    EXPECT_FALSE(spawned);
    EXPECT_EQ(pool.size(), 1u);  // nothing was spawned
    EXPECT_EQ(pool.free_count(), 0u);
    go.set();
    EXPECT_TRUE(pool.join(10s));
    EXPECT_EQ(pool.free_count(), 1u);  // the cancelled spawn took no slot
}

RINGLET_TEST(PoolTest, DetachedTaskStillReleasesSlot) {
    ringlet::Pool pool(1);
    ringlet::Event go;
    pool.spawn([&] { go.wait(); }).detach();
    EXPECT_EQ(pool.free_count(), 0u);
    go.set();
    EXPECT_TRUE(pool.join(10s));
    EXPECT_EQ(pool.free_count(), 1u);
}

RINGLET_TEST(PoolTest, SpawnPassesArgumentsAndOptions) {
    ringlet::Pool pool(2);
    auto t = pool.spawn([](std::string s, int n) { return s + std::to_string(n); },
                        std::string("n="), 4);
    auto named = pool.spawn(ringlet::SpawnOptions{.name = "pooled"}, [] { return 0; });
    EXPECT_EQ(named.name(), "pooled");
    EXPECT_EQ(t.get(), "n=4");
    EXPECT_EQ(named.get(), 0);
}

// Regression: Group::add() of an empty Task dereferenced a null control block
// (segfault) instead of throwing UsageError like every other use of an empty
// handle. Run in a death-test child so a crash fails only this test.
TEST(GroupTest, AddEmptyTaskThrowsUsageError) {
    EXPECT_EXIT(
        {
            ringlet::Group group;
            ringlet::Task<void> empty;
            try {
                group.add(empty);
            } catch (const ringlet::UsageError&) {
                std::_Exit(group.size() == 0 ? 0 : 2);
            }
            std::_Exit(1);
        },
        testing::ExitedWithCode(0), "");
}

TEST(GroupTest, SpawnOutsideSchedulerThrowsUsageError) {
    ringlet::Group group;
    EXPECT_THROW(group.spawn([] {}), ringlet::UsageError);
    EXPECT_EQ(group.size(), 0u);
}

TEST(PoolTest, SpawnOutsideSchedulerThrowsAndKeepsSlot) {
    ringlet::Pool pool(2);
    EXPECT_THROW(pool.spawn([] {}), ringlet::UsageError);
    EXPECT_EQ(pool.free_count(), 2u);
    EXPECT_EQ(pool.size(), 0u);
}

RINGLET_TEST(PoolTest, MapStopsStartingInputsAfterAFailure) {
    // Pool(1): input 0 fails at once. "If one call throws, the others are
    // cancelled": the inputs queued behind it must not all run to completion.
    ringlet::Pool pool(1);
    int started = 0;
    int completed = 0;
    std::vector<int> inputs{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    EXPECT_THROW(pool.map(
                     [&](int x) -> int {
                         ++started;
                         if (x == 0) throw std::runtime_error("0");
                         ringlet::yield();
                         ++completed;
                         return x;
                     },
                     inputs),
                 std::runtime_error);
    EXPECT_TRUE(pool.join(10s));
    EXPECT_LE(completed, 1) << started - 1 << " inputs started after input 0 had failed";
    EXPECT_EQ(pool.free_count(), 1u);
}
