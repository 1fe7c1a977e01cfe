// tests/runtime/generator_test.cpp — ringlet::Generator<T, In>: the Python
// producer/consumer's send()-style consumer, iteration, errors, unwinding,
// moves, long runs.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;

namespace {

struct SetOnDestroy {
    bool* flag;
    ~SetOnDestroy() { *flag = true; }
};

// Fibonacci numbers up to `limit`.
ringlet::Generator<int> fibonacci(int limit) {
    return ringlet::Generator<int>([limit](auto& yield) {
        int a = 0;
        int b = 1;
        while (a <= limit) {
            yield(a);
            const int next = a + b;
            a = b;
            b = next;
        }
    });
}

}  // namespace

// Python's yield/send() producer-consumer: the producer drives a consumer
// generator with send(); the consumer answers "200 OK" to every value and
// ends when resumed with nothing.
RINGLET_TEST(GeneratorTest, SeedProducerConsumer) {
    std::vector<int> consumed;
    ringlet::Generator<std::string, int> consumer([&](auto& yield) {
        std::string reply;
        while (auto n = yield(reply)) {
            consumed.push_back(*n);
            reply = "200 OK";
        }
    });
    EXPECT_FALSE(consumer.done());
    EXPECT_EQ(consumer.next(), "");  // start: runs to the first yield
    for (int n = 1; n <= 5; ++n) EXPECT_EQ(consumer.send(n), "200 OK");
    EXPECT_EQ(consumed, (std::vector<int>{1, 2, 3, 4, 5}));
    EXPECT_FALSE(consumer.done());
    consumer.close();
    EXPECT_TRUE(consumer.done());
    EXPECT_EQ(consumed.size(), 5u);
}

RINGLET_TEST(GeneratorTest, NextResumesYieldWithNullopt) {
    ringlet::Generator<std::string, int> consumer([](auto& yield) {
        std::string reply;
        while (auto n = yield(reply)) reply = std::to_string(*n);
    });
    EXPECT_EQ(consumer.next(), "");
    EXPECT_EQ(consumer.send(3), "3");
    // next() makes the pending yield return nullopt: the body returns.
    EXPECT_EQ(consumer.next(), std::nullopt);
    EXPECT_TRUE(consumer.done());
    EXPECT_EQ(consumer.send(4), std::nullopt);
}

RINGLET_TEST(GeneratorTest, RangeForOverFiniteGenerator) {
    std::vector<int> got;
    for (int& v : fibonacci(100)) got.push_back(v);
    EXPECT_EQ(got, (std::vector<int>{0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89}));
}

RINGLET_TEST(GeneratorTest, NextReturnsNulloptAtEnd) {
    auto gen = fibonacci(2);
    EXPECT_EQ(gen.next(), 0);
    EXPECT_EQ(gen.next(), 1);
    EXPECT_EQ(gen.next(), 1);
    EXPECT_FALSE(gen.done());
    EXPECT_EQ(gen.next(), 2);
    EXPECT_EQ(gen.next(), std::nullopt);
    EXPECT_TRUE(gen.done());
    EXPECT_EQ(gen.next(), std::nullopt);  // stays finished
}

RINGLET_TEST(GeneratorTest, EmptyBodyEndsAtOnce) {
    ringlet::Generator<int> gen([](auto&) {});
    EXPECT_EQ(gen.next(), std::nullopt);
    EXPECT_TRUE(gen.done());
    int count = 0;
    for (int& v : gen) count += v + 1;
    EXPECT_EQ(count, 0);
}

RINGLET_TEST(GeneratorTest, BodyExceptionPropagatesAndFinishes) {
    bool destroyed = false;
    ringlet::Generator<int> gen([&](auto& yield) {
        SetOnDestroy guard{&destroyed};
        yield(1);
        throw std::runtime_error("body failed");
    });
    EXPECT_EQ(gen.next(), 1);
    try {
        gen.next();
        ADD_FAILURE() << "next() did not throw";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "body failed");
    }
    EXPECT_TRUE(destroyed);
    EXPECT_TRUE(gen.done());
    EXPECT_EQ(gen.next(), std::nullopt);
}

