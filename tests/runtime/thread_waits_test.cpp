// tests/runtime/thread_waits_test.cpp — every waiting call from a plain std::thread (no
// scheduler) blocks the thread and works against tasks: Event, Semaphore, Mutex, Channel, join.
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

// ---- Event -----------------------------------------------------------------------------

TEST(ThreadWaitsTest, PlainThreadWaitsOnEventSetByATask) {
    ringlet::Event e;
    std::atomic<bool> result{false};
    std::atomic<bool> returned{false};
    std::thread waiter([&] {
        result = e.wait();
        returned = true;
    });
    ringlet::run([&] {
        auto setter = ringlet::spawn([&] {
            ringlet::sleep(5ms);  // not synchronisation: gives the thread time to block
            e.set();
        });
        setter.join();
    });
    waiter.join();
    EXPECT_TRUE(returned.load());
    EXPECT_TRUE(result.load());
}

TEST(ThreadWaitsTest, SeveralPlainThreadsWokenByOneSet) {
    ringlet::Event e;
    std::atomic<int> woken{0};
    std::vector<std::thread> waiters;
    for (int i = 0; i < 4; ++i) {
        waiters.emplace_back([&] {
            if (e.wait()) ++woken;
        });
    }
    ringlet::run([&] {
        ringlet::sleep(5ms);
        e.set();
    });
    for (auto& t : waiters) t.join();
    EXPECT_EQ(woken.load(), 4);
}

RINGLET_TEST(ThreadWaitsTest, TaskWaitsOnEventSetByAPlainThread) {
    ringlet::Event main_parked;
    ringlet::Event wake_main;
    // The helper runs only when main has suspended in wake_main.wait(), so the
    // thread's set() wakes a parked task on another thread.
    auto helper = ringlet::spawn([&] { main_parked.set(); });
    std::thread setter([&] {
        main_parked.wait();
        wake_main.set();
    });
    EXPECT_TRUE(wake_main.wait(10s));
    setter.join();
    helper.join();
}

RINGLET_TEST(ThreadWaitsTest, ManyTasksWaitOnEventSetByAPlainThread) {
    ringlet::Event e;
    std::vector<ringlet::Task<bool>> waiters;
    for (int i = 0; i < 50; ++i) waiters.push_back(ringlet::spawn([&] { return e.wait(); }));
    ringlet::yield();
    std::thread setter([&] { e.set(); });
    for (auto& w : waiters) EXPECT_TRUE(w.get());
    setter.join();
}

TEST(ThreadWaitsTest, EventWaitWithTimeoutOnAPlainThreadReturnsFalse) {
    ringlet::Event e;
    const auto start = Clock::now();
    EXPECT_FALSE(e.wait(10ms));
    EXPECT_GE(Clock::now() - start, 10ms);
    EXPECT_FALSE(e.wait(0ms));
    e.set();
    EXPECT_TRUE(e.wait(10ms));
    EXPECT_TRUE(e.wait());
}

// ---- Semaphore -------------------------------------------------------------------------

TEST(ThreadWaitsTest, PlainThreadAcquiresSemaphoreReleasedByATask) {
    ringlet::Semaphore sem(0);
    std::atomic<int> acquired{0};
    std::thread taker([&] {
        for (int i = 0; i < 3; ++i) {
            sem.acquire();
            ++acquired;
        }
    });
    ringlet::run([&] {
        auto releaser = ringlet::spawn([&] {
            for (int i = 0; i < 3; ++i) {
                ringlet::sleep(1ms);
                sem.release();
            }
        });
        releaser.join();
    });
    taker.join();
    EXPECT_EQ(acquired.load(), 3);
    EXPECT_EQ(sem.available(), 0u);
}

RINGLET_TEST(ThreadWaitsTest, TaskAcquiresSemaphoreReleasedByAPlainThread) {
    ringlet::Semaphore sem(0);
    std::thread releaser([&] {
        for (int i = 0; i < 5; ++i) sem.release();
    });
    for (int i = 0; i < 5; ++i) sem.acquire();
    releaser.join();
    EXPECT_EQ(sem.available(), 0u);
}

TEST(ThreadWaitsTest, SemaphoreAcquireForOnAPlainThreadTimesOut) {
    ringlet::Semaphore sem(0);
    EXPECT_FALSE(sem.acquire_for(10ms));
    EXPECT_EQ(sem.available(), 0u);
    sem.release();
    EXPECT_TRUE(sem.acquire_for(10ms));
}

