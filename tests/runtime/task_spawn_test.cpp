// tests/runtime/task_spawn_test.cpp — spawn and Task<T>: the gevent start rule, argument
// passing, options, get/join/detach/status, joinall, current_task, yield order, failure reports.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;

namespace {

// Counts copies and moves, to check how spawn passes arguments.
struct Counted {
    int* copies;
    int* moves;
    int value;
    Counted(int* c, int* m, int v) : copies(c), moves(m), value(v) {}
    Counted(const Counted& o) : copies(o.copies), moves(o.moves), value(o.value) { ++*copies; }
    Counted(Counted&& o) noexcept : copies(o.copies), moves(o.moves), value(o.value) {
        ++*moves;
        o.value = -1;
    }
    Counted& operator=(const Counted&) = delete;
    Counted& operator=(Counted&&) = delete;
};

struct Adder {
    int base;
    int operator()(int x) const { return base + x; }
};

int multiply(int a, int b) { return a * b; }

std::string dump() {
    std::ostringstream out;
    ringlet::dump_tasks(out);
    return out.str();
}

}  // namespace

// ---- the gevent start rule -----------------------------------------------------------

RINGLET_TEST(TaskSpawnTest, SpawnDoesNotRunTheTaskUntilTheSpawnerSuspends) {
    bool ran = false;
    auto t = ringlet::spawn([&] { ran = true; });
    EXPECT_FALSE(ran);
    // Work that does not suspend does not let it run either.
    volatile long spin = 0;
    for (int i = 0; i < 100000; ++i) spin = spin + 1;
    EXPECT_FALSE(ran);
    EXPECT_FALSE(t.done());
    ringlet::yield();
    EXPECT_TRUE(ran);
    EXPECT_TRUE(t.done());
}

