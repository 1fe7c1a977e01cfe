// examples/demo.cpp — the demonstration: ten thousand sleeping tasks, then a bounded pool.
//
// Ports a gevent tutorial program: gevent.spawn, gevent.joinall, gevent.sleep
// and gevent.pool.Pool:
//   g = gevent.spawn(function, parament); gevent.joinall(spawnlist); gevent.sleep(time)
//   p = Pool(number); p.spawn(function, parament); p.join()
// Part 1 does the spawn / sleep / joinall part at scale and measures what a
// sleeping task costs. Part 2 runs a Pool(3); its output has the shape of the
// Python multiprocessing Pool example ("Run task 0 (671)..." /
// "Task 2 runs 0.14 seconds."), with a timestamp on every line.
//
//   demo            10 000 tasks sleeping 1 s each, then Pool(3) over 6 jobs
//   demo --smoke    1 000 tasks sleeping 100 ms, and pool jobs ten times shorter

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;
const Clock::time_point program_start = Clock::now();

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

// Resident memory of this process in KiB, from the VmRSS line of /proc/self/status.
long vm_rss_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
}

// Part 1: gevent.spawn() × count, gevent.sleep(nap) in each, gevent.joinall().
void sleeping_tasks(std::size_t count, ringlet::Duration nap) {
    const double nap_s = std::chrono::duration<double>(nap).count();
    std::printf("== Part 1: %zu tasks, each sleeping %.1f s\n", count, nap_s);

    // The handles are reserved up front so that the vector's growth is not
    // counted as task memory below.
    std::vector<ringlet::Task<void>> tasks;
    tasks.reserve(count);
    std::size_t asleep = 0;
    const long rss_before = vm_rss_kib();

    // spawn() only makes a task ready. None of them runs until this task (main)
    // reaches a suspension point: that is gevent's rule, and it makes a spawn
    // loop cheap and predictable.
    const Clock::time_point start = Clock::now();
    for (std::size_t i = 0; i < count; ++i) {
        tasks.push_back(ringlet::spawn([&asleep, nap] {
            ++asleep;             // no lock: tasks of one scheduler never run at the same time
            ringlet::sleep(nap);  // a suspension point: the scheduler runs the next task
        }));
    }
    std::printf("spawned %zu tasks in %.1f ms; %zu of them have run so far\n", count,
                seconds_since(start) * 1e3, asleep);

    // yield() is a suspension point: main goes to the back of the run queue,
    // and every ready task runs until its own sleep().
    while (asleep < count) ringlet::yield();
    const long rss_asleep = vm_rss_kib();
    const ringlet::Stats stats = ringlet::stats();
    std::printf("all %zu tasks are asleep; resident memory grew by %ld KiB: %.2f KiB per task\n",
                count, rss_asleep - rss_before,
                static_cast<double>(rss_asleep - rss_before) / static_cast<double>(count));
    std::printf(
        "(backend: %s; stacks in use: %zu, of 256 KiB address space each, committed lazily)\n",
        stats.backend, stats.stacks_in_use);

    // joinall() waits for every task, with one deadline for all (none here).
    ringlet::joinall(tasks);
    std::printf("joined all %zu tasks %.3f s after the first spawn: they slept at the same time\n",
                count, seconds_since(start));

    // Ended tasks return their stacks to the scheduler's pool, which keeps a
    // few hundred warm for reuse and hands the rest back to the kernel.
    tasks.clear();
    std::printf("after joinall: resident memory is %ld KiB above the start\n\n",
                vm_rss_kib() - rss_before);
}

// Part 2: p = Pool(3); p.spawn(...) per job; p.join().
void bounded_pool(ringlet::Duration unit) {
    constexpr int work[] = {5, 2, 4, 1, 3, 2};  // how many units each job sleeps
    std::printf("== Part 2: Pool(3) runs %zu jobs, at most 3 at a time\n", std::size(work));
    const Clock::time_point start = Clock::now();
    auto stamp = [start] { return seconds_since(start); };

    std::printf("[%5.2fs] Main task %llu.\n", stamp(),
                static_cast<unsigned long long>(ringlet::current_task()));
    ringlet::Pool pool(3);
    for (int i = 0; i < static_cast<int>(std::size(work)); ++i) {
        // Pool::spawn waits while all 3 slots are busy, so this loop itself
        // blocks (suspends) at the 4th job until one of the first three ends.
        std::printf("[%5.2fs] main: spawn task %d (free slots: %zu)\n", stamp(), i,
                    pool.free_count());
        pool.spawn([i, stamp, nap = work[i] * unit] {
            std::printf("[%5.2fs] Run task %d (task id %llu)...\n", stamp(), i,
                        static_cast<unsigned long long>(ringlet::current_task()));
            const Clock::time_point begin = Clock::now();
            ringlet::sleep(nap);
            std::printf("[%5.2fs] Task %d runs %0.2f seconds.\n", stamp(), i, seconds_since(begin));
        });
    }
    std::printf("[%5.2fs] Waiting for all tasks done...\n", stamp());
    pool.join();
    std::printf("[%5.2fs] All tasks done.\n", stamp());
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";

    // run() turns this thread into a scheduler and runs the lambda as its
    // first task, "main". It returns when main returns (leftover tasks are
    // cancelled and unwound first).
    ringlet::run([smoke] {
        if (smoke) {
            sleeping_tasks(1000, 100ms);
            bounded_pool(20ms);
        } else {
            sleeping_tasks(10000, 1s);
            bounded_pool(200ms);
        }
    });
    std::printf("\ntotal: %.2f s\n", seconds_since(program_start));
    return 0;
}