TEST(ThreadWaitsTest, SemaphoreBetweenPlainThreadsOnly) {
    ringlet::Semaphore sem(0);
    std::thread taker([&] { sem.acquire(); });
    std::this_thread::sleep_for(2ms);  // not synchronisation: lets taker block
    sem.release();
    taker.join();
    EXPECT_EQ(sem.available(), 0u);
}

// ---- Mutex -------------------------------------------------------------------------------

TEST(ThreadWaitsTest, MutexSharedByAPlainThreadAndTasks) {
    ringlet::Mutex m;
    long counter = 0;
    constexpr int rounds = 2000;
    std::thread th([&] {
        for (int i = 0; i < rounds; ++i) {
            std::lock_guard lock(m);
            ++counter;
        }
    });
    ringlet::run([&] {
        std::vector<ringlet::Task<void>> tasks;
        for (int t = 0; t < 2; ++t) {
            tasks.push_back(ringlet::spawn([&] {
                for (int i = 0; i < rounds; ++i) {
                    std::lock_guard lock(m);
                    const long v = counter;
                    if (i % 64 == 0) ringlet::yield();  // hold it across a switch
                    counter = v + 1;
                }
            }));
        }
        ringlet::joinall(tasks);
    });
    th.join();
    EXPECT_EQ(counter, 3L * rounds);
}

TEST(ThreadWaitsTest, MutexTryLockForOnAPlainThreadTimesOut) {
    ringlet::Mutex m;
    m.lock();
    bool got = true;
    std::thread th([&] { got = m.try_lock_for(10ms); });
    th.join();
    EXPECT_FALSE(got);
    m.unlock();
    EXPECT_TRUE(m.try_lock_for(10ms));
    m.unlock();
}

// ---- Channel -----------------------------------------------------------------------------

TEST(ThreadWaitsTest, ChannelFromAPlainThreadToATask) {
    ringlet::Channel<int> ch(4);
    constexpr int n = 1000;
    std::thread producer([&] {
        for (int i = 1; i <= n; ++i) ch.send(i);  // blocks while the channel is full
        ch.close();
    });
    const long sum = ringlet::run([&] {
        long s = 0;
        int expected = 1;
        while (auto v = ch.recv()) {
            EXPECT_EQ(*v, expected++);  // FIFO, nothing lost or duplicated
            s += *v;
        }
        return s;
    });
    producer.join();
    EXPECT_EQ(sum, static_cast<long>(n) * (n + 1) / 2);
}

TEST(ThreadWaitsTest, ChannelFromATaskToAPlainThread) {
    ringlet::Channel<int> ch(4);
    constexpr int n = 1000;
    long sum = 0;
    int count = 0;
    bool ordered = true;
    std::thread consumer([&] {
        int expected = 1;
        while (auto v = ch.recv()) {
            ordered = ordered && *v == expected++;
            sum += *v;
            ++count;
        }
    });
    ringlet::run([&] {
        auto producer = ringlet::spawn([&] {
            for (int i = 1; i <= n; ++i) ch.send(i);
            ch.close();
        });
        producer.join();
    });
    consumer.join();
    EXPECT_EQ(count, n);
    EXPECT_TRUE(ordered);
    EXPECT_EQ(sum, static_cast<long>(n) * (n + 1) / 2);
}

TEST(ThreadWaitsTest, RendezvousChannelBothDirections) {
    ringlet::Channel<int> to_task(0);
    ringlet::Channel<int> to_thread(0);
    constexpr int n = 200;
    std::thread echo([&] {
        // Plain thread: receive, answer with double.
        while (auto v = to_thread.recv()) to_task.send(*v * 2);
        to_task.close();
    });
    const long sum = ringlet::run([&] {
        long s = 0;
        for (int i = 0; i < n; ++i) {
            to_thread.send(i);
            auto r = to_task.recv();
            EXPECT_TRUE(r.has_value());
            if (r) s += *r;
        }
        to_thread.close();
        EXPECT_EQ(to_task.recv(), std::nullopt);  // closed by the thread
        return s;
    });
    echo.join();
    EXPECT_EQ(sum, 2L * n * (n - 1) / 2);
}

