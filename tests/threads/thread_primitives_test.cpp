// tests/threads/thread_primitives_test.cpp — the sync primitives shared by
// tasks on several schedulers and plain std::threads at once: Mutex (exact
// counter), Channel (every message received exactly once), Semaphore (never
// more inside than permits; permits restored), Event (set on one thread wakes
// tasks on others), CondVar (a bounded queue across threads), Promise/Future,
// and blocking() called from several threads' tasks.
//
// Sizes are small by default (the whole file runs in a few seconds); the
// stress build (-Dstress=true, tests/threads/stress) multiplies them.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;

namespace {

#ifdef RINGLET_THREADS_STRESS
constexpr int scale = 20;
#else
constexpr int scale = 1;
#endif

// ThreadSanitizer keeps shadow state per fiber and makes the spin lock's
// contention far slower: it gets the same shapes, 10x fewer tasks.
#if defined(__SANITIZE_THREAD__)
constexpr int tsan_divisor = 10;
#else
constexpr int tsan_divisor = 1;
#endif

constexpr std::size_t n_threads = 8;
constexpr int tasks_per_thread = 1000 / tsan_divisor;
constexpr int plain_threads = 2;
// Thousands of tasks at once: small stacks keep the test's footprint low.
constexpr ringlet::SpawnOptions worker{.name = "worker", .stack_size = 32 * 1024};

// Runs task_body(thread, k) in `tasks_per_thread` tasks on each of
// `n_threads` schedulers, and plain_body(p) on `plain_threads` plain
// std::threads, all at the same time; returns when every one has ended.
template <class TaskBody, class PlainBody>
void hammer(TaskBody task_body, PlainBody plain_body, std::size_t threads = n_threads,
            int tasks = tasks_per_thread, int plains = plain_threads) {
    std::vector<std::thread> plain;
    for (int p = 0; p < plains; ++p) plain.emplace_back([&plain_body, p] { plain_body(p); });
    ringlet::run_threads(threads, [&](std::size_t t) {
        ringlet::Group group;
        for (int k = 0; k < tasks; ++k) {
            group.spawn(worker, [&task_body, t, k] { task_body(t, k); });
        }
        group.join();
    });
    for (auto& p : plain) p.join();
}

void atomic_max(std::atomic<int>& target, int value) {
    int seen = target.load();
    while (seen < value && !target.compare_exchange_weak(seen, value)) {
    }
}

}  // namespace

// ---------------------------------------------------------------- Mutex

TEST(CrossThreadMutexTest, CounterIsExactUnderContention) {
    ringlet::Mutex mutex;
    long counter = 0;  // guarded by `mutex` only: TSan checks the hand-offs
    std::atomic<long> timeouts{0};
    const int iters = 3 * scale;
    const int plain_iters = 2000 * scale / tsan_divisor;
    hammer(
        [&](std::size_t, int k) {
            for (int i = 0; i < iters; ++i) {
                if (k % 10 == 3) {
                    // Timed lock: a timeout racing with the hand-off must
                    // either own the mutex or not, never leave it stuck.
                    while (!mutex.try_lock_for(200us)) timeouts.fetch_add(1);
                } else {
                    mutex.lock();
                }
                const long v = counter;
                if ((k + i) % 3 == 0) ringlet::yield();  // hold it across a switch
                counter = v + 1;
                mutex.unlock();
            }
        },
        [&](int) {
            for (int i = 0; i < plain_iters; ++i) {
                std::lock_guard guard(mutex);
                ++counter;
            }
        });
    EXPECT_EQ(counter, long{n_threads} * tasks_per_thread * iters + long{plain_threads} * plain_iters);
    EXPECT_TRUE(mutex.try_lock());
    mutex.unlock();
}

// ---------------------------------------------------------------- Channel