RINGLET_TEST(TaskSpawnTest, SpawnedTasksStartInSpawnOrder) {
    std::vector<int> order;
    std::vector<ringlet::Task<void>> tasks;
    for (int i = 0; i < 5; ++i) tasks.push_back(ringlet::spawn([&order, i] { order.push_back(i); }));
    EXPECT_TRUE(order.empty());
    EXPECT_TRUE(ringlet::joinall(tasks));
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

RINGLET_TEST(TaskSpawnTest, TaskCanSpawnTasks) {
    auto outer = ringlet::spawn([] {
        auto a = ringlet::spawn([] { return 2; });
        auto b = ringlet::spawn([] { return 3; });
        return a.get() * b.get();
    });
    EXPECT_EQ(outer.get(), 6);
}

// ---- arguments -----------------------------------------------------------------------

RINGLET_TEST(TaskSpawnTest, ArgumentsAreCopiedAtSpawn) {
    int x = 1;
    std::string s = "before";
    auto t = ringlet::spawn([](int v, const std::string& str) { return str + std::to_string(v); },
                            x, s);
    x = 2;
    s = "after";
    EXPECT_EQ(t.get(), "before1");
}

RINGLET_TEST(TaskSpawnTest, LvalueArgumentsAreCopiedAndRvaluesMoved) {
    int copies = 0;
    int moves = 0;
    Counted lvalue(&copies, &moves, 5);
    auto t1 = ringlet::spawn([](const Counted& c) { return c.value; }, lvalue);
    EXPECT_EQ(copies, 1);
    EXPECT_EQ(lvalue.value, 5);  // the caller's object is untouched
    EXPECT_EQ(t1.get(), 5);

    copies = 0;
    moves = 0;
    auto t2 = ringlet::spawn([](const Counted& c) { return c.value; }, Counted(&copies, &moves, 6));
    EXPECT_EQ(copies, 0);
    EXPECT_GE(moves, 1);
    EXPECT_EQ(t2.get(), 6);
}

RINGLET_TEST(TaskSpawnTest, MoveOnlyArgument) {
    auto p = std::make_unique<int>(41);
    auto t = ringlet::spawn([](std::unique_ptr<int> q) { return *q + 1; }, std::move(p));
    EXPECT_EQ(p, nullptr);
    EXPECT_EQ(t.get(), 42);
}

RINGLET_TEST(TaskSpawnTest, StdRefSharesTheCallersObject) {
    int counter = 0;
    std::vector<int> seen;
    auto t = ringlet::spawn(
        [](int& c, std::vector<int>& out) {
            ++c;
            out.push_back(c);
        },
        std::ref(counter), std::ref(seen));
    t.join();
    EXPECT_EQ(counter, 1);
    EXPECT_EQ(seen, std::vector<int>{1});
}

RINGLET_TEST(TaskSpawnTest, FunctionPointerAndFunctionObject) {
    auto a = ringlet::spawn(&multiply, 6, 7);
    auto b = ringlet::spawn(Adder{10}, 5);
    EXPECT_EQ(a.get(), 42);
    EXPECT_EQ(b.get(), 15);
}

RINGLET_TEST(TaskSpawnTest, CapturedStateIsDestroyedWhenTheTaskEnds) {
    auto shared = std::make_shared<int>(1);
    auto t = ringlet::spawn([keep = shared] { return *keep; });
    EXPECT_EQ(shared.use_count(), 2);
    EXPECT_TRUE(t.join());
    // The handle is still alive, but the callable and its captures are gone.
    EXPECT_EQ(shared.use_count(), 1);
    EXPECT_EQ(t.get(), 1);
}

struct ThrowsOnCopy {
    ThrowsOnCopy() = default;
    ThrowsOnCopy(const ThrowsOnCopy&) { throw std::runtime_error("copy failed"); }
};

RINGLET_TEST(TaskSpawnTest, SpawnWhoseArgumentCopyThrowsLeavesNoTask) {
    const ringlet::Stats before = ringlet::stats();
    ThrowsOnCopy arg;
    bool ran = false;
    EXPECT_THROW(ringlet::spawn([&ran](const ThrowsOnCopy&) { ran = true; }, arg),
                 std::runtime_error);
    ringlet::yield();
    const ringlet::Stats after = ringlet::stats();
    EXPECT_FALSE(ran);
    EXPECT_EQ(after.tasks_spawned, before.tasks_spawned);
    EXPECT_EQ(after.tasks_live, before.tasks_live);
    EXPECT_EQ(after.stacks_in_use, before.stacks_in_use);
    // Spawning still works afterwards.
    EXPECT_EQ(ringlet::spawn([] { return 1; }).get(), 1);
}

// ---- options -------------------------------------------------------------------------

RINGLET_TEST(TaskSpawnTest, NameShowsInNameAndDumpTasks) {
    ringlet::Event release;
    auto t = ringlet::spawn(ringlet::SpawnOptions{.name = "worker-7"}, [&] { release.wait(); });
    EXPECT_EQ(t.name(), "worker-7");
    ringlet::yield();
    const std::string text = dump();
    EXPECT_NE(text.find(std::to_string(t.id()) + " worker-7 "), std::string::npos) << text;
    release.set();
    t.join();
    EXPECT_EQ(t.name(), "worker-7");  // still there after the task ended
    EXPECT_EQ(dump().find("worker-7"), std::string::npos);  // no longer live
}

RINGLET_TEST(TaskSpawnTest, UnnamedTaskHasEmptyName) {
    auto t = ringlet::spawn([] {});
    EXPECT_EQ(t.name(), "");
    t.join();
}

RINGLET_TEST(TaskSpawnTest, LongNameIsTruncatedTo31Bytes) {
    const std::string long_name(60, 'n');
    auto t = ringlet::spawn(ringlet::SpawnOptions{.name = long_name}, [] {});
    EXPECT_EQ(t.name(), std::string(31, 'n'));
    t.join();
}

RINGLET_TEST(TaskSpawnTest, NameNeedNotBeNulTerminated) {
    // Regression: spawn() passed name.data() to strncpy, which read past the view's end.
    const std::string buffer = "alphaBETA";
    auto t = ringlet::spawn(ringlet::SpawnOptions{.name = std::string_view(buffer).substr(0, 5)},
                            [] {});
    EXPECT_EQ(t.name(), "alpha");
    t.join();
}

// Run in a child process (EXPECT_EXIT) so that a crash fails this test only.
// The child exits 0 only if spawn threw IoError and the scheduler still works.
[[noreturn]] static void spawn_with_stack_size_expecting_io_error(std::size_t stack_size) {
    const int code = ringlet::run([stack_size] {
        int result = 1;
        try {
            auto t = ringlet::spawn(ringlet::SpawnOptions{.stack_size = stack_size}, [] { return 1; });
            t.join();
            result = 2;  // no error at all
        } catch (const ringlet::IoError&) {
            result = 0;
        }
        if (ringlet::spawn([] { return 5; }).get() != 5) result = 3;
        if (ringlet::stats().tasks_live != 1) result = 4;
        return result;
    });
    std::exit(code);
}

TEST(TaskSpawnDeathTest, ImpossibleStackSizeThrowsIoError) {
    EXPECT_EXIT(spawn_with_stack_size_expecting_io_error(std::size_t{1} << 50),
                testing::ExitedWithCode(0), "");
}

TEST(TaskSpawnDeathTest, StackSizeNearSizeMaxThrowsIoError) {
    // Regression: round_up() overflowed; the control block landed in the guard page (SIGSEGV).
    EXPECT_EXIT(spawn_with_stack_size_expecting_io_error(SIZE_MAX), testing::ExitedWithCode(0), "");
    EXPECT_EXIT(spawn_with_stack_size_expecting_io_error(SIZE_MAX - 4096),
                testing::ExitedWithCode(0), "");
}

RINGLET_TEST(TaskSpawnTest, LargeStackSizeHoldsABigLocalArray) {
    constexpr std::size_t big = 600 * 1024;
    auto t = ringlet::spawn(ringlet::SpawnOptions{.stack_size = 1024 * 1024}, [] {
        volatile char buffer[big];
        // Touch every page, from the top down, so a too-small stack would fault.
        for (std::size_t i = big; i > 0; i -= 1024) buffer[i - 1] = static_cast<char>(i);
        buffer[0] = 1;
        ringlet::yield();  // and it survives a switch
        long sum = 0;
        for (std::size_t i = big; i > 0; i -= 1024) sum += buffer[i - 1] != 0 ? 1 : 0;
        return sum + buffer[0];
    });
    EXPECT_GT(t.get(), 0);
}

// ---- get -----------------------------------------------------------------------------

RINGLET_TEST(TaskSpawnTest, GetReturnsTheValue) {
    auto t = ringlet::spawn([] {
        ringlet::sleep(1ms);
        return std::string("value");
    });
    EXPECT_EQ(t.get(), "value");
    EXPECT_EQ(t.get(), "value");  // copyable values can be read again
}

RINGLET_TEST(TaskSpawnTest, GetOnVoidTask) {
    bool ran = false;
    auto t = ringlet::spawn([&] { ran = true; });
    t.get();
    EXPECT_TRUE(ran);
}

RINGLET_TEST(TaskSpawnTest, GetRethrowsTheTasksException) {
    auto t = ringlet::spawn([]() -> int {
        ringlet::yield();
        throw std::runtime_error("task error 5");
    });
    try {
        t.get();
        ADD_FAILURE() << "get() did not rethrow";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "task error 5");
    }
    EXPECT_THROW(t.get(), std::runtime_error);  // and again
}

