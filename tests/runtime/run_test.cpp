// tests/runtime/run_test.cpp — ringlet::run: main's value and exception, leftover
// tasks cancelled and destroyed, nesting, backends, repeated runs, handles outliving run.
#include <atomic>
#include <chrono>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;

namespace {

struct SetOnDestroy {
    std::atomic<bool>* flag;
    explicit SetOnDestroy(std::atomic<bool>* f) : flag(f) {}
    SetOnDestroy(SetOnDestroy&& o) noexcept : flag(std::exchange(o.flag, nullptr)) {}
    SetOnDestroy(const SetOnDestroy&) = delete;
    ~SetOnDestroy() {
        if (flag) flag->store(true);
    }
};

}  // namespace

TEST(RunTest, ReturnsMainsValue) {
    EXPECT_EQ(ringlet::run([] { return 42; }), 42);
    EXPECT_EQ(ringlet::run([] { return std::string("hello"); }), "hello");
}

TEST(RunTest, ReturnsVoid) {
    bool ran = false;
    ringlet::run([&] { ran = true; });
    EXPECT_TRUE(ran);
}

TEST(RunTest, ReturnsMoveOnlyValue) {
    std::unique_ptr<int> p = ringlet::run([] { return std::make_unique<int>(7); });
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, 7);
}

TEST(RunTest, MainSeesValueOfSuspendingWork) {
    const int v = ringlet::run([] {
        auto t = ringlet::spawn([] {
            ringlet::sleep(1ms);
            return 20;
        });
        ringlet::yield();
        return t.get() + 1;
    });
    EXPECT_EQ(v, 21);
}

TEST(RunTest, RethrowsMainsException) {
    testing::internal::CaptureStderr();
    try {
        ringlet::run([]() -> int { throw std::runtime_error("main failed: 17"); });
        ADD_FAILURE() << "run() did not rethrow";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "main failed: 17");
    }
    // The exception reached its owner, so it is not also reported as unjoined.
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(err.find("never joined"), std::string::npos) << err;
}

TEST(RunTest, RethrowsMainsExceptionAfterSuspending) {
    EXPECT_THROW(ringlet::run([] {
                     ringlet::sleep(1ms);
                     throw std::out_of_range("late");
                 }),
                 std::out_of_range);
}

TEST(RunTest, MainEndingByCancelledRethrowsCancelled) {
    EXPECT_THROW(ringlet::run([] { throw ringlet::Cancelled{}; }), ringlet::Cancelled);
}

TEST(RunTest, LeftoverSleepingTaskIsCancelledAndDestroyedBeforeRunReturns) {
    std::atomic<bool> destroyed{false};
    std::atomic<bool> woke{false};
    ringlet::Task<void> handle;
    ringlet::run([&] {
        handle = ringlet::spawn([&] {
            SetOnDestroy guard(&destroyed);
            ringlet::sleep(1h);
            woke = true;
        });
        ringlet::yield();  // let it reach its sleep
        EXPECT_FALSE(destroyed.load());
    });
    EXPECT_TRUE(destroyed.load());
    EXPECT_FALSE(woke.load());
    ASSERT_TRUE(handle.valid());
    EXPECT_TRUE(handle.done());
    EXPECT_TRUE(handle.cancelled());
    EXPECT_FALSE(handle.failed());
}

TEST(RunTest, LeftoverDetachedTaskIsUnwound) {
    std::atomic<bool> destroyed{false};
    ringlet::run([&] {
        ringlet::spawn([&] {
            SetOnDestroy guard(&destroyed);
            ringlet::Event never;
            never.wait();
        }).detach();
        ringlet::yield();
    });
    EXPECT_TRUE(destroyed.load());
}

TEST(RunTest, LeftoverTaskThatNeverBlocksIsCancelledAtItsYield) {
    std::atomic<bool> destroyed{false};
    long spins = 0;
    ringlet::run([&] {
        ringlet::spawn([&] {
            SetOnDestroy guard(&destroyed);
            for (;;) {
                ++spins;
                ringlet::yield();
            }
        }).detach();
        ringlet::yield();
        ringlet::yield();
    });
    EXPECT_TRUE(destroyed.load());
    EXPECT_GE(spins, 1);
}