namespace {

void channel_every_message_once(std::size_t capacity) {
    // On each thread half the tasks send and half receive; a plain thread
    // sends and another receives too. Message ids are unique; every id must
    // be received exactly once.
    const int per_sender = 4 * scale;
    const int plain_sends = 2000 * scale / tsan_divisor;
    const int task_senders = static_cast<int>(n_threads) * tasks_per_thread / 2;
    const long total = long{task_senders} * per_sender + plain_sends;
    ringlet::Channel<std::uint32_t> ch(capacity);
    std::vector<std::atomic<std::uint8_t>> seen(static_cast<std::size_t>(total));
    std::atomic<long> count{0};
    std::atomic<long long> sum{0};
    std::atomic<int> senders_left{task_senders + 1};
    auto sender_done = [&] {
        if (senders_left.fetch_sub(1) == 1) ch.close();
    };
    auto receive_all = [&] {
        while (auto v = ch.recv()) {
            seen[*v].fetch_add(1, std::memory_order_relaxed);
            count.fetch_add(1, std::memory_order_relaxed);
            sum.fetch_add(*v, std::memory_order_relaxed);
        }
    };
    hammer(
        [&](std::size_t t, int k) {
            if (k % 2 == 1) {
                receive_all();
                return;
            }
            const auto sender = static_cast<std::uint32_t>(t * tasks_per_thread / 2 + k / 2);
            for (int j = 0; j < per_sender; ++j) ch.send(sender * per_sender + j);
            sender_done();
        },
        [&](int p) {
            if (p == 1) {
                receive_all();
                return;
            }
            for (int j = 0; j < plain_sends; ++j) {
                ch.send(static_cast<std::uint32_t>(long{task_senders} * per_sender + j));
            }
            sender_done();
        });
    EXPECT_EQ(count.load(), total);
    EXPECT_EQ(sum.load(), static_cast<long long>(total) * (total - 1) / 2);
    long wrong = 0;
    for (long id = 0; id < total; ++id) {
        if (seen[id].load() != 1) {
            if (++wrong <= 5) ADD_FAILURE() << "message " << id << " received " << int(seen[id].load()) << " times";
        }
    }
    EXPECT_EQ(wrong, 0);
    EXPECT_TRUE(ch.closed());
    EXPECT_EQ(ch.size(), 0u);
}

}  // namespace

TEST(CrossThreadChannelTest, EveryMessageReceivedExactlyOnceBuffered) { channel_every_message_once(16); }

TEST(CrossThreadChannelTest, EveryMessageReceivedExactlyOnceRendezvous) { channel_every_message_once(0); }

TEST(CrossThreadChannelTest, FifoPerSenderAcrossThreads) {
    // One producer task on thread A, one consumer task on thread B: order kept.
    const int n = 20000 * scale / tsan_divisor;
    ringlet::Channel<int> ch(4);
    ringlet::Thread<void> producer([&] {
        for (int i = 0; i < n; ++i) ch.send(i);
        ch.close();
    });
    ringlet::Thread<int> consumer([&] {
        int expected = 0;
        while (auto v = ch.recv()) {
            if (*v != expected) return -1;
            ++expected;
        }
        return expected;
    });
    producer.get();
    EXPECT_EQ(consumer.get(), n);
}

// ---------------------------------------------------------------- Semaphore

TEST(CrossThreadSemaphoreTest, NeverMoreInsideThanPermits) {
    constexpr int permits = 3;
    ringlet::Semaphore sem(permits);
    std::atomic<int> inside{0};
    std::atomic<int> max_inside{0};
    std::atomic<long> entries{0};
    std::atomic<long> timeouts{0};
    const int iters = 2 * scale;
    auto enter = [&] {
        const int now = inside.fetch_add(1) + 1;
        atomic_max(max_inside, now);
        entries.fetch_add(1);
    };
    hammer(
        [&](std::size_t, int k) {
            for (int i = 0; i < iters; ++i) {
                if (k % 7 == 0) {
                    if (!sem.acquire_for(50us)) {  // timeout racing with release
                        timeouts.fetch_add(1);
                        continue;
                    }
                } else {
                    sem.acquire();
                }
                enter();
                ringlet::yield();
                inside.fetch_sub(1);
                sem.release();
            }
        },
        [&](int) {
            for (int i = 0; i < 1000 * scale / tsan_divisor; ++i) {
                sem.acquire();
                enter();
                std::this_thread::yield();
                inside.fetch_sub(1);
                sem.release();
            }
        });
    EXPECT_LE(max_inside.load(), permits);
    EXPECT_GE(max_inside.load(), 1);
    EXPECT_EQ(inside.load(), 0);
    EXPECT_EQ(sem.available(), std::size_t{permits}) << "a permit was lost or duplicated";
    EXPECT_EQ(entries.load() + timeouts.load(),
              long{n_threads} * tasks_per_thread * iters +
                  long{plain_threads} * 1000 * scale / tsan_divisor);
}

// ---------------------------------------------------------------- Event