RINGLET_TEST(TaskSpawnTest, GetRethrowsNonStdException) {
    auto t = ringlet::spawn([]() -> int { throw 17; });
    try {
        t.get();
        ADD_FAILURE() << "get() did not rethrow";
    } catch (int v) {
        EXPECT_EQ(v, 17);
    }
    EXPECT_TRUE(t.failed());
}

RINGLET_TEST(TaskSpawnTest, GetThrowsCancelledForACancelledTask) {
    auto t = ringlet::spawn([] {
        ringlet::sleep(1h);
        return 1;
    });
    ringlet::yield();
    t.cancel();
    EXPECT_THROW(t.get(), ringlet::Cancelled);
    EXPECT_TRUE(t.cancelled());
}

RINGLET_TEST(TaskSpawnTest, MoveOnlyResultCanBeTakenOnce) {
    auto t = ringlet::spawn([] { return std::make_unique<int>(8); });
    std::unique_ptr<int> p = t.get();
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, 8);
    EXPECT_THROW(t.get(), ringlet::UsageError);
    EXPECT_TRUE(t.done());
}

RINGLET_TEST(TaskSpawnTest, MovedHandleKeepsMoveOnlyResult) {
    auto t = ringlet::spawn([] { return std::make_unique<int>(9); });
    ringlet::Task<std::unique_ptr<int>> other = std::move(t);
    EXPECT_FALSE(t.valid());  // NOLINT(bugprone-use-after-move): testing the moved-from state
    EXPECT_EQ(*other.get(), 9);
}