TEST(RunTest, LeftoverTaskThatNeverRanIsCancelledWithoutRunningItsBody) {
    std::atomic<bool> ran{false};
    std::atomic<bool> captured_destroyed{false};
    ringlet::Task<void> handle;
    ringlet::run([&] {
        // Spawned last thing: main ends before reaching a suspension point.
        handle = ringlet::spawn([&ran, g = std::make_shared<SetOnDestroy>(&captured_destroyed)] {
            ran = true;
        });
    });
    EXPECT_FALSE(ran.load());
    EXPECT_TRUE(captured_destroyed.load());
    EXPECT_TRUE(handle.cancelled());
}

TEST(RunTest, LeftoversSpawnedByLeftoversAreAlsoUnwound) {
    std::atomic<bool> inner_destroyed{false};
    std::atomic<bool> outer_destroyed{false};
    ringlet::run([&] {
        ringlet::spawn([&] {
            SetOnDestroy guard(&outer_destroyed);
            ringlet::spawn([&] {
                SetOnDestroy g2(&inner_destroyed);
                ringlet::sleep(1h);
            }).detach();
            ringlet::sleep(1h);
        }).detach();
        ringlet::yield();
        ringlet::yield();
    });
    EXPECT_TRUE(outer_destroyed.load());
    EXPECT_TRUE(inner_destroyed.load());
}

TEST(RunTest, LeftoverThatSwallowsOneCancelIsCancelledAgain) {
    std::atomic<bool> destroyed{false};
    std::atomic<int> swallowed{0};
    ringlet::run([&] {
        ringlet::spawn([&] {
            SetOnDestroy guard(&destroyed);
            try {
                ringlet::sleep(1h);
            } catch (const ringlet::Cancelled&) {
                ++swallowed;
            }
            ringlet::sleep(1h);  // run() must cancel this wait too
        }).detach();
        ringlet::yield();
    });
    EXPECT_EQ(swallowed.load(), 1);
    EXPECT_TRUE(destroyed.load());
}

TEST(RunTest, LeftoversAreUnwoundBeforeMainsExceptionIsRethrown) {
    std::atomic<bool> destroyed{false};
    try {
        ringlet::run([&] {
            ringlet::spawn([&] {
                SetOnDestroy guard(&destroyed);
                ringlet::sleep(1h);
            }).detach();
            ringlet::yield();
            throw std::runtime_error("main");
        });
        ADD_FAILURE() << "run() did not rethrow";
    } catch (const std::runtime_error&) {
        EXPECT_TRUE(destroyed.load());
    }
}

RINGLET_TEST(RunTest, NestedRunThrowsUsageError) {
    bool inner_ran = false;
    EXPECT_THROW(ringlet::run([&] { inner_ran = true; }), ringlet::UsageError);
    EXPECT_FALSE(inner_ran);
    // The outer scheduler is unharmed.
    auto t = ringlet::spawn([] { return 3; });
    EXPECT_EQ(t.get(), 3);
}

RINGLET_TEST(RunTest, NestedRunInSpawnedTaskThrowsUsageError) {
    auto t = ringlet::spawn([] {
        try {
            ringlet::run([] {});
        } catch (const ringlet::UsageError& e) {
            return std::string(e.what());
        }
        return std::string();
    });
    const std::string msg = t.get();
    EXPECT_NE(msg.find("spawn"), std::string::npos) << msg;
}

TEST(RunTest, EpollBackendOptionIsUsedAndWorks) {
    const std::string backend = ringlet::run(
        [] {
            // Real work on this backend: timers, spawn, join.
            auto t = ringlet::spawn([] {
                ringlet::sleep(2ms);
                return 5;
            });
            EXPECT_EQ(t.get(), 5);
            ringlet::Event e;
            EXPECT_FALSE(e.wait(1ms));
            return std::string(ringlet::stats().backend);
        },
        ringlet::Options{.backend = "epoll"});
    EXPECT_EQ(backend, "epoll");
}