TEST(CrossThreadEventTest, SetOnOneThreadWakesTasksOnFourOthers) {
    constexpr std::size_t waiter_threads = 4;
    constexpr int per_thread = 250 / tsan_divisor;
    constexpr int total = waiter_threads * per_thread + plain_threads;
    ringlet::Event go;
    ringlet::Semaphore arrived(0);
    std::atomic<int> woke{0};
    std::vector<std::uint64_t> remote_wakeups(waiter_threads);
    std::vector<std::thread> plain;
    for (int p = 0; p < plain_threads; ++p) {
        plain.emplace_back([&] {
            arrived.release();
            if (go.wait(20s)) woke.fetch_add(1);
        });
    }
    ringlet::Thread<void> setter([&] {
        for (int i = 0; i < total; ++i) arrived.acquire();
        go.set();
    });
    ringlet::run_threads(waiter_threads, [&](std::size_t t) {
        ringlet::Group group;
        for (int k = 0; k < per_thread; ++k) {
            group.spawn(worker, [&] {
                arrived.release();
                if (go.wait(20s)) woke.fetch_add(1);
            });
        }
        group.join();
        remote_wakeups[t] = ringlet::stats().remote_wakeups;
    });
    setter.get();
    for (auto& p : plain) p.join();
    EXPECT_EQ(woke.load(), total);
    for (std::size_t t = 0; t < waiter_threads; ++t) {
        EXPECT_GT(remote_wakeups[t], 0u) << "thread " << t << " was never woken from another thread";
    }
}

TEST(CrossThreadEventTest, PingPongBetweenThreadsLosesNoWakeup) {
    const int rounds = 2000 * scale / tsan_divisor;
    ringlet::Event ping;
    ringlet::Event pong;
    ringlet::Thread<int> a([&] {
        for (int r = 0; r < rounds; ++r) {
            ping.set();
            if (!pong.wait(20s)) return r;
            pong.clear();
        }
        return rounds;
    });
    std::thread b([&] {  // a plain thread on the other side
        for (int r = 0; r < rounds; ++r) {
            if (!ping.wait(20s)) return;
            ping.clear();
            pong.set();
        }
    });
    EXPECT_EQ(a.get(), rounds);
    b.join();
}

// Regression check: once wait() returned true, nobody waits on the Event any
// more, so (per event.hpp) the waiter may destroy it. set() must therefore not
// touch the Event after a waiter can observe the flag.
TEST(CrossThreadEventTest, WaiterMayDestroyTheEventOnceWaitReturns) {
    const int rounds = 3000 * scale;
    ringlet::Channel<ringlet::Event*> to_setter(1);
    ringlet::Thread<void> setter([&] {
        while (auto e = to_setter.recv()) (*e)->set();
    });
    // The event lives in a buffer that is poisoned right after destruction:
    // a late write by set() shows up as a changed byte even without a sanitizer.
    [[maybe_unused]] alignas(ringlet::Event) static unsigned char storage[sizeof(ringlet::Event)];
    static ringlet::Event round_done;
    int bad_round = -1;
    for (int r = 0; r < rounds && bad_round < 0; ++r) {
#if defined(__SANITIZE_THREAD__)
        // Under TSan: a heap event, deleted at once; TSan reports a set()
        // that still writes to it as a race with operator delete.
        auto* e = new ringlet::Event;
#else
        auto* e = ::new (storage) ringlet::Event;
#endif
        to_setter.send(e);
        if (r % 2 == 0) {
            // A waiter that polls sees the flag earliest (it yields now and
            // then: on a loaded 2-vCPU machine the setter needs a CPU too).
            for (int spin = 0; !e->is_set(); ++spin) {
                if (spin % 4096 == 4095) std::this_thread::yield();
            }
            EXPECT_TRUE(e->wait());
        } else {
            EXPECT_TRUE(e->wait(20s));
        }
#if defined(__SANITIZE_THREAD__)
        delete e;
#else
        e->~Event();
        std::memset(storage, 0xA5, sizeof storage);
#endif
        // The setter handles its channel in order: once it has set
        // round_done, its set() on `e` has returned.
        round_done.clear();
        to_setter.send(&round_done);
        EXPECT_TRUE(round_done.wait(20s));
#if !defined(__SANITIZE_THREAD__)
        for (unsigned char byte : storage) {
            if (byte != 0xA5) bad_round = r;
        }
#endif
    }
    to_setter.close();
    setter.get();
    EXPECT_EQ(bad_round, -1) << "Event::set() wrote to the event after wait() had returned true "
                                "(and the waiter had destroyed it) in round "
                             << bad_round;
}

// ---------------------------------------------------------------- CondVar

