// examples/spawn_joinall.cpp — gevent.spawn / gevent.joinall / gevent.sleep with tasks.
//
// Ports a gevent tutorial program: gevent.spawn, join, gevent.joinall, gevent.sleep:
//   g = gevent.spawn(function, parament)   ->  auto g = ringlet::spawn(function, parament);
//   g.join()                               ->  g.join();  (or g.get() for its value)
//   gevent.joinall(spawnlist)              ->  ringlet::joinall(spawnlist);
//   gevent.sleep(time)                     ->  ringlet::sleep(time);
// Part 2 replays a multiprocessing program ("四、多进程并行执行": three
// Process(target=task) sleeping 1, 2 and 3 s finish after 3 s, not 6) with tasks
// instead of processes. Part 3 is gevent's kill(): join with a timeout, then cancel.
//
//   spawn_joinall            time unit 1 s
//   spawn_joinall --smoke    time unit 50 ms

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

// Part 1: the gevent tutorial's foo/bar. Each task gives way with sleep(0),
// an explicit suspension point, and the other one runs.
void foo() {
    std::printf("Running in foo\n");
    ringlet::sleep(0s);
    std::printf("Explicit context switch to foo again\n");
}

void bar() {
    std::printf("Explicit context to bar\n");
    ringlet::sleep(0s);
    std::printf("Implicit context switch back to bar\n");
}

void explicit_switches() {
    std::printf("== Part 1: two tasks take turns at their suspension points\n");
    std::vector<ringlet::Task<void>> tasks;
    tasks.push_back(ringlet::spawn(foo));
    tasks.push_back(ringlet::spawn(bar));
    // spawn() only made them ready. Nothing has been printed yet: they first
    // run when main reaches a suspension point, here joinall().
    std::printf("main: spawned foo and bar; neither has run yet\n");
    ringlet::joinall(tasks);
    std::printf("main: joinall returned\n\n");
}

// Part 2: the Python task(name, n), with ringlet::sleep in place of time.sleep.
void task(std::string name, int n, ringlet::Duration unit) {
    std::printf("%s is running\n", name.c_str());
    ringlet::sleep(n * unit);
    std::printf("%s is done\n", name.c_str());
}

void sleeps_overlap(ringlet::Duration unit) {
    std::printf("== Part 2: three tasks sleep 1, 2 and 3 units at the same time\n");
    const Clock::time_point start = Clock::now();
    // Arguments are copied into the new task (use std::ref to share instead).
    auto p1 = ringlet::spawn(task, "task 1", 1, unit);
    auto p2 = ringlet::spawn(task, "task 2", 2, unit);
    auto p3 = ringlet::spawn(task, "task 3", 3, unit);
    // The variadic form takes the tasks themselves, and an optional timeout last.
    ringlet::joinall(p1, p2, p3);
    const double unit_s = std::chrono::duration<double>(unit).count();
    std::printf("elapsed %.2f s = %.1f units (the sleeps add up to 6 units)\n\n",
                seconds_since(start), seconds_since(start) / unit_s);
}

// Part 3: g.join(timeout), g.get() and gevent's g.kill().
struct Announce {
    const char* what;
    ~Announce() { std::printf("%s\n", what); }
};

void join_get_cancel(ringlet::Duration unit) {
    std::printf("== Part 3: join with a timeout, get a value, cancel\n");
    auto square = ringlet::spawn(
        [unit](int x) {
            ringlet::sleep(unit / 2);
            return x * x;
        },
        12);
    // get() waits for the task and returns its value (or rethrows its exception).
    std::printf("square.get() = %d\n", square.get());

    auto slow = ringlet::spawn([unit] {
        Announce bye{"slow: unwinding; its destructors run"};
        try {
            ringlet::sleep(100 * unit);
        } catch (const std::exception&) {
            // Never reached for a cancel: Cancelled is not a std::exception, so a
            // catch-all for errors cannot swallow it (gevent's GreenletExit).
            std::printf("slow: not printed\n");
        }
    });
    // join(timeout) answers "did it end in time?" and never throws the task's error.
    const bool ended = slow.join(unit);
    std::printf("slow.join(1 unit) = %s; cancelling it\n", ended ? "true" : "false");
    // cancel() delivers Cancelled inside the task at its suspension point (the
    // sleep); it does not wait, join() does.
    slow.cancel();
    slow.join();
    std::printf("slow.cancelled() = %s, slow.failed() = %s\n", slow.cancelled() ? "true" : "false",
                slow.failed() ? "true" : "false");
    try {
        slow.get();
    } catch (const ringlet::Cancelled&) {
        std::printf("slow.get() rethrows ringlet::Cancelled, as asyncio does\n");
    }
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";
    const ringlet::Duration unit = smoke ? ringlet::Duration(50ms) : ringlet::Duration(1s);

    ringlet::run([unit] {
        explicit_switches();
        sleeps_overlap(unit);
        join_get_cancel(unit);
    });
    return 0;
}
