// tests/runtime/promise_test.cpp — ringlet::Promise / Future (AsyncResult):
// values, exceptions, void, shared futures, timeouts, misuse, threads.
#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
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

RINGLET_TEST(PromiseTest, SetValueThenGet) {
    ringlet::Promise<std::string> p;
    auto f = p.get_future();
    EXPECT_TRUE(f.valid());
    EXPECT_FALSE(f.ready());
    EXPECT_FALSE(f.successful());
    p.set_value("hello");
    EXPECT_TRUE(f.ready());
    EXPECT_TRUE(f.successful());
    EXPECT_EQ(f.get(), "hello");
    EXPECT_EQ(f.get(), "hello");  // get() may be repeated: it returns a copy
}

RINGLET_TEST(PromiseTest, GetWaitsForLaterSetValue) {
    ringlet::Promise<int> p;
    auto f = p.get_future();
    bool setter_ran = false;
    auto setter = ringlet::spawn([&] {
        ringlet::yield();
        ringlet::yield();
        setter_ran = true;
        p.set_value(42);
    });
    EXPECT_EQ(f.get(), 42);
    EXPECT_TRUE(setter_ran);
    setter.join();
}

RINGLET_TEST(PromiseTest, SetExceptionIsRethrownByGet) {
    ringlet::Promise<int> p;
    auto f = p.get_future();
    p.set_exception(std::make_exception_ptr(std::runtime_error("boom")));
    EXPECT_TRUE(f.ready());
    EXPECT_FALSE(f.successful());
    EXPECT_TRUE(f.wait(0ns));
    try {
        f.get();
        ADD_FAILURE() << "get() returned instead of throwing";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "boom");
    }
    EXPECT_THROW(f.get(), std::runtime_error);  // again
}

RINGLET_TEST(PromiseTest, SetExceptionWakesWaiter) {
    ringlet::Promise<int> p;
    auto f = p.get_future();
    auto waiter = ringlet::spawn([f] { return f.get(); });
    ringlet::yield();
    EXPECT_FALSE(waiter.done());
    p.set_exception(std::make_exception_ptr(std::out_of_range("range")));
    EXPECT_TRUE(waiter.join(10s));
    EXPECT_THROW(waiter.get(), std::out_of_range);
}

RINGLET_TEST(PromiseTest, VoidSpecialisation) {
    ringlet::Promise<void> p;
    auto f = p.get_future();
    auto waiter = ringlet::spawn([f] { f.get(); });
    ringlet::yield();
    EXPECT_FALSE(waiter.done());
    EXPECT_FALSE(f.ready());
    p.set_value();
    EXPECT_TRUE(waiter.join(10s));
    EXPECT_FALSE(waiter.failed());
    EXPECT_TRUE(f.successful());
    EXPECT_NO_THROW(f.get());
    EXPECT_THROW(p.set_value(), ringlet::UsageError);

    ringlet::Promise<void> failing;
    failing.set_exception(std::make_exception_ptr(std::logic_error("void failed")));
    EXPECT_THROW(failing.get_future().get(), std::logic_error);
}

RINGLET_TEST(PromiseTest, EveryFutureCopySeesTheValue) {
    ringlet::Promise<int> p;
    auto f = p.get_future();
    std::vector<ringlet::Task<int>> waiters;
    for (int i = 0; i < 10; ++i) {
        ringlet::Future<int> copy = f;  // copies share one result
        waiters.push_back(ringlet::spawn([copy] { return copy.get(); }));
    }
    auto second = p.get_future();  // a second get_future shares it too
    waiters.push_back(ringlet::spawn([second] { return second.get(); }));
    ringlet::yield();
    for (auto& w : waiters) EXPECT_FALSE(w.done());
    p.set_value(7);
    EXPECT_TRUE(ringlet::joinall(waiters, 10s));
    for (auto& w : waiters) EXPECT_EQ(w.get(), 7);
    EXPECT_EQ(f.get(), 7);
}