RINGLET_TEST(GeneratorTest, BodyExceptionInRangeForPropagates) {
    ringlet::Generator<int> gen([](auto& yield) {
        yield(1);
        yield(2);
        throw std::out_of_range("stop");
    });
    std::vector<int> got;
    EXPECT_THROW(
        {
            for (int& v : gen) got.push_back(v);
        },
        std::out_of_range);
    EXPECT_EQ(got, (std::vector<int>{1, 2}));
    EXPECT_TRUE(gen.done());
}

RINGLET_TEST(GeneratorTest, DestroyingSuspendedGeneratorUnwindsBody) {
    bool destroyed = false;
    bool after_yield = false;
    {
        ringlet::Generator<int> gen([&](auto& yield) {
            SetOnDestroy guard{&destroyed};
            yield(1);
            after_yield = true;
            yield(2);
        });
        EXPECT_EQ(gen.next(), 1);
        EXPECT_FALSE(destroyed);
    }
    EXPECT_TRUE(destroyed);
    EXPECT_FALSE(after_yield);
}

RINGLET_TEST(GeneratorTest, DestroyingUnstartedGeneratorDoesNotRunBody) {
    bool ran = false;
    {
        ringlet::Generator<int> gen([&ran](auto& yield) {
            ran = true;
            yield(1);
        });
        EXPECT_FALSE(gen.done());
    }
    EXPECT_FALSE(ran);
}

RINGLET_TEST(GeneratorTest, UnstartedGeneratorReleasesItsCallable) {
    auto shared = std::make_shared<int>(1);
    {
        ringlet::Generator<int> gen([shared](auto& yield) { yield(*shared); });
        EXPECT_EQ(shared.use_count(), 2);
    }
    EXPECT_EQ(shared.use_count(), 1);
}

RINGLET_TEST(GeneratorTest, CloseUnwindsAndIsIdempotent) {
    bool destroyed = false;
    ringlet::Generator<int> gen([&](auto& yield) {
        SetOnDestroy guard{&destroyed};
        for (int i = 0;; ++i) yield(i);
    });
    EXPECT_EQ(gen.next(), 0);
    EXPECT_EQ(gen.next(), 1);
    gen.close();
    EXPECT_TRUE(destroyed);
    EXPECT_TRUE(gen.done());
    gen.close();
    EXPECT_TRUE(gen.done());
    EXPECT_EQ(gen.next(), std::nullopt);
}

RINGLET_TEST(GeneratorTest, CloseUnstartedAndFinishedGenerators) {
    bool ran = false;
    ringlet::Generator<int> unstarted([&](auto& yield) {
        ran = true;
        yield(1);
    });
    unstarted.close();
    EXPECT_TRUE(unstarted.done());
    EXPECT_EQ(unstarted.next(), std::nullopt);
    EXPECT_FALSE(ran);

    auto finished = fibonacci(0);
    EXPECT_EQ(finished.next(), 0);
    EXPECT_EQ(finished.next(), std::nullopt);
    finished.close();
    EXPECT_TRUE(finished.done());
}

RINGLET_TEST(GeneratorTest, CatchAllInBodyDoesNotSwallowClose) {
    // CoroutineUnwind is not a std::exception: catch (std::exception&) in the
    // body cannot swallow a close.
    bool destroyed = false;
    bool caught = false;
    ringlet::Generator<int> gen([&](auto& yield) {
        SetOnDestroy guard{&destroyed};
        try {
            yield(1);
        } catch (const std::exception&) {
            caught = true;
        }
        yield(2);
    });
    EXPECT_EQ(gen.next(), 1);
    gen.close();
    EXPECT_TRUE(destroyed);
    EXPECT_FALSE(caught);
}

RINGLET_TEST(GeneratorTest, BodyMaySleepAndYieldInsideTask) {
    int ticks = 0;
    ringlet::Event stop;
    auto ticker = ringlet::spawn([&] {
        while (!stop.is_set()) {
            ++ticks;
            ringlet::yield();
        }
    });
    ringlet::Generator<int> gen([](auto& yield) {
        for (int i = 0; i < 3; ++i) {
            ringlet::sleep(1ms);
            ringlet::yield();
            yield(i);
        }
    });
    std::vector<int> got;
    for (int& v : gen) got.push_back(v);
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2}));
    EXPECT_GT(ticks, 0);  // other tasks ran while the body was suspended
    stop.set();
    ticker.join();
}