// ---- join ----------------------------------------------------------------------------

RINGLET_TEST(TaskSpawnTest, JoinWithTimeoutReturnsFalseThenTrue) {
    ringlet::Event release;
    auto t = ringlet::spawn([&] {
        release.wait();
        return 1;
    });
    EXPECT_FALSE(t.join(5ms));
    EXPECT_FALSE(t.done());
    EXPECT_FALSE(t.join(0ms));
    release.set();
    EXPECT_TRUE(t.join(10s));
    EXPECT_TRUE(t.done());
    EXPECT_TRUE(t.join(0ms));
    EXPECT_TRUE(t.join());
}

RINGLET_TEST(TaskSpawnTest, JoinNeverThrowsTheTasksError) {
    auto failing = ringlet::spawn([] {
        ringlet::yield();
        throw std::logic_error("no");
    });
    auto cancelled = ringlet::spawn([] { ringlet::sleep(1h); });
    ringlet::yield();
    cancelled.cancel();
    bool joined = false;
    EXPECT_NO_THROW(joined = failing.join());
    EXPECT_TRUE(joined);
    EXPECT_NO_THROW(joined = cancelled.join());
    EXPECT_TRUE(joined);
    EXPECT_TRUE(failing.failed());
    EXPECT_TRUE(cancelled.cancelled());
}

RINGLET_TEST(TaskSpawnTest, ManyJoinersAllWake) {
    ringlet::Event release;
    auto target = ringlet::spawn([&] {
        release.wait();
        return 5;
    });
    std::vector<ringlet::Task<int>> joiners;
    for (int i = 0; i < 10; ++i) joiners.push_back(ringlet::spawn([&target] { return target.join() ? 1 : 0; }));
    ringlet::yield();
    release.set();
    int sum = 0;
    for (auto& j : joiners) sum += j.get();
    EXPECT_EQ(sum, 10);
}

RINGLET_TEST(TaskSpawnTest, JoiningYourselfThrowsUsageError) {
    ringlet::Task<void> self;
    bool join_threw = false;
    bool get_threw = false;
    self = ringlet::spawn([&] {
        // spawn() returned before the task first ran, so `self` is set.
        try {
            self.join();
        } catch (const ringlet::UsageError&) {
            join_threw = true;
        }
        try {
            self.get();
        } catch (const ringlet::UsageError&) {
            get_threw = true;
        }
    });
    self.join();
    EXPECT_TRUE(join_threw);
    EXPECT_TRUE(get_threw);
    EXPECT_FALSE(self.failed());
}

RINGLET_TEST(TaskSpawnTest, EmptyHandleThrowsUsageError) {
    ringlet::Task<int> empty;
    EXPECT_FALSE(empty.valid());
    EXPECT_THROW(empty.get(), ringlet::UsageError);
    EXPECT_THROW(empty.join(), ringlet::UsageError);
    EXPECT_THROW(empty.join(1ms), ringlet::UsageError);
    EXPECT_THROW(empty.cancel(), ringlet::UsageError);
    EXPECT_THROW((void)empty.done(), ringlet::UsageError);
    EXPECT_THROW((void)empty.failed(), ringlet::UsageError);
    EXPECT_THROW((void)empty.cancelled(), ringlet::UsageError);
    EXPECT_THROW((void)empty.exception(), ringlet::UsageError);
    EXPECT_THROW((void)empty.id(), ringlet::UsageError);
    EXPECT_THROW((void)empty.name(), ringlet::UsageError);
    EXPECT_NO_THROW(empty.detach());
}

RINGLET_TEST(TaskSpawnTest, MovedFromAndDetachedHandlesAreEmpty) {
    auto a = ringlet::spawn([] { return 1; });
    auto b = std::move(a);
    EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move)
    EXPECT_THROW(a.get(), ringlet::UsageError);
    EXPECT_TRUE(b.valid());
    b.detach();
    EXPECT_FALSE(b.valid());
    EXPECT_THROW(b.join(), ringlet::UsageError);
}

// ---- status --------------------------------------------------------------------------

RINGLET_TEST(TaskSpawnTest, StatusOfARunningTask) {
    ringlet::Event release;
    auto t = ringlet::spawn([&] { release.wait(); });
    ringlet::yield();
    EXPECT_FALSE(t.done());
    EXPECT_FALSE(t.failed());
    EXPECT_FALSE(t.cancelled());
    EXPECT_EQ(t.exception(), nullptr);
    EXPECT_NE(t.id(), 0u);
    release.set();
    t.join();
}