RINGLET_TEST(PromiseTest, WaitTimesOutThenSucceeds) {
    ringlet::Promise<int> p;
    auto f = p.get_future();
    EXPECT_FALSE(f.wait(0ns));
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(f.wait(20ms));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_GE(elapsed, 15ms);
    EXPECT_LT(elapsed, 5s);
    EXPECT_FALSE(f.ready());
    auto setter = ringlet::spawn([&] { p.set_value(1); });
    EXPECT_TRUE(f.wait(10s));
    EXPECT_TRUE(f.wait(0ns));
    EXPECT_TRUE(f.wait());
    EXPECT_EQ(f.get(), 1);
    setter.join();
}

RINGLET_TEST(PromiseTest, SettingTwiceThrowsUsageError) {
    ringlet::Promise<int> p;
    auto f = p.get_future();
    p.set_value(1);
    EXPECT_THROW(p.set_value(2), ringlet::UsageError);
    EXPECT_THROW(p.set_exception(std::make_exception_ptr(std::runtime_error("x"))),
                 ringlet::UsageError);
    EXPECT_EQ(f.get(), 1);  // the first result stands

    ringlet::Promise<int> q;
    q.set_exception(std::make_exception_ptr(std::runtime_error("first")));
    EXPECT_THROW(q.set_value(3), ringlet::UsageError);
    EXPECT_THROW(q.get_future().get(), std::runtime_error);
}

RINGLET_TEST(PromiseTest, DestroyedUnsetBreaksPromise) {
    ringlet::Future<int> f;
    {
        ringlet::Promise<int> p;
        f = p.get_future();
    }
    EXPECT_TRUE(f.ready());
    EXPECT_FALSE(f.successful());
    try {
        f.get();
        ADD_FAILURE() << "get() on a broken promise returned";
    } catch (const std::future_error& e) {
        EXPECT_EQ(e.code(), std::make_error_code(std::future_errc::broken_promise));
    }
}

RINGLET_TEST(PromiseTest, DestroyingUnsetPromiseWakesWaiters) {
    auto p = std::make_unique<ringlet::Promise<int>>();
    auto f = p->get_future();
    auto waiter = ringlet::spawn([f] { return f.get(); });
    ringlet::yield();
    EXPECT_FALSE(waiter.done());
    p.reset();
    EXPECT_TRUE(waiter.join(10s));
    EXPECT_THROW(waiter.get(), std::future_error);
}

RINGLET_TEST(PromiseTest, DestroyingSetPromiseKeepsValue) {
    ringlet::Future<int> f;
    {
        ringlet::Promise<int> p;
        f = p.get_future();
        p.set_value(5);
    }
    EXPECT_TRUE(f.successful());
    EXPECT_EQ(f.get(), 5);
}

RINGLET_TEST(PromiseTest, MovedPromiseKeepsStateAndMoveAssignBreaksOld) {
    ringlet::Promise<int> a;
    auto fa = a.get_future();
    ringlet::Promise<int> b(std::move(a));
    EXPECT_THROW(a.set_value(1), ringlet::UsageError);  // moved-from
    b.set_value(2);
    EXPECT_EQ(fa.get(), 2);

    ringlet::Promise<int> c;
    auto fc = c.get_future();
    ringlet::Promise<int> d;
    auto fd = d.get_future();
    c = std::move(d);  // c's old result is abandoned
    EXPECT_THROW(fc.get(), std::future_error);
    c.set_value(3);
    EXPECT_EQ(fd.get(), 3);
}

RINGLET_TEST(PromiseTest, EmptyFutureThrowsUsageError) {
    ringlet::Future<int> f;
    EXPECT_FALSE(f.valid());
    EXPECT_THROW(f.get(), ringlet::UsageError);
    EXPECT_THROW(f.wait(), ringlet::UsageError);
    EXPECT_THROW(f.wait(1ms), ringlet::UsageError);
    EXPECT_THROW(f.ready(), ringlet::UsageError);
    EXPECT_THROW(f.successful(), ringlet::UsageError);
    ringlet::Future<void> v;
    EXPECT_THROW(v.get(), ringlet::UsageError);
}

