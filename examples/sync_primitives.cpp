// examples/sync_primitives.cpp — Event, Semaphore, Mutex + CondVar, Promise/Future, Timeout.
//
// Ports the synchronisation parts of the Python tutorial programs, with tasks
// in place of threads and processes:
//   a threading tutorial ("多线程"): threading.Lock, Condition,
//     [Bounded]Semaphore and Event; its "例子2" (three threads print
//     "acquire lock... / get the lock. / release lock...") is section 3 here.
//   multiprocessing.Semaphore: a counter that bounds how many may enter at
//     once (section 2).
//   multiprocessing's pool.apply_async(...) + res.get(), and
//     result.get(timeout=10): gevent's AsyncResult, here Promise/Future
//     (section 4).
//   a distributed task_worker.py (multiprocessing.managers.BaseManager):
//     task.get(timeout=1) and "except Empty" (section 5), next to gevent.Timeout.
// Every waiting call here also works from a plain std::thread (it blocks that
// thread): sections 1 and 4 show one.
//
//   sync_primitives            time unit 200 ms
//   sync_primitives --smoke    time unit 10 ms

#include <chrono>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;
Clock::time_point start;
ringlet::Duration unit;

double stamp() { return std::chrono::duration<double>(Clock::now() - start).count(); }

// 1 Event -------------------------------------------------------------------
// gevent.event.Event / threading.Event: set() wakes every waiter.
void event_section() {
    std::printf("== 1 Event: three tasks and a plain thread wait for one set()\n");
    ringlet::Event ready;
    ringlet::Event thread_woke;
    ringlet::Group waiters;
    for (int i = 1; i <= 3; ++i) {
        waiters.spawn([&ready, i] {
            ready.wait();
            std::printf("[%5.2fs] task %d: the event is set\n", stamp(), i);
        });
    }
    // A plain OS thread, with no scheduler, waits on the same Event: there
    // wait() blocks the thread instead of suspending a task.
    std::thread plain([&] {
        ready.wait();
        std::printf("[%5.2fs] plain thread: the event is set\n", stamp());
        thread_woke.set();
    });
    // wait(timeout) returns false instead of throwing when time runs out.
    const bool set_early = ready.wait(unit);
    std::printf("[%5.2fs] main: wait(1 unit) = %s; now set()\n", stamp(),
                set_early ? "true" : "false");
    ready.set();
    waiters.join();
    // Join the thread only once it has signalled: std::thread::join would
    // block this whole scheduler thread, Event::wait suspends only main.
    thread_woke.wait();
    plain.join();
    std::printf("\n");
}

// 2 Semaphore ---------------------------------------------------------------
// threading.BoundedSemaphore(2): at most two tasks inside at once.
void semaphore_section() {
    std::printf("== 2 Semaphore(2): five tasks, at most two inside\n");
    ringlet::Semaphore permits(2);
    int inside = 0;
    ringlet::Group group;
    for (int i = 1; i <= 5; ++i) {
        group.spawn([&, i] {
            permits.acquire();  // suspends while both permits are taken
            ++inside;
            std::printf("[%5.2fs] task %d enters (inside: %d)\n", stamp(), i, inside);
            ringlet::sleep(unit);
            --inside;
            std::printf("[%5.2fs] task %d leaves\n", stamp(), i);
            permits.release();
        });
    }
    ringlet::sleep(unit / 2);
    // try_acquire() never waits; acquire_for() waits at most the given time.
    const bool got = permits.try_acquire();
    std::printf("[%5.2fs] main: try_acquire() = %s, available() = %zu\n", stamp(),
                got ? "true" : "false", permits.available());
    if (got) permits.release();
    group.join();
    std::printf("[%5.2fs] main: acquire_for(1 unit) = %s once all are done\n\n", stamp(),
                permits.acquire_for(unit) ? "true" : "false");
}

// 3 Mutex + CondVar ---------------------------------------------------------
// The threading "例子2": each worker holds a threading.Lock across a sleep.
// Between two suspension points a task runs alone, so `data += 1` by itself
// would need no lock; the lock is needed because the critical section sleeps.
void mutex_section() {
    std::printf("== 3 Mutex: three tasks share one lock across a sleep\n");
    ringlet::Mutex lock;
    int data = 0;
    ringlet::Group group;
    for (int i = 1; i <= 3; ++i) {
        group.spawn([&, i] {
            std::printf("[%5.2fs] Task-%d acquire lock...\n", stamp(), i);
            std::lock_guard guard(lock);  // ringlet::Mutex is Lockable
            std::printf("[%5.2fs] Task-%d get the lock.\n", stamp(), i);
            data += 1;
            ringlet::sleep(unit);
            std::printf("[%5.2fs] Task-%d release lock...\n", stamp(), i);
        });
    }
    group.join();
    std::printf("data = %d\n", data);

    std::printf("-- CondVar: a consumer waits for items a producer adds\n");
    ringlet::CondVar changed;
    std::deque<int> items;
    bool finished = false;
    auto consumer = ringlet::spawn([&] {
        std::unique_lock held(lock);
        while (true) {
            // wait() releases the mutex while waiting and holds it again on return.
            changed.wait(held, [&] { return !items.empty() || finished; });
            if (items.empty()) break;
            std::printf("[%5.2fs] consumer got %d\n", stamp(), items.front());
            items.pop_front();
        }
        std::printf("[%5.2fs] consumer: finished\n", stamp());
    });
    for (int i = 1; i <= 3; ++i) {
        ringlet::sleep(unit / 2);
        {
            std::lock_guard guard(lock);
            items.push_back(i * 10);
        }
        changed.notify_one();
    }
    {
        std::lock_guard guard(lock);
        finished = true;
    }
    changed.notify_all();
    consumer.join();
    std::printf("\n");
}

