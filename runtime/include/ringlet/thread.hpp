// ringlet/thread.hpp — OS threads that each run their own scheduler.
//
// Thread<R> starts an OS thread running ringlet::run(main, options): main is
// that thread's first task and may spawn more; they stay on that thread.
// join() and get() suspend the calling task (its thread keeps running its
// other tasks) or block a plain thread. Tasks on different threads share
// Channels, Events, Mutexes… directly: wake-ups cross threads through the
// target scheduler's wake-up queue, without a system call while it is busy.
//
// run_threads(n, f) is the thread-per-core model: n schedulers, one per
// thread (optionally pinned to a CPU), each running f(index); with
// TcpListener::bind(…, reuse_port = true) each thread accepts on its own
// listener and the kernel spreads the connections.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <cstddef>
#include <exception>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <ringlet/errors.hpp>
#include <ringlet/promise.hpp>
#include <ringlet/run.hpp>
#include <ringlet/time.hpp>

namespace ringlet {

template <class R = void>
class Thread {
public:
    Thread() = default;

    // Starts the thread. Throws: IoError if the OS cannot create a thread.
    template <class F>
        requires std::is_invocable_v<F&>
    explicit Thread(F main, Options options = {}) {
        Promise<R> promise;
        result_ = promise.get_future();
        try {
            thread_ = std::thread(
                [main = std::move(main), options, promise = std::move(promise)]() mutable {
                    try {
                        if constexpr (std::is_void_v<R>) {
                            ringlet::run(std::move(main), options);
                            promise.set_value();
                        } else {
                            promise.set_value(ringlet::run(std::move(main), options));
                        }
                    } catch (...) {
                        promise.set_exception(std::current_exception());
                    }
                });
        } catch (const std::system_error& e) {
            throw IoError(e.code().value(), "ringlet::Thread: create thread");
        }
    }
    Thread(Thread&&) noexcept = default;
    Thread& operator=(Thread&& o) noexcept {
        if (this != &o) {
            finish();
            thread_ = std::move(o.thread_);
            result_ = std::move(o.result_);
        }
        return *this;
    }
    // Joins (blocking the calling OS thread) if still running: join() first
    // from a task so other tasks keep running meanwhile.
    ~Thread() { finish(); }

    // Waits up to `timeout` for main (and the tasks it left) to end.
    // True once ended; never throws main's error.
    // Suspends. Throws: UsageError on an empty Thread, Cancelled, TimeoutError.
    bool join(Duration timeout = forever) {
        if (!result_.valid()) throw UsageError("ringlet::Thread::join: empty Thread");
        if (!result_.wait(timeout)) return false;
        if (thread_.joinable()) thread_.join();  // it has finished run(): a short wait
        return true;
    }
    // Waits for the end, then returns main's value or rethrows its exception.
    // Suspends. Throws: main's exception, UsageError, Cancelled, TimeoutError.
    R get() {
        join();
        return result_.get();
    }
    bool done() const { return result_.valid() && result_.ready(); }
    std::thread::id id() const noexcept { return thread_.get_id(); }
    std::thread::native_handle_type native_handle() { return thread_.native_handle(); }

private:
    void finish() noexcept {
        if (thread_.joinable()) thread_.join();
    }
    std::thread thread_;
    Future<R> result_;
};

template <class F>
Thread(F) -> Thread<std::invoke_result_t<F&>>;
template <class F>
Thread(F, Options) -> Thread<std::invoke_result_t<F&>>;

struct ThreadsOptions {
    bool pin = false;   // pin thread i to CPU i % hardware_concurrency()
    Options scheduler;  // for every thread's scheduler
};

// Runs f(i) (or f()) as the main task of n new scheduler threads, i = 0..n-1,
// and waits for all of them. Rethrows the first failure (in index order)
// after every thread has ended. Suspends (from a task) or blocks.
// Throws: what f throws, UsageError (n == 0), IoError, Cancelled.
template <class F>
void run_threads(std::size_t n, F per_thread_main, ThreadsOptions options = {}) {
    if (n == 0) throw UsageError("ringlet::run_threads: n must be at least 1");
    const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
    std::vector<Thread<void>> threads;
    threads.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        threads.emplace_back(
            [&per_thread_main, i, pin = options.pin, cpus] {
                if (pin) {
                    cpu_set_t set;
                    CPU_ZERO(&set);
                    CPU_SET(i % cpus, &set);
                    ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
                }
                if constexpr (std::is_invocable_v<F&, std::size_t>) {
                    per_thread_main(i);
                } else {
                    per_thread_main();
                }
            },
            options.scheduler);
    }
    std::exception_ptr first;
    for (auto& t : threads) {
        t.join();
        try {
            t.get();
        } catch (...) {
            if (!first) first = std::current_exception();
        }
    }
    if (first) std::rethrow_exception(first);
}

}  // namespace ringlet