TEST(RunTest, IoUringBackendOptionIsUsedOrFailsWithIoError) {
    std::string backend;
    try {
        backend = ringlet::run(
            [] {
                ringlet::sleep(1ms);
                return std::string(ringlet::stats().backend);
            },
            ringlet::Options{.backend = "io_uring"});
    } catch (const ringlet::IoError& e) {
        GTEST_SKIP() << "io_uring unavailable here: " << e.what();
    }
    EXPECT_EQ(backend, "io_uring");
}

TEST(RunTest, TinyRingStillServesManyTimers) {
    const int sum = ringlet::run(
        [] {
            std::vector<ringlet::Task<int>> tasks;
            for (int i = 0; i < 100; ++i) {
                tasks.push_back(ringlet::spawn([] {
                    ringlet::sleep(1ms);
                    return 1;
                }));
            }
            int s = 0;
            for (auto& t : tasks) s += t.get();
            return s;
        },
        ringlet::Options{.ring_entries = 1, .warm_stacks = 0});
    EXPECT_EQ(sum, 100);
}

TEST(RunTest, UnknownBackendThrowsUsageError) {
    bool ran = false;
    try {
        ringlet::run([&] { ran = true; }, ringlet::Options{.backend = "kqueue"});
        ADD_FAILURE() << "run() accepted an unknown backend";
    } catch (const ringlet::UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("kqueue"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(ran);
    // The failed start left no scheduler behind.
    EXPECT_THROW(ringlet::spawn([] {}), ringlet::UsageError);
    EXPECT_EQ(ringlet::run([] { return 1; }), 1);
}

TEST(RunTest, SpawnOutsideRunThrowsUsageError) {
    bool ran = false;
    try {
        auto t = ringlet::spawn([&] { ran = true; });
        ADD_FAILURE() << "spawn() worked with no scheduler";
    } catch (const ringlet::UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("ringlet::run"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(ran);
}

TEST(RunTest, SpawnOutsideRunWithOptionsThrowsUsageError) {
    EXPECT_THROW(ringlet::spawn(ringlet::SpawnOptions{.name = "x"}, [] { return 1; }),
                 ringlet::UsageError);
}

TEST(RunTest, RunTwiceSequentiallyOnOneThread) {
    for (int round = 0; round < 3; ++round) {
        const int v = ringlet::run([round] {
            auto t = ringlet::spawn([round] {
                ringlet::sleep(1ms);
                return round * 10;
            });
            return t.get();
        });
        EXPECT_EQ(v, round * 10);
    }
    // No scheduler is left behind on this thread.
    EXPECT_EQ(ringlet::current_task(), 0u);
    EXPECT_THROW(ringlet::spawn([] {}), ringlet::UsageError);
}

TEST(RunTest, RunAfterMainThrewWorks) {
    EXPECT_THROW(ringlet::run([] { throw std::runtime_error("x"); }), std::runtime_error);
    EXPECT_EQ(ringlet::run([] { return 2; }), 2);
}

TEST(RunTest, TaskHandleOutlivesRun) {
    ringlet::Task<int> ok;
    ringlet::Task<int> bad;
    ringlet::Task<int> leftover;
    ringlet::run([&] {
        ok = ringlet::spawn([] { return 99; });
        bad = ringlet::spawn([]() -> int { throw std::invalid_argument("bad task"); });
        leftover = ringlet::spawn([] {
            ringlet::sleep(1h);
            return 1;
        });
        ok.join();
        bad.join();
    });
    ASSERT_TRUE(ok.valid());
    EXPECT_TRUE(ok.done());
    EXPECT_FALSE(ok.failed());
    EXPECT_FALSE(ok.cancelled());
    EXPECT_EQ(ok.get(), 99);
    EXPECT_EQ(ok.get(), 99);
    EXPECT_TRUE(ok.join());
    EXPECT_NE(ok.id(), 0u);

    EXPECT_TRUE(bad.done());
    EXPECT_TRUE(bad.failed());
    EXPECT_NE(bad.exception(), nullptr);
    EXPECT_THROW(bad.get(), std::invalid_argument);

    EXPECT_TRUE(leftover.done());
    EXPECT_TRUE(leftover.cancelled());
    EXPECT_THROW(leftover.get(), ringlet::Cancelled);
    leftover.cancel();  // no effect on an ended task, even after run()
    EXPECT_TRUE(leftover.cancelled());
}

TEST(RunTest, HandleFromAnEarlierRunWorksInALaterOne) {
    ringlet::Task<int> old;
    ringlet::run([&] {
        old = ringlet::spawn([] { return 12; });
        old.join();
    });
    const int v = ringlet::run([&] {
        EXPECT_TRUE(old.join(0ms));
        const int r = old.get();
        old = ringlet::Task<int>();  // dropped inside a different scheduler
        return r;
    });
    EXPECT_EQ(v, 12);
    EXPECT_FALSE(old.valid());
}

TEST(RunTest, MoveOnlyHandleOutlivesRun) {
    ringlet::Task<std::unique_ptr<int>> t;
    ringlet::run([&] {
        t = ringlet::spawn([] { return std::make_unique<int>(4); });
        t.join();
    });
    auto p = t.get();
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, 4);
    EXPECT_THROW(t.get(), ringlet::UsageError);
}

// Copying it outside any task (run() copies main's value out after the loop
// has ended) asks another thread to act and waits until it has.
struct GateOnCopy {
    std::atomic<int>* phase;  // 0 idle, 1 "act now", 2 done
    explicit GateOnCopy(std::atomic<int>* p) : phase(p) {}
    GateOnCopy(GateOnCopy&& o) noexcept : phase(o.phase) {}
    GateOnCopy(const GateOnCopy& o) : phase(o.phase) {
        if (ringlet::current_task() != 0 || phase->load() != 0) return;
        phase->store(1);
        while (phase->load() != 2) std::this_thread::yield();
    }
    GateOnCopy& operator=(const GateOnCopy&) = delete;
    GateOnCopy& operator=(GateOnCopy&&) = delete;
};

TEST(RunTest, HandleDroppedOnAnotherThreadWhileRunReturnsIsFreed) {
    // Regression: a last handle dropped on another thread as run() returns leaked the task.
    // (Dropped after the loop's final drain_remote() but before ~Scheduler, it is
    // queued to a scheduler that never looks again: the task's result is never
    // destroyed and the stack pool leaks.)
    auto payload = std::make_shared<int>(1);
    std::atomic<int> phase{0};
    std::thread dropper;
    ringlet::run([&] {
        auto t = ringlet::spawn([payload] { return payload; });
        t.join();
        dropper = std::thread([h = std::move(t), &phase]() mutable {
            const auto give_up = std::chrono::steady_clock::now() + 10s;
            while (phase.load() != 1 && std::chrono::steady_clock::now() < give_up) {
                std::this_thread::yield();
            }
            h.detach();  // the last reference
            phase.store(2);
        });
        return GateOnCopy(&phase);
    });
    dropper.join();
    EXPECT_EQ(phase.load(), 2);
    EXPECT_EQ(payload.use_count(), 1) << "the task's result was never destroyed";
}

TEST(RunTest, HandleDroppedOnAnotherThreadAfterRunIsFreed) {
    auto payload = std::make_shared<int>(1);
    ringlet::Task<std::shared_ptr<int>> t;
    ringlet::run([&] {
        t = ringlet::spawn([payload] { return payload; });
        t.join();
    });
    EXPECT_EQ(payload.use_count(), 2);  // held by the task's result
    std::thread dropper([h = std::move(t)]() mutable { h.detach(); });
    dropper.join();
    EXPECT_EQ(payload.use_count(), 1);
}

TEST(RunTest, RunOnSeveralThreadsAtOnce) {
    constexpr int n = 4;
    std::atomic<int> sum{0};
    std::thread threads[n];
    for (int i = 0; i < n; ++i) {
        threads[i] = std::thread([&sum, i] {
            sum += ringlet::run([i] {
                auto t = ringlet::spawn([i] {
                    ringlet::sleep(2ms);
                    return i + 1;
                });
                return t.get();
            });
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(sum.load(), 1 + 2 + 3 + 4);
}

TEST(RunTest, MainIsATaskNamedMain) {
    const std::string name = ringlet::run([] {
        EXPECT_NE(ringlet::current_task(), 0u);
        std::ostringstream out;
        ringlet::dump_tasks(out);
        return out.str();
    });
    EXPECT_NE(name.find("main running"), std::string::npos) << name;
}