// 4 Promise / Future --------------------------------------------------------
// gevent.event.AsyncResult; multiprocessing's res = apply_async(...); res.get().
void promise_section() {
    std::printf("== 4 Promise/Future: one-shot results, from a task and from a thread\n");
    ringlet::Promise<int> promise;
    ringlet::Future<int> result = promise.get_future();
    auto worker = ringlet::spawn([&promise] {
        ringlet::sleep(unit);
        promise.set_value(42);
    });
    // Python: r = result.get(timeout=10). wait(timeout) says whether it came.
    const bool ready_at_once = result.ready();
    const bool arrived = result.wait(10 * unit);
    std::printf("[%5.2fs] ready() = %s; wait(10 units) = %s; get() = %d\n", stamp(),
                ready_at_once ? "true" : "false", arrived ? "true" : "false", result.get());
    worker.join();

    // An exception travels too: get() rethrows it in every reader.
    ringlet::Promise<std::string> failing;
    ringlet::Future<std::string> broken = failing.get_future();
    failing.set_exception(std::make_exception_ptr(std::runtime_error("disk on fire")));
    try {
        broken.get();
    } catch (const std::runtime_error& e) {
        std::printf("[%5.2fs] get() rethrew: %s (successful() = %s)\n", stamp(), e.what(),
                    broken.successful() ? "true" : "false");
    }

    // A plain thread produces; the task waits (suspends) for it.
    ringlet::Promise<std::string> from_thread;
    ringlet::Future<std::string> answer = from_thread.get_future();
    std::thread producer([&from_thread] {
        std::this_thread::sleep_for(unit);
        from_thread.set_value("computed on a plain std::thread");
    });
    std::printf("[%5.2fs] task got: %s\n", stamp(), answer.get().c_str());
    producer.join();  // it has already set the value, so this returns at once
    std::printf("\n");
}

// 5 Timeout -----------------------------------------------------------------
// gevent.Timeout: every suspension point inside the scope throws TimeoutError
// once the deadline has passed. Calls ending in _for return instead of throwing.
void timeout_section() {
    std::printf("== 5 Timeout, with_timeout and *_for calls\n");
    {
        ringlet::Timeout deadline(unit);
        try {
            ringlet::sleep(100 * unit);
        } catch (const ringlet::TimeoutError& e) {
            std::printf(
                "[%5.2fs] sleep(100 units) under Timeout(1 unit): TimeoutError, "
                "ours: %s\n",
                stamp(), e.scope() == &deadline ? "true" : "false");
        }
    }

    // Nested scopes: the earliest deadline fires, and scope() says whose it is,
    // so an inner handler can tell an outer deadline from its own.
    try {
        ringlet::Timeout outer(unit);
        try {
            ringlet::Timeout inner(10 * unit);
            ringlet::sleep(100 * unit);
        } catch (const ringlet::TimeoutError& e) {
            std::printf("[%5.2fs] inner handler: the deadline is %s\n", stamp(),
                        e.scope() == &outer ? "the outer scope's; rethrow" : "ours");
            throw;
        }
    } catch (const ringlet::TimeoutError&) {
        std::printf("[%5.2fs] outer handler: caught it\n", stamp());
    }

    // with_timeout(d, f): f's value, or TimeoutError.
    const int quick = ringlet::with_timeout(10 * unit, [] {
        ringlet::sleep(unit);
        return 7;
    });
    std::printf("[%5.2fs] with_timeout(10 units, 1-unit job) = %d\n", stamp(), quick);
    try {
        ringlet::with_timeout(unit, [] { ringlet::sleep(10 * unit); });
    } catch (const ringlet::TimeoutError& e) {
        std::printf("[%5.2fs] with_timeout(1 unit, 10-unit job): %s\n", stamp(), e.what());
    }

    // task_worker.py: n = task.get(timeout=1) ... except Empty. A *_for call
    // reports "nothing in time" as a return value, not an exception.
    ringlet::Channel<int> task_queue(10);
    for (int i = 0; i < 3; ++i) {
        if (std::optional<int> n = task_queue.recv_for(unit / 2)) {
            std::printf("run task %d*%d\n", *n, *n);
        } else {
            std::printf("[%5.2fs] task queue is empty\n", stamp());
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";
    unit = smoke ? ringlet::Duration(10ms) : ringlet::Duration(200ms);

    start = Clock::now();
    ringlet::run([] {
        event_section();
        semaphore_section();
        mutex_section();
        promise_section();
        timeout_section();
    });
    return 0;
}