RINGLET_TEST(GeneratorTest, DrivenFromSpawnedTasks) {
    // Two tasks each drive their own generator, interleaving at the sleeps.
    auto drive = [](int base) {
        ringlet::Generator<int> gen([base](auto& yield) {
            for (int i = 0; i < 5; ++i) {
                ringlet::sleep(1ms);
                yield(base + i);
            }
        });
        int sum = 0;
        for (int& v : gen) sum += v;
        return sum;
    };
    auto a = ringlet::spawn(drive, 0);
    auto b = ringlet::spawn(drive, 100);
    EXPECT_EQ(a.get(), 0 + 1 + 2 + 3 + 4);
    EXPECT_EQ(b.get(), 500 + 0 + 1 + 2 + 3 + 4);
}

RINGLET_TEST(GeneratorTest, GeneratorCreatedInOneTaskDrivenByAnother) {
    ringlet::Generator<int> gen([](auto& yield) {
        for (int i = 0; i < 4; ++i) {
            ringlet::yield();
            yield(i);
        }
    });
    EXPECT_EQ(gen.next(), 0);
    auto other = ringlet::spawn([&] {
        std::vector<int> rest;
        while (auto v = gen.next()) rest.push_back(*v);
        return rest;
    });
    EXPECT_EQ(other.get(), (std::vector<int>{1, 2, 3}));
}

RINGLET_TEST(GeneratorTest, CancelledWhileBodySleepsUnwindsBody) {
    bool destroyed = false;
    auto task = ringlet::spawn([&] {
        ringlet::Generator<int> gen([&](auto& yield) {
            SetOnDestroy guard{&destroyed};
            yield(0);
            ringlet::sleep(1h);
            yield(1);
        });
        gen.next();
        gen.next();  // Cancelled arrives inside the body and comes out here
    });
    ringlet::yield();
    ringlet::yield();
    ASSERT_FALSE(task.done());
    task.cancel();
    EXPECT_TRUE(task.join(10s));
    EXPECT_TRUE(task.cancelled());
    EXPECT_TRUE(destroyed);
}

RINGLET_TEST(GeneratorTest, MoveConstructMidIteration) {
    auto gen = fibonacci(1000);
    EXPECT_EQ(gen.next(), 0);
    EXPECT_EQ(gen.next(), 1);
    ringlet::Generator<int> moved(std::move(gen));
    EXPECT_TRUE(gen.done());  // NOLINT(bugprone-use-after-move): documented state
    EXPECT_THROW(gen.next(), ringlet::UsageError);
    gen.close();  // harmless on a moved-from generator
    EXPECT_EQ(moved.next(), 1);
    EXPECT_EQ(moved.next(), 2);
    std::vector<int> rest;
    for (int& v : moved) rest.push_back(v);
    EXPECT_EQ(rest.front(), 3);
    EXPECT_EQ(rest.back(), 987);
}

RINGLET_TEST(GeneratorTest, MoveAssignDestroysOldBody) {
    bool first_destroyed = false;
    ringlet::Generator<int> a([&](auto& yield) {
        SetOnDestroy guard{&first_destroyed};
        for (;;) yield(1);
    });
    EXPECT_EQ(a.next(), 1);
    auto b = fibonacci(10);
    EXPECT_EQ(b.next(), 0);
    a = std::move(b);
    EXPECT_TRUE(first_destroyed);
    EXPECT_EQ(a.next(), 1);
    EXPECT_EQ(a.next(), 1);
    EXPECT_EQ(a.next(), 2);
}

RINGLET_TEST(GeneratorTest, ManyStepsComplete) {
    constexpr int steps = 10000;
    ringlet::Generator<std::uint64_t, std::uint64_t> acc([](auto& yield) {
        std::uint64_t total = 0;
        while (auto n = yield(total)) total += *n;
    });
    acc.next();
    std::uint64_t last = 0;
    for (int i = 1; i <= steps; ++i) last = *acc.send(static_cast<std::uint64_t>(i));
    EXPECT_EQ(last, std::uint64_t{steps} * (steps + 1) / 2);

    std::uint64_t count = 0;
    ringlet::Generator<int> counter([](auto& yield) {
        for (int i = 0; i < steps; ++i) yield(i);
    });
    for (int& v : counter) count += static_cast<std::uint64_t>(v) + 1;
    EXPECT_EQ(count, std::uint64_t{steps} * (steps + 1) / 2);
}