TEST(CrossThreadCondVarTest, BoundedQueueAcrossThreads) {
    // A queue guarded by one ringlet::Mutex with two CondVars: producers on
    // half the threads, consumers on the others, a plain thread on each side.
    constexpr std::size_t capacity = 8;
    const int per_producer = 4 * scale;
    constexpr std::size_t threads = 4;
    constexpr int tasks = 250 / tsan_divisor;
    const long task_producers = long{threads / 2} * tasks;
    const long total = task_producers * per_producer + 1000L * scale / tsan_divisor;
    ringlet::Mutex mutex;
    ringlet::CondVar not_empty;
    ringlet::CondVar not_full;
    std::deque<long> queue;
    long producers_left = task_producers + 1;  // guarded by mutex
    std::atomic<long> count{0};
    std::atomic<long long> sum{0};
    std::atomic<long> timed_waits{0};

    auto produce = [&](long value) {
        std::unique_lock lock(mutex);
        not_full.wait(lock, [&] { return queue.size() < capacity; });
        queue.push_back(value);
        not_empty.notify_one();
    };
    auto producer_done = [&] {
        std::unique_lock lock(mutex);
        if (--producers_left == 0) not_empty.notify_all();
    };
    auto consume_all = [&](bool timed) {
        for (;;) {
            std::unique_lock lock(mutex);
            auto ready = [&] { return !queue.empty() || producers_left == 0; };
            if (timed) {
                while (!not_empty.wait_for(lock, 1ms, ready)) timed_waits.fetch_add(1);
            } else {
                not_empty.wait(lock, ready);
            }
            if (queue.empty()) return;
            const long v = queue.front();
            queue.pop_front();
            not_full.notify_one();
            lock.unlock();
            count.fetch_add(1);
            sum.fetch_add(v);
        }
    };
    hammer(
        [&](std::size_t t, int k) {
            if (t < threads / 2) {
                const long id = long(t) * tasks + k;
                for (int j = 0; j < per_producer; ++j) produce(id * per_producer + j);
                producer_done();
            } else {
                consume_all(k % 5 == 0);
            }
        },
        [&](int p) {
            if (p == 0) {
                for (long j = 0; j < 1000L * scale / tsan_divisor; ++j) {
                    produce(task_producers * per_producer + j);
                }
                producer_done();
            } else {
                consume_all(false);
            }
        },
        threads, tasks);
    EXPECT_EQ(count.load(), total);
    EXPECT_EQ(sum.load(), static_cast<long long>(total) * (total - 1) / 2);
    EXPECT_TRUE(queue.empty());
}

// ---------------------------------------------------------------- Promise/Future

TEST(CrossThreadPromiseTest, SetOnOneThreadSeenByTasksAndThreadsElsewhere) {
    ringlet::Promise<std::string> promise;
    ringlet::Future<std::string> future = promise.get_future();
    ringlet::Semaphore arrived(0);
    constexpr std::size_t waiter_threads = 2;
    constexpr int per_thread = 100;
    std::atomic<int> right{0};
    std::vector<std::thread> plain;
    for (int p = 0; p < plain_threads; ++p) {
        plain.emplace_back([&, f = future] {
            arrived.release();
            if (f.get() == "forty-two") right.fetch_add(1);
        });
    }
    ringlet::Thread<void> setter([&, p = std::move(promise)]() mutable {
        for (int i = 0; i < int(waiter_threads) * per_thread + plain_threads; ++i) arrived.acquire();
        p.set_value("forty-two");
    });
    ringlet::run_threads(waiter_threads, [&] {
        ringlet::Group group;
        for (int k = 0; k < per_thread; ++k) {
            group.spawn(worker, [&, f = future] {
                arrived.release();
                EXPECT_TRUE(f.wait(20s));
                EXPECT_TRUE(f.successful());
                if (f.get() == "forty-two") right.fetch_add(1);
            });
        }
        group.join();
    });
    setter.get();
    for (auto& p : plain) p.join();
    EXPECT_EQ(right.load(), int(waiter_threads) * per_thread + plain_threads);
}

TEST(CrossThreadPromiseTest, ExceptionAndBrokenPromiseCrossThreads) {
    ringlet::Promise<int> failing;
    auto failing_future = failing.get_future();
    auto broken_future = ringlet::Future<int>{};
    ringlet::Thread<void> owner([&, p = std::move(failing)]() mutable {
        ringlet::Promise<int> dropped;
        broken_future = dropped.get_future();
        ringlet::sleep(1ms);
        p.set_exception(std::make_exception_ptr(std::runtime_error("remote failure")));
        // `dropped` dies unset here: its futures see broken_promise.
    });
    owner.join();
    ringlet::Thread<int> reader([&] {
        int score = 0;
        try {
            failing_future.get();
        } catch (const std::runtime_error& e) {
            if (std::string(e.what()) == "remote failure") score += 1;
        }
        try {
            broken_future.get();
        } catch (const std::future_error& e) {
            if (e.code() == std::future_errc::broken_promise) score += 10;
        }
        return score;
    });
    EXPECT_EQ(reader.get(), 11);
    EXPECT_FALSE(failing_future.successful());
}