RINGLET_TEST(TaskSpawnTest, StatusOfATaskThatReturned) {
    auto t = ringlet::spawn([] { return 1; });
    t.join();
    EXPECT_TRUE(t.done());
    EXPECT_FALSE(t.failed());
    EXPECT_FALSE(t.cancelled());
    EXPECT_EQ(t.exception(), nullptr);
}

RINGLET_TEST(TaskSpawnTest, StatusOfATaskThatFailed) {
    auto t = ringlet::spawn([] { throw std::domain_error("dom"); });
    t.join();
    EXPECT_TRUE(t.done());
    EXPECT_TRUE(t.failed());
    EXPECT_FALSE(t.cancelled());
    std::exception_ptr e = t.exception();
    ASSERT_NE(e, nullptr);
    try {
        std::rethrow_exception(e);
    } catch (const std::domain_error& err) {
        EXPECT_STREQ(err.what(), "dom");
    }
}

RINGLET_TEST(TaskSpawnTest, StatusOfATaskThatWasCancelled) {
    auto t = ringlet::spawn([] { ringlet::sleep(1h); });
    ringlet::yield();
    t.cancel();
    EXPECT_FALSE(t.done());  // cancel() does not wait
    t.join();
    EXPECT_TRUE(t.done());
    EXPECT_FALSE(t.failed());
    EXPECT_TRUE(t.cancelled());
}

RINGLET_TEST(TaskSpawnTest, IdsAreUniqueAndNonZero) {
    std::set<ringlet::TaskId> ids;
    ids.insert(ringlet::current_task());
    std::vector<ringlet::Task<ringlet::TaskId>> tasks;
    for (int i = 0; i < 200; ++i) tasks.push_back(ringlet::spawn([] { return ringlet::current_task(); }));
    for (auto& t : tasks) {
        const ringlet::TaskId id = t.id();
        EXPECT_NE(id, 0u);
        EXPECT_EQ(t.get(), id);  // current_task() inside is the handle's id
        ids.insert(id);
    }
    EXPECT_EQ(ids.size(), 201u);
    EXPECT_EQ(ids.count(0), 0u);
}

RINGLET_TEST(TaskSpawnTest, IdsAreUniqueAcrossSchedulers) {
    ringlet::TaskId other = 0;
    std::thread th([&] { other = ringlet::run([] { return ringlet::current_task(); }); });
    th.join();
    auto t = ringlet::spawn([] {});
    EXPECT_NE(other, 0u);
    EXPECT_NE(other, t.id());
    EXPECT_NE(other, ringlet::current_task());
    t.join();
}

// ---- detach --------------------------------------------------------------------------

RINGLET_TEST(TaskSpawnTest, DetachedTaskKeepsRunning) {
    ringlet::Event step;
    ringlet::Event finished;
    auto t = ringlet::spawn([&] {
        step.wait();
        finished.set();
    });
    t.detach();
    EXPECT_FALSE(t.valid());
    step.set();
    EXPECT_TRUE(finished.wait(10s));
}

RINGLET_TEST(TaskSpawnTest, DroppedHandleDetaches) {
    ringlet::Event finished;
    { auto t = ringlet::spawn([&] { finished.set(); }); }
    EXPECT_TRUE(finished.wait(10s));
}

RINGLET_TEST(TaskSpawnTest, HandleDroppedOnAnotherThreadFreesTheTask) {
    const std::size_t before = ringlet::stats().stacks_in_use;
    auto t = ringlet::spawn([] { return 1; });
    t.join();
    std::thread th([h = std::move(t)]() mutable { EXPECT_EQ(h.get(), 1); });
    th.join();
    // The owner frees it at its next turn.
    for (int i = 0; i < 100 && ringlet::stats().stacks_in_use != before; ++i) ringlet::sleep(1ms);
    EXPECT_EQ(ringlet::stats().stacks_in_use, before);
}

// ---- joinall -------------------------------------------------------------------------