RINGLET_TEST(GeneratorTest, ManyGeneratorsCreatedAndDestroyed) {
    // Each generator maps and unmaps its own stack: none may leak.
    long sum = 0;
    for (int i = 0; i < 2000; ++i) {
        auto gen = fibonacci(i % 50);
        if (auto v = gen.next()) sum += *v;
        if (auto v = gen.next()) sum += *v;
    }
    EXPECT_EQ(sum, 2000 - 40);  // fibonacci(0) yields only 0: 40 of 2000 miss the 1
}

RINGLET_TEST(GeneratorTest, CustomStackSize) {
    ringlet::Generator<int> gen(
        [](auto& yield) {
            char buffer[200 * 1024];
            for (std::size_t i = 0; i < sizeof buffer; i += 4096) buffer[i] = static_cast<char>(i);
            yield(buffer[4096]);
        },
        512 * 1024);
    EXPECT_EQ(gen.next(), static_cast<char>(4096));
}

RINGLET_TEST(GeneratorTest, MoveOnlyValues) {
    ringlet::Generator<std::unique_ptr<int>> gen([](auto& yield) {
        for (int i = 0; i < 3; ++i) yield(std::make_unique<int>(i));
    });
    int sum = 0;
    for (auto& p : gen) sum += *p;
    EXPECT_EQ(sum, 3);
}

RINGLET_TEST(GeneratorTest, BodyRunsInsideTheDrivingTask) {
    ringlet::Generator<ringlet::TaskId> gen([](auto& yield) {
        for (;;) yield(ringlet::current_task());
    });
    EXPECT_EQ(gen.next(), ringlet::current_task());
    auto other = ringlet::spawn([&] { return std::pair(*gen.next(), ringlet::current_task()); });
    auto [seen, driver] = other.get();
    EXPECT_EQ(seen, driver);
    EXPECT_NE(driver, ringlet::current_task());
}

RINGLET_TEST(GeneratorTest, EnclosingTimeoutScopeReachesBody) {
    bool destroyed = false;
    ringlet::Generator<int> gen([&](auto& yield) {
        SetOnDestroy guard{&destroyed};
        yield(0);
        ringlet::sleep(1h);
        yield(1);
    });
    EXPECT_EQ(gen.next(), 0);
    EXPECT_THROW(ringlet::with_timeout(10ms, [&] { return gen.next(); }), ringlet::TimeoutError);
    EXPECT_TRUE(destroyed);
    EXPECT_TRUE(gen.done());
}

// No scheduler anywhere: a generator on the main thread and on a plain thread.
TEST(GeneratorTest, WorksWithoutScheduler) {
    std::vector<int> got;
    for (int& v : fibonacci(10)) got.push_back(v);
    EXPECT_EQ(got, (std::vector<int>{0, 1, 1, 2, 3, 5, 8}));
    int sum = 0;
    std::thread t([&] {
        ringlet::Generator<std::string, int> echo([](auto& yield) {
            std::string reply;
            while (auto n = yield(reply)) reply = std::to_string(*n * 2);
        });
        echo.next();
        for (int i = 1; i <= 4; ++i) sum += std::stoi(*echo.send(i));
    });
    t.join();
    EXPECT_EQ(sum, 2 + 4 + 6 + 8);
}

RINGLET_TEST(GeneratorTest, ResumingFromInsideItsBodyThrowsUsageError) {
    ringlet::Generator<int>* self = nullptr;
    ringlet::Generator<int> gen([&](auto& yield) {
        bool caught = false;
        try {
            self->next();
        } catch (const ringlet::UsageError&) {
            caught = true;
        }
        yield(caught ? 1 : 0);
    });
    self = &gen;
    EXPECT_EQ(gen.next(), 1);
    EXPECT_EQ(gen.next(), std::nullopt);  // the generator is still usable
}