RINGLET_TEST(PromiseTest, CancelWhileWaiting) {
    ringlet::Promise<int> p;
    auto f = p.get_future();
    auto waiter = ringlet::spawn([f] { return f.get(); });
    ringlet::yield();
    waiter.cancel();
    EXPECT_TRUE(waiter.join(10s));
    EXPECT_TRUE(waiter.cancelled());
    EXPECT_FALSE(f.ready());
    p.set_value(1);  // no waiter left to wake; no crash
    EXPECT_EQ(f.get(), 1);
}

RINGLET_TEST(PromiseTest, GetInTimeoutScopeThrowsTimeoutError) {
    ringlet::Promise<int> p;
    auto f = p.get_future();
    EXPECT_THROW(ringlet::with_timeout(10ms, [&] { return f.get(); }), ringlet::TimeoutError);
    p.set_value(4);
    EXPECT_EQ(f.get(), 4);
}

RINGLET_TEST(PromiseTest, PlainThreadSetsTaskWaits) {
    ringlet::Promise<std::string> p;
    auto f = p.get_future();
    std::thread t([&] { p.set_value("from a thread"); });
    EXPECT_EQ(f.get(), "from a thread");
    t.join();
}

RINGLET_TEST(PromiseTest, PlainThreadSetsManyTasksWait) {
    ringlet::Promise<int> p;
    auto f = p.get_future();
    int arrived = 0;
    std::vector<ringlet::Task<int>> waiters;
    for (int i = 0; i < 20; ++i) {
        waiters.push_back(ringlet::spawn([&, f] {
            ++arrived;
            return f.get();
        }));
    }
    ASSERT_TRUE(yield_until([&] { return arrived == 20; }));
    std::thread t([&] { p.set_value(99); });
    EXPECT_TRUE(ringlet::joinall(waiters, 10s));
    t.join();
    for (auto& w : waiters) EXPECT_EQ(w.get(), 99);
}

RINGLET_TEST(PromiseTest, TaskSetsPlainThreadsWait) {
    ringlet::Promise<int> p;
    auto f = p.get_future();
    std::atomic<int> started{0};
    std::atomic<int> sum{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
        threads.emplace_back([&, f] {
            ++started;
            sum += f.get();
        });
    }
    ASSERT_TRUE(yield_until([&] { return started.load() == 3; }));
    p.set_value(5);
    for (auto& t : threads) t.join();
    EXPECT_EQ(sum.load(), 15);
}

RINGLET_TEST(PromiseTest, PlainThreadWaitTimesOut) {
    ringlet::Promise<int> p;
    auto f = p.get_future();
    bool result = true;
    std::thread t([&] { result = f.wait(10ms); });
    t.join();
    EXPECT_FALSE(result);
    p.set_value(0);
}

RINGLET_TEST(PromiseTest, PlainThreadGetRethrowsException) {
    ringlet::Promise<int> p;
    auto f = p.get_future();
    bool caught = false;
    std::thread t([&, f] {
        try {
            f.get();
        } catch (const std::runtime_error&) {
            caught = true;
        }
    });
    p.set_exception(std::make_exception_ptr(std::runtime_error("x")));
    t.join();
    EXPECT_TRUE(caught);
}

RINGLET_TEST(PromiseTest, SetOnAnotherScheduler) {
    ringlet::Promise<int> p;
    auto f = p.get_future();
    std::thread other([&] {
        ringlet::run([&] {
            ringlet::sleep(1ms);
            p.set_value(8);
        });
    });
    EXPECT_EQ(f.get(), 8);
    other.join();
}

// No scheduler anywhere: plain threads only.
TEST(PromiseTest, PlainThreadsWithoutScheduler) {
    ringlet::Promise<int> p;
    auto f = p.get_future();
    std::thread setter([&] { p.set_value(3); });
    EXPECT_EQ(f.get(), 3);
    setter.join();
    ringlet::Promise<void> q;
    EXPECT_FALSE(q.get_future().wait(5ms));
}