RINGLET_TEST(TaskSpawnTest, JoinallRange) {
    std::vector<ringlet::Task<int>> tasks;
    for (int i = 0; i < 20; ++i) {
        tasks.push_back(ringlet::spawn([i] {
            ringlet::sleep(std::chrono::milliseconds(i % 3));
            return i;
        }));
    }
    EXPECT_TRUE(ringlet::joinall(tasks));
    int sum = 0;
    for (auto& t : tasks) {
        EXPECT_TRUE(t.done());
        sum += t.get();
    }
    EXPECT_EQ(sum, 190);
}

RINGLET_TEST(TaskSpawnTest, JoinallRangeTimeoutExpires) {
    ringlet::Event release;
    std::vector<ringlet::Task<void>> tasks;
    tasks.push_back(ringlet::spawn([] {}));
    tasks.push_back(ringlet::spawn([&] { release.wait(); }));
    tasks.push_back(ringlet::spawn([] {}));
    EXPECT_FALSE(ringlet::joinall(tasks, 5ms));
    EXPECT_FALSE(tasks[1].done());
    release.set();
    EXPECT_TRUE(ringlet::joinall(tasks, 10s));
    for (auto& t : tasks) EXPECT_TRUE(t.done());
}

RINGLET_TEST(TaskSpawnTest, JoinallRangeSkipsEmptyHandlesAndIgnoresErrors) {
    std::vector<ringlet::Task<int>> tasks;
    tasks.emplace_back();
    tasks.push_back(ringlet::spawn([]() -> int { throw std::runtime_error("x"); }));
    tasks.push_back(ringlet::spawn([] { return 1; }));
    EXPECT_NO_THROW(EXPECT_TRUE(ringlet::joinall(tasks)));
    EXPECT_TRUE(tasks[1].failed());
}

RINGLET_TEST(TaskSpawnTest, JoinallEmptyRange) {
    std::vector<ringlet::Task<int>> none;
    EXPECT_TRUE(ringlet::joinall(none));
    EXPECT_TRUE(ringlet::joinall(none, 0ms));
}

RINGLET_TEST(TaskSpawnTest, JoinallVariadicMixedTypes) {
    auto a = ringlet::spawn([] { return 1; });
    auto b = ringlet::spawn([] { ringlet::sleep(1ms); });
    auto c = ringlet::spawn([] { return std::string("c"); });
    EXPECT_TRUE(ringlet::joinall(a, b, c));
    EXPECT_TRUE(a.done());
    EXPECT_TRUE(b.done());
    EXPECT_TRUE(c.done());
}

RINGLET_TEST(TaskSpawnTest, JoinallVariadicTrailingTimeoutExpires) {
    ringlet::Event release;
    auto a = ringlet::spawn([] { return 1; });
    auto b = ringlet::spawn([&] { release.wait(); });
    EXPECT_FALSE(ringlet::joinall(a, b, 5ms));
    EXPECT_FALSE(b.done());
    release.set();
    EXPECT_TRUE(ringlet::joinall(a, b, 10s));
    EXPECT_TRUE(b.done());
}

RINGLET_TEST(TaskSpawnTest, JoinallVariadicSingleTask) {
    auto a = ringlet::spawn([] { return 1; });
    EXPECT_TRUE(ringlet::joinall(a));
    EXPECT_TRUE(a.done());
}

// ---- current_task and yield ----------------------------------------------------------

RINGLET_TEST(TaskSpawnTest, CurrentTaskIsNonZeroAndDiffersBetweenTasks) {
    const ringlet::TaskId main_id = ringlet::current_task();
    EXPECT_NE(main_id, 0u);
    auto a = ringlet::spawn([] { return ringlet::current_task(); });
    auto b = ringlet::spawn([] { return ringlet::current_task(); });
    const ringlet::TaskId ia = a.get();
    const ringlet::TaskId ib = b.get();
    EXPECT_NE(ia, 0u);
    EXPECT_NE(ib, 0u);
    EXPECT_NE(ia, ib);
    EXPECT_NE(ia, main_id);
    EXPECT_EQ(ringlet::current_task(), main_id);  // unchanged after switching back
}

TEST(TaskSpawnTest, CurrentTaskIsZeroOnAPlainThread) {
    EXPECT_EQ(ringlet::current_task(), 0u);
    ringlet::TaskId seen = 1;
    std::thread th([&] { seen = ringlet::current_task(); });
    th.join();
    EXPECT_EQ(seen, 0u);
}