// ---------------------------------------------------------------- blocking()

TEST(CrossThreadBlockingTest, BlockingFromSeveralThreadsTasksAtOnce) {
    // 4 schedulers x 6 tasks call blocking() at once; every call waits until
    // all 24 have started, which only works if they run on separate worker
    // threads concurrently, and no scheduler thread is stalled meanwhile.
    constexpr std::size_t threads = 4;
    constexpr int per_thread = 6;
    constexpr int total = threads * per_thread;
    std::mutex m;
    std::condition_variable cv;
    int started = 0;
    std::atomic<int> all_met{0};
    std::atomic<int> on_worker{0};
    std::vector<int> ticks(threads);
    ringlet::run_threads(threads, [&](std::size_t t) {
        const auto scheduler_thread = std::this_thread::get_id();
        std::atomic<bool> calls_done{false};
        auto ticker = ringlet::spawn([&] {
            while (!calls_done.load()) {
                ++ticks[t];
                ringlet::sleep(1ms);
            }
        });
        ringlet::Group group;
        for (int k = 0; k < per_thread; ++k) {
            group.spawn([&] {
                const auto [met, worker_id] = ringlet::blocking([&] {
                    std::unique_lock lock(m);
                    if (++started == total) cv.notify_all();
                    const bool ok = cv.wait_for(lock, 20s, [&] { return started == total; });
                    return std::pair{ok, std::this_thread::get_id()};
                });
                if (met) all_met.fetch_add(1);
                if (worker_id != scheduler_thread) on_worker.fetch_add(1);
            });
        }
        group.join();
        calls_done.store(true);
        ticker.join();
    });
    EXPECT_EQ(all_met.load(), total);
    EXPECT_EQ(on_worker.load(), total);
    for (std::size_t t = 0; t < threads; ++t) EXPECT_GT(ticks[t], 0) << "thread " << t;
}

TEST(CrossThreadBlockingTest, ExceptionsAndValuesFromManyThreads) {
    std::atomic<int> ok{0};
    std::vector<std::thread> plain;
    plain.emplace_back([&] {
        if (ringlet::blocking([] { return 5; }) == 5) ok.fetch_add(1);
    });
    ringlet::run_threads(3, [&](std::size_t t) {
        ringlet::Group group;
        for (int k = 0; k < 20; ++k) {
            group.spawn([&, t, k] {
                try {
                    const int v = ringlet::blocking([t, k]() -> int {
                        if (k % 4 == 0) throw std::runtime_error("worker says no");
                        return int(t) * 100 + k;
                    });
                    if (v == int(t) * 100 + k) ok.fetch_add(1);
                } catch (const std::runtime_error& e) {
                    if (std::string(e.what()) == "worker says no") ok.fetch_add(1);
                }
            });
        }
        group.join();
    });
    for (auto& p : plain) p.join();
    EXPECT_EQ(ok.load(), 3 * 20 + 1);
}

// ---------------------------------------------------------------- Mixed

RINGLET_TEST(CrossThreadMixedTest, TasksOnThisThreadAndOthersShareAMutexAndChannel) {
    // The RINGLET_TEST's own scheduler takes part too: main's thread has
    // tasks contending with two ringlet::Threads.
    ringlet::Mutex mutex;
    long counter = 0;
    ringlet::Channel<int> done(0);
    constexpr int per = 200;
    auto work = [&] {
        ringlet::Group group;
        for (int k = 0; k < per; ++k) {
            group.spawn([&] {
                for (int i = 0; i < 3; ++i) {
                    std::lock_guard guard(mutex);
                    ++counter;
                    ringlet::yield();
                }
            });
        }
        group.join();
        done.send(1);
    };
    ringlet::Thread<void> a(work);
    ringlet::Thread<void> b(work);
    auto local = ringlet::spawn(work);
    int finished = 0;
    for (int i = 0; i < 3; ++i) finished += done.recv().value_or(0);
    local.get();
    a.get();
    b.get();
    EXPECT_EQ(finished, 3);
    EXPECT_EQ(counter, 3L * per * 3);
}