TEST(ThreadWaitsTest, ChannelTimeoutsOnAPlainThread) {
    ringlet::Channel<int> ch(1);
    const auto start = Clock::now();
    EXPECT_EQ(ch.recv_for(10ms), std::nullopt);
    EXPECT_GE(Clock::now() - start, 10ms);
    ch.send(1);
    int v = 2;
    EXPECT_FALSE(ch.send_for(v, 10ms));
    EXPECT_EQ(v, 2);  // still the caller's
    EXPECT_EQ(ch.size(), 1u);
    EXPECT_EQ(ch.recv_for(10ms), std::optional<int>(1));
    EXPECT_TRUE(ch.send_for(v, 10ms));
    EXPECT_EQ(ch.recv(), std::optional<int>(2));
}

TEST(ThreadWaitsTest, PlainThreadBlockedInRecvIsWokenByClose) {
    ringlet::Channel<int> ch(1);
    std::optional<int> got = 5;
    std::thread receiver([&] { got = ch.recv(); });
    ringlet::run([&] {
        ringlet::sleep(5ms);  // not synchronisation: gives the thread time to block
        ch.close();
    });
    receiver.join();
    EXPECT_EQ(got, std::nullopt);
}

TEST(ThreadWaitsTest, PlainThreadBlockedInSendGetsChannelClosed) {
    ringlet::Channel<int> ch(0);
    bool threw = false;
    std::thread sender([&] {
        try {
            ch.send(1);
        } catch (const ringlet::ChannelClosed&) {
            threw = true;
        }
    });
    ringlet::run([&] {
        ringlet::sleep(5ms);
        ch.close();
    });
    sender.join();
    // Either the thread was blocked and woke with ChannelClosed, or it came
    // late and the closed channel refused it: it threw either way.
    EXPECT_TRUE(threw);
}

// ---- Channels between two schedulers -------------------------------------------------------

TEST(ThreadWaitsTest, PingPongBetweenTwoSchedulers) {
    ringlet::Channel<int> ping(0);
    ringlet::Channel<int> pong(0);
    constexpr int n = 500;
    std::thread other([&] {
        ringlet::run([&] {
            while (auto v = ping.recv()) pong.send(*v + 1);
        });
    });
    const int last = ringlet::run([&] {
        int v = 0;
        for (int i = 0; i < n; ++i) {
            ping.send(v);
            v = *pong.recv();
        }
        ping.close();
        return v;
    });
    other.join();
    EXPECT_EQ(last, n);
}

// ---- join from a plain thread --------------------------------------------------------------

RINGLET_TEST(ThreadWaitsTest, PlainThreadJoinsATask) {
    ringlet::Event release;
    ringlet::Event first_join_done;
    auto t = ringlet::spawn([&] {
        release.wait();
        return 42;
    });
    std::atomic<bool> first_join{true};
    std::atomic<bool> second_join{false};
    std::thread joiner([&] {
        first_join = t.join(1ms);  // the task cannot end yet: release is not set
        first_join_done.set();
        second_join = t.join();
    });
    EXPECT_TRUE(first_join_done.wait(10s));
    release.set();
    EXPECT_EQ(t.get(), 42);
    joiner.join();
    EXPECT_FALSE(first_join.load());
    EXPECT_TRUE(second_join.load());
}

TEST(ThreadWaitsTest, TaskOnAnotherSchedulerJoinsATask) {
    ringlet::Event release;
    ringlet::Event handle_ready;
    ringlet::Task<int>* shared = nullptr;
    std::atomic<int> seen{0};
    std::thread other([&] {
        ringlet::run([&] {
            handle_ready.wait();
            seen = shared->get();  // a task of this scheduler waits on a task of the other
        });
    });
    ringlet::run([&] {
        auto t = ringlet::spawn([&] {
            release.wait();
            return 77;
        });
        shared = &t;
        handle_ready.set();
        ringlet::sleep(5ms);  // not synchronisation: lets the other side park
        release.set();
        t.join();
        other.join();  // t must outlive the other scheduler's get()
    });
    EXPECT_EQ(seen.load(), 77);
}

// ---- the thread is really blocked, not spinning on a scheduler ----------------------------

TEST(ThreadWaitsTest, PlainThreadHasNoSchedulerWhileWaiting) {
    ringlet::Event e;
    ringlet::TaskId id = 1;
    std::size_t live = 1;
    std::thread th([&] {
        id = ringlet::current_task();
        live = ringlet::stats().tasks_live;
        e.wait();
    });
    ringlet::run([&] {
        ringlet::sleep(1ms);
        e.set();
    });
    th.join();
    EXPECT_EQ(id, 0u);
    EXPECT_EQ(live, 0u);
}
