// examples/threads/balance_counter.cpp — a threading tutorial program ("多线程"
// 例子1): two threading.Threads change a shared `balance` many times; without a
// Lock updates get lost, with `lock.acquire() / change_it(n) / lock.release()`
// the balance always ends at 0.
//
//   balance = 0
//   def change_it(n): balance = balance + n; balance = balance - n
//   def run_thread(n): for i in range(100000): lock.acquire(); change_it(n); lock.release()
//
// Three acts:
//   1. Plain std::threads, no lock. To stay well-defined C++ the balance is a
//      std::atomic<long>, but change_it() reads it and writes it back in two
//      separate steps (load, then store), exactly like Python's
//      `balance = balance + n`: another thread's update between the two steps
//      is overwritten. The final balance is usually not 0.
//   2. Tasks on ONE ringlet thread, no lock: tasks only interleave at
//      suspension points, so `balance = balance + n` with no suspension inside
//      cannot be torn; put a ringlet::yield() between the read and the write
//      and deposits get lost again.
//   3. Two ringlet::Threads, each running several tasks, sharing a
//      ringlet::Mutex (std::lock_guard, like `with lock:`): always 0. A task
//      waiting for the mutex suspends; its thread keeps running its other tasks.
//
//   balance_counter            100 000 changes per thread
//   balance_counter --smoke    10 000
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include <ringlet/ringlet.hpp>

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Act 1 ----------------------------------------------------------------------
std::atomic<long> racy_balance{0};

void change_it_racy(long n) {
    // balance = balance + n, as two steps: read, then write back.
    long b = racy_balance.load(std::memory_order_relaxed);
    racy_balance.store(b + n, std::memory_order_relaxed);
    b = racy_balance.load(std::memory_order_relaxed);
    racy_balance.store(b - n, std::memory_order_relaxed);
}

void deposit_racy(long n) {
    const long b = racy_balance.load(std::memory_order_relaxed);
    racy_balance.store(b + n, std::memory_order_relaxed);
}

// Runs `body(n)` `iterations` times on two threads (n = 5 and 8) that start
// together, and returns the final balance.
template <class Body>
long race_two_threads(long iterations, Body body) {
    racy_balance.store(0);
    std::atomic<int> ready{0};
    auto run_thread = [&](long n) {
        ready.fetch_add(1);
        while (ready.load() < 2) {  // start together, so that they overlap
        }
        for (long i = 0; i < iterations; ++i) body(n);
    };
    std::thread t1(run_thread, 5);
    std::thread t2(run_thread, 8);
    t1.join();
    t2.join();
    return racy_balance.load();
}

void act_plain_threads_without_lock(long iterations) {
    std::printf("== 1. two std::threads, no lock (load-then-store, like Python's balance += n)\n");
    int wrong_runs = 0;
    constexpr int runs = 5;
    for (int run = 0; run < runs; ++run) {
        const long b = race_two_threads(iterations, change_it_racy);
        std::printf("   change_it run %d: balance = %ld\n", run + 1, b);
        if (b != 0) ++wrong_runs;
    }
    std::printf("   -> %d of %d runs ended away from 0.\n", wrong_runs, runs);
    // change_it's "- n" half rewrites what its "+ n" half read, which hides
    // most lost updates; deposits alone show how many there are.
    const long deposits = race_two_threads(iterations, deposit_racy);
    const long expected = iterations * 13;
    std::printf("   deposits only: balance = %ld, expected %ld: %ld deposits lost (%.1f%%)\n\n",
                deposits, expected, (expected - deposits),
                100.0 * double(expected - deposits) / double(expected));
}

// Act 2 ----------------------------------------------------------------------
void act_tasks_on_one_thread(long iterations) {
    std::printf("== 2. two tasks on one ringlet thread, no lock: deposits of 5 and 8\n");
    ringlet::run([iterations] {
        long balance = 0;  // one thread: no data race, only task interleaving
        // balance = balance + n, optionally with a suspension point between
        // the read and the write (think: an IO call while computing the sum).
        auto deposit = [&](long n, bool suspend_inside) {
            const long b = balance;
            if (suspend_inside) ringlet::yield();
            balance = b + n;
        };
        const long rounds = iterations / 10;
        for (bool suspend : {false, true}) {
            balance = 0;
            auto a = ringlet::spawn([&] {
                for (long i = 0; i < rounds; ++i) {
                    deposit(5, suspend);
                    ringlet::yield();
                }
            });
            auto b = ringlet::spawn([&] {
                for (long i = 0; i < rounds; ++i) {
                    deposit(8, suspend);
                    ringlet::yield();
                }
            });
            ringlet::joinall(a, b);
            std::printf("   %-34s balance = %ld (expected %ld)\n",
                        suspend ? "yield() between read and write:" : "no suspension inside:",
                        balance, rounds * 13);
        }
    });
    std::printf(
        "   -> tasks switch only at suspension points: an update with none inside\n"
        "      is never torn; one that suspends midway needs a lock even on one thread\n\n");
}

// Act 3 ----------------------------------------------------------------------
void act_threads_with_mutex(long iterations) {
    std::printf("== 3. two ringlet::Threads x 4 tasks, one ringlet::Mutex\n");
    ringlet::Mutex lock;
    long balance = 0;  // guarded by `lock`
    auto change_it = [&](long n) {
        balance = balance + n;
        balance = balance - n;
    };
    constexpr int tasks_per_thread = 4;
    auto run_thread = [&](long n) {
        return [&, n] {
            ringlet::Group tasks;
            for (int k = 0; k < tasks_per_thread; ++k) {
                tasks.spawn([&, n, k] {
                    for (long i = 0; i < iterations / tasks_per_thread; ++i) {
                        std::lock_guard guard(lock);  // lock.acquire() ... lock.release()
                        change_it(n);
                        // Holding the lock across a suspension point is fine:
                        // the other tasks wait for it (they suspend, not spin).
                        if (i % 1000 == k) ringlet::yield();
                    }
                });
            }
            tasks.join();
        };
    };
    const auto start = Clock::now();
    ringlet::Thread t1(run_thread(5));
    ringlet::Thread t2(run_thread(8));
    t1.get();
    t2.get();
    std::printf("   balance = %ld after 2 x %ld locked changes (%.1f ms)\n", balance, iterations,
                ms_since(start));
    std::printf(
        "   -> always 0: the Mutex serialises the read-modify-write across threads and tasks\n");
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";
    const long iterations = smoke ? 200'000 : 1'000'000;

    act_plain_threads_without_lock(iterations);
    act_tasks_on_one_thread(iterations);
    act_threads_with_mutex(iterations);
    return 0;
}
