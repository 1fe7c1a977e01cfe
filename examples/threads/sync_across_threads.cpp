// examples/threads/sync_across_threads.cpp — the threading module's classes
// ("threading模块提供的类: Thread, Lock, Rlock, Condition, [Bounded]Semaphore,
// Event, Timer, local"): the synchronisation classes, used ACROSS threads.
//
// Every ringlet primitive is shared directly by tasks on different
// ringlet::Threads (and by plain std::threads): a task that waits suspends
// and its thread runs its other tasks; the thread that signals wakes it
// through the target scheduler's wake-up queue.
//
//   1 Event      threading.Event: tasks on two threads and a plain thread wait; main sets.
//   2 Condition  threading.Condition: a producer thread, consumer tasks on another
//                thread, a ringlet::Mutex + ringlet::CondVar around a shared list.
//   3 Semaphore  threading.BoundedSemaphore(2): tasks on two threads, at most 2 inside.
//   4 Timer      threading.Timer(interval, fn): a task that sleeps, then acts;
//                cancel() (from any thread) stops it before it fires.
//
//   sync_across_threads            time unit 200 ms
//   sync_across_threads --smoke    time unit 10 ms
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;
Clock::time_point start;
ringlet::Duration unit;
std::mutex print_mutex;

template <class... A>
void say(const char* format, A... args) {
    std::lock_guard guard(print_mutex);
    std::printf("[%6.3fs] ", std::chrono::duration<double>(Clock::now() - start).count());
    std::printf(format, args...);
    std::printf("\n");
}

int thread_number() {
    static std::atomic<int> next{1};
    thread_local int mine = next.fetch_add(1);
    return mine;
}

// 1 Event ---------------------------------------------------------------------
void event_section() {
    std::printf("== 1 Event: tasks on two threads and a plain thread wait for one set()\n");
    ringlet::Event ready;
    auto waiters = [&] {
        ringlet::Group group;
        for (int k = 1; k <= 2; ++k) {
            group.spawn([&, k] {
                ready.wait();
                say("thread %d, task %d: the event is set", thread_number(), k);
            });
        }
        group.join();
    };
    ringlet::Thread<void> a(waiters);
    ringlet::Thread<void> b(waiters);
    std::thread plain([&] {
        ready.wait();  // no scheduler here: blocks this OS thread
        say("plain std::thread: the event is set");
    });
    ringlet::run([&] {
        const bool early = ready.wait(unit);  // false: nobody has set it yet
        say("main: wait(1 unit) -> %s; set()", early ? "true" : "false");
        ready.set();
    });
    a.get();
    b.get();
    plain.join();
    std::printf("\n");
}

// 2 Condition -----------------------------------------------------------------
void condition_section() {
    std::printf("== 2 Condition: a producer thread, consumer tasks on another thread\n");
    ringlet::Mutex mutex;
    ringlet::CondVar changed;
    std::deque<int> items;  // guarded by mutex
    bool finished = false;  // guarded by mutex
    constexpr int n_items = 6;

    ringlet::Thread<void> producer([&] {
        for (int i = 1; i <= n_items; ++i) {
            ringlet::sleep(unit / 2);
            std::lock_guard guard(mutex);  // cond.acquire()
            items.push_back(i);
            say("producer (thread %d): item %d, notify_one()", thread_number(), i);
            changed.notify_one();  // cond.notify()
        }
        std::lock_guard guard(mutex);
        finished = true;
        changed.notify_all();
    });
    ringlet::Thread<int> consumers([&] {
        std::atomic<int> eaten{0};
        ringlet::Group group;
        for (int k = 1; k <= 2; ++k) {
            group.spawn([&, k] {
                for (;;) {
                    std::unique_lock lock(mutex);
                    // cond.wait() until there is an item or the producer is done.
                    changed.wait(lock, [&] { return !items.empty() || finished; });
                    if (items.empty()) return;
                    const int item = items.front();
                    items.pop_front();
                    lock.unlock();
                    say("  consumer task %d (thread %d): got item %d", k, thread_number(), item);
                    eaten.fetch_add(1);
                }
            });
        }
        group.join();
        return eaten.load();
    });
    producer.get();
    say("consumers ate %d of %d items", consumers.get(), n_items);
    std::printf("\n");
}

// 3 Semaphore -----------------------------------------------------------------
void semaphore_section() {
    std::printf(
        "== 3 BoundedSemaphore(2): three tasks on each of two threads, two inside at most\n");
    ringlet::Semaphore slots(2);
    std::atomic<int> inside{0};
    std::atomic<int> most{0};
    auto workers = [&] {
        ringlet::Group group;
        for (int k = 1; k <= 3; ++k) {
            group.spawn([&, k] {
                slots.acquire();  // with sema: ...
                const int now = inside.fetch_add(1) + 1;
                int seen = most.load();
                while (seen < now && !most.compare_exchange_weak(seen, now)) {
                }
                say("thread %d task %d: in  (%d inside)", thread_number(), k, now);
                ringlet::sleep(unit);
                inside.fetch_sub(1);
                say("thread %d task %d: out", thread_number(), k);
                slots.release();
            });
        }
        group.join();
    };
    ringlet::run_threads(2, workers);
    say("at most %d inside at once; %zu permits free again", most.load(), slots.available());
    std::printf("\n");
}

// 4 Timer ---------------------------------------------------------------------
// threading.Timer(interval, function): start it, and cancel() it while it is
// still waiting. Here a Timer is just a task that sleeps and then calls fn;
// cancel() delivers Cancelled at the sleep, so fn never runs. Task::cancel()
// is thread-safe: another thread may call it.
class Timer {
  public:
    template <class F>
    Timer(ringlet::Duration interval, F fn)
        : task_(ringlet::spawn([interval, fn] {
              ringlet::sleep(interval);
              fn();
          })) {}
    void cancel() { task_.cancel(); }
    void join() { task_.join(); }
    bool fired() const { return task_.done() && !task_.cancelled(); }

  private:
    ringlet::Task<void> task_;
};

void timer_section() {
    std::printf(
        "== 4 Timer: two timers on a thread; main cancels the slow one from its own thread\n");
    ringlet::Event fast_fired;
    ringlet::Event cancel_sent;
    ringlet::Promise<Timer*> slow_timer;
    auto slow_future = slow_timer.get_future();
    ringlet::Thread<std::string> timers([&, p = std::move(slow_timer)]() mutable {
        Timer fast(unit, [&] {
            say("fast timer (thread %d): fired after 1 unit", thread_number());
            fast_fired.set();
        });
        Timer slow(4 * unit, [] { say("slow timer: fired (it should have been cancelled)"); });
        p.set_value(&slow);
        fast.join();
        slow.join();
        // Keep `slow` alive until main's cancel() has returned.
        cancel_sent.wait();
        return std::string("fast ") + (fast.fired() ? "fired" : "cancelled") + ", slow " +
               (slow.fired() ? "fired" : "cancelled");
    });
    ringlet::run([&] {
        Timer* slow = slow_future.get();
        fast_fired.wait();
        say("main: fast timer done; cancel() the slow one from this thread");
        slow->cancel();
        cancel_sent.set();
    });
    say("timers thread reports: %s", timers.get().c_str());
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";
    unit = smoke ? ringlet::Duration(10ms) : ringlet::Duration(200ms);
    start = Clock::now();
    event_section();
    condition_section();
    semaphore_section();
    timer_section();
    return 0;
}
