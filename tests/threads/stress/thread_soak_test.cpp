// tests/threads/stress/thread_soak_test.cpp — a randomised soak across
// schedulers: tasks on 4 ringlet::Threads and 2 plain std::threads pick random
// operations on one Mutex, Channel, Semaphore and Event, spawn and cancel
// children, and call blocking(), for RINGLET_SOAK_SECONDS (default 20).
// Afterwards the books must balance: the mutex counter equals the increments,
// every message sent was received or is still buffered (count and sum), the
// semaphore has all its permits and was never over-subscribed, and every
// cancelled child ended (its frame unwound).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;

namespace {

struct Books {
    ringlet::Mutex mutex;
    long counter = 0;  // guarded by mutex
    std::atomic<long> increments{0};

    ringlet::Channel<std::uint64_t> channel{8};
    std::atomic<long> sent{0}, received{0};
    std::atomic<unsigned long long> sent_sum{0}, received_sum{0};

    static constexpr int permits = 3;
    ringlet::Semaphore sem{permits};
    std::atomic<int> inside{0}, max_inside{0};

    ringlet::Event flag;
    std::atomic<long> children_cancelled{0}, children_done{0};
    std::atomic<int> frames_alive{0};
    std::atomic<long> blocking_calls{0};
};

struct Frame {
    std::atomic<int>* alive;
    explicit Frame(std::atomic<int>* a) : alive(a) { alive->fetch_add(1); }
    ~Frame() { alive->fetch_sub(1); }
};

void one_op(Books& b, std::mt19937_64& rng, bool in_task) {
    switch (rng() % (in_task ? 8 : 5)) {
        case 0: {
            std::lock_guard guard(b.mutex);
            ++b.counter;
            if (in_task && rng() % 4 == 0) ringlet::yield();
            b.increments.fetch_add(1, std::memory_order_relaxed);
            break;
        }
        case 1: {
            std::uint64_t v = rng() % 1000;
            if (b.channel.send_for(v, 1ms)) {
                b.sent.fetch_add(1);
                b.sent_sum.fetch_add(v);
            }
            break;
        }
        case 2: {
            if (auto v = b.channel.recv_for(1ms)) {
                b.received.fetch_add(1);
                b.received_sum.fetch_add(*v);
            }
            break;
        }
        case 3: {
            if (!b.sem.acquire_for(500us)) break;
            const int now = b.inside.fetch_add(1) + 1;
            int seen = b.max_inside.load();
            while (seen < now && !b.max_inside.compare_exchange_weak(seen, now)) {
            }
            if (in_task) ringlet::yield();
            b.inside.fetch_sub(1);
            b.sem.release();
            break;
        }
        case 4: {
            if (rng() % 2) {
                b.flag.set();
            } else {
                b.flag.clear();
            }
            (void)b.flag.wait(100us);
            break;
        }
        case 5: {  // a child that parks, cancelled by its parent
            auto child = ringlet::spawn([&b] {
                Frame f(&b.frames_alive);
                ringlet::Event never;
                never.wait(5s);
            });
            ringlet::yield();
            child.cancel();
            child.join();
            if (child.cancelled()) {
                b.children_cancelled.fetch_add(1);
            } else {
                b.children_done.fetch_add(1);
            }
            break;
        }
        case 6: {
            const int r = ringlet::blocking([] { return 7; });
            if (r == 7) b.blocking_calls.fetch_add(1);
            break;
        }
        default:
            ringlet::sleep(std::chrono::microseconds(rng() % 200));
            break;
    }
}

}  // namespace

TEST(ThreadSoakTest, RandomOperationsKeepTheBooksBalanced) {
    const char* env = std::getenv("RINGLET_SOAK_SECONDS");
    const auto duration = std::chrono::seconds(env ? std::atoi(env) : 20);
    const auto deadline = std::chrono::steady_clock::now() + duration;
    Books b;
    std::vector<std::thread> plain;
    for (int p = 0; p < 2; ++p) {
        plain.emplace_back([&, p] {
            std::mt19937_64 rng(1000 + p);
            while (std::chrono::steady_clock::now() < deadline) one_op(b, rng, false);
        });
    }
    ringlet::run_threads(4, [&](std::size_t t) {
        ringlet::Group group;
        for (int k = 0; k < 200; ++k) {
            group.spawn(ringlet::SpawnOptions{.name = "soak", .stack_size = 64 * 1024}, [&, t, k] {
                std::mt19937_64 rng(t * 1000 + k);
                while (std::chrono::steady_clock::now() < deadline) one_op(b, rng, true);
            });
        }
        group.join();
    });
    for (auto& p : plain) p.join();

    // Whatever is still buffered was sent but not received.
    long buffered = 0;
    unsigned long long buffered_sum = 0;
    while (auto v = b.channel.try_recv()) {
        ++buffered;
        buffered_sum += *v;
    }
    EXPECT_EQ(b.counter, b.increments.load());
    EXPECT_EQ(b.sent.load(), b.received.load() + buffered);
    EXPECT_EQ(b.sent_sum.load(), b.received_sum.load() + buffered_sum);
    EXPECT_EQ(b.sem.available(), std::size_t{Books::permits});
    EXPECT_LE(b.max_inside.load(), Books::permits);
    EXPECT_EQ(b.inside.load(), 0);
    EXPECT_EQ(b.frames_alive.load(), 0);
    EXPECT_EQ(b.children_done.load(), 0) << "a child waiting on an unset event ended without cancel";
    std::printf("    %ld increments, %ld messages, %ld children cancelled, %ld blocking calls\n",
                b.increments.load(), b.sent.load(), b.children_cancelled.load(),
                b.blocking_calls.load());
}