RINGLET_TEST(TaskSpawnTest, CurrentTaskIsZeroOnAThreadStartedByATask) {
    ringlet::TaskId seen = 1;
    std::thread th([&] { seen = ringlet::current_task(); });
    th.join();
    EXPECT_EQ(seen, 0u);
}

RINGLET_TEST(TaskSpawnTest, YieldRunsOthersInFifoOrder) {
    std::vector<int> order;
    std::vector<ringlet::Task<void>> tasks;
    for (int i = 0; i < 3; ++i) {
        tasks.push_back(ringlet::spawn([&order, i] {
            for (int round = 0; round < 3; ++round) {
                order.push_back(i);
                ringlet::yield();
            }
        }));
    }
    ringlet::joinall(tasks);
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 0, 1, 2, 0, 1, 2}));
}

RINGLET_TEST(TaskSpawnTest, YieldInterleavesWithTheCaller) {
    std::vector<int> order;
    auto t = ringlet::spawn([&] {
        order.push_back(1);
        ringlet::yield();
        order.push_back(3);
    });
    order.push_back(0);
    ringlet::yield();
    order.push_back(2);
    ringlet::yield();
    order.push_back(4);
    t.join();
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

RINGLET_TEST(TaskSpawnTest, YieldAloneReturns) {
    for (int i = 0; i < 100; ++i) ringlet::yield();
    SUCCEED();
}

TEST(TaskSpawnTest, YieldOnAPlainThreadReturns) {
    EXPECT_NO_THROW(ringlet::yield());
}

// ---- scale ---------------------------------------------------------------------------

RINGLET_TEST(TaskSpawnTest, TenThousandTasksSpawnedAndJoined) {
#if defined(__SANITIZE_THREAD__)
    constexpr int n = 4000;  // ThreadSanitizer counts every fiber as a thread (8128 at most)
#else
    constexpr int n = 10000;
#endif
    std::vector<ringlet::Task<long>> tasks;
    tasks.reserve(n);
    for (int i = 0; i < n; ++i) {
        tasks.push_back(ringlet::spawn([i] {
            ringlet::yield();
            return static_cast<long>(i);
        }));
    }
    EXPECT_TRUE(ringlet::joinall(tasks));
    long sum = 0;
    for (auto& t : tasks) sum += t.get();
    EXPECT_EQ(sum, static_cast<long>(n) * (n - 1) / 2);
    EXPECT_EQ(ringlet::stats().tasks_live, 1u);  // only main is left
}

// ---- unobserved failures -------------------------------------------------------------

RINGLET_TEST(TaskSpawnTest, FailedTaskWithDroppedHandleIsReportedOnStderr) {
    testing::internal::CaptureStderr();
    {
        auto t = ringlet::spawn(ringlet::SpawnOptions{.name = "doomed"},
                                [] { throw std::runtime_error("boom-4711"); });
    }
    ringlet::yield();  // it runs, fails and is freed
    ringlet::yield();
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("failed and was never joined"), std::string::npos) << err;
    EXPECT_NE(err.find("boom-4711"), std::string::npos) << err;
    EXPECT_NE(err.find("doomed"), std::string::npos) << err;
}

RINGLET_TEST(TaskSpawnTest, FailedTaskDroppedBeforeItEndsIsReported) {
    testing::internal::CaptureStderr();
    ringlet::Event go;
    ringlet::Event done;
    ringlet::spawn([&] {
        go.wait();
        done.set();
        throw std::runtime_error("late-failure-99");
    }).detach();
    ringlet::yield();
    go.set();
    done.wait();
    ringlet::yield();
    ringlet::yield();
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("failed and was never joined"), std::string::npos) << err;
    EXPECT_NE(err.find("late-failure-99"), std::string::npos) << err;
}

RINGLET_TEST(TaskSpawnTest, ObservedFailureIsNotReported) {
    testing::internal::CaptureStderr();
    {
        auto t = ringlet::spawn([] { throw std::runtime_error("seen"); });
        t.join();
        EXPECT_TRUE(t.failed());
    }
    {
        auto t = ringlet::spawn([]() -> int { throw std::runtime_error("seen too"); });
        EXPECT_THROW(t.get(), std::runtime_error);
    }
    {
        auto t = ringlet::spawn([] { ringlet::sleep(1h); });
        ringlet::yield();
        t.cancel();
    }  // a cancel is not a failure
    ringlet::sleep(1ms);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(err.find("never joined"), std::string::npos) << err;
}
