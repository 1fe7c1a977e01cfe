// examples/ipc/pool_apply.cpp — a process pool: apply vs apply_async, callbacks.
//
// The multiprocessing.Pool programs of the Python tutorials ("九、进程池" 1-3,
// long_time_task, "同步调用apply" / "异步调用apply_async" / "回掉函数" and
// "apply堵塞式和apply_async非堵塞式"):
//
//   pool = Pool(processes=5)
//   for i in range(10):
//       pool.apply(func=foo, args=(i,))        # one after the other: ~10 x 2 s
//   for i in range(10):
//       pool.apply_async(func=foo, args=(i,))  # 5 at a time: ~2 x 2 s
//   pool.close(); pool.join()
//   pool = Pool(processes=2)
//   pool.apply_async(func=foo, args=(i,), callback=bar)   # bar runs in the main process
//
// Here foo sleeps one unit (0.5 s; 0.05 s with --smoke) and returns i * i,
// as the Python work(). apply() waits for each result, so ten calls take ten
// units; apply_async() queues all ten and the five workers run them five at
// a time: two units. The callback prints the main process's pid: callbacks
// run in the process that submitted, never in a worker (here on the main
// task's thread, as a task of its own). Checked: the results, the timings'
// order, the callbacks' pids.
//
//   pool_apply            units of 0.5 s
//   pool_apply --smoke    units of 0.05 s
#include <chrono>
#include <cstdio>
#include <set>
#include <string_view>
#include <vector>

#include <ringlet/ipc.hpp>
#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;

namespace {

using Clock = std::chrono::steady_clock;

ringlet::Duration unit = 500ms;  // set in main, before the pool forks its workers

int foo(int i) {
    std::printf("pid=%d start run work%d\n", ipc::current_pid(), i);
    ringlet::sleep(unit);
    std::printf("pid=%d end run work%d\n", ipc::current_pid(), i);
    return i * i;
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) == "--smoke") unit = 50ms;
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // whole lines from every process
    const double u = std::chrono::duration<double>(unit).count();

    return ringlet::run([u] {
        bool ok = true;
        std::printf("main process %d\n", ipc::current_pid());

        // 1. apply: each call waits for its result.
        std::vector<int> results;
        double serial = 0;
        {
            ipc::ProcessPool pool(5);
            const auto start = Clock::now();
            for (int i = 0; i < 10; ++i) results.push_back(pool.apply(foo, i));
            serial = seconds_since(start);
            pool.close();
            pool.join();
        }
        std::printf("apply: %.2f s for 10 tasks (%.1f units)\n", serial, serial / u);
        for (int i = 0; i < 10; ++i) ok = ok && results[static_cast<std::size_t>(i)] == i * i;

        // 2. apply_async: all ten queued at once, five run at a time.
        double overlapped = 0;
        {
            ipc::ProcessPool pool(5);
            const auto start = Clock::now();
            std::vector<ipc::AsyncResult<int>> pending;
            for (int i = 0; i < 10; ++i) pending.push_back(pool.apply_async(foo, i));
            std::printf("end (the tasks are still running)\n");
            pool.close();
            pool.join();
            overlapped = seconds_since(start);
            for (int i = 0; i < 10; ++i) {
                ok = ok && pending[static_cast<std::size_t>(i)].get() == i * i;
            }
        }
        std::printf("apply_async: %.2f s for 10 tasks (%.1f units)\n", overlapped, overlapped / u);
        // Ten units one after the other; two (plus start-up) five at a time.
        if (!(serial >= 10 * u && overlapped < serial / 2)) {
            std::printf("UNEXPECTED: apply_async did not overlap the tasks\n");
            ok = false;
        }

        // 3. callbacks, in the main process.
        std::set<int> callback_pids;
        int callbacks = 0;
        {
            ipc::ProcessPool pool(2);
            for (int i = 0; i < 3; ++i) {
                pool.apply_async(foo, i, [&](int value) {
                    std::printf("-->exec done: %d (callback in pid %d)\n", value,
                                ipc::current_pid());
                    callback_pids.insert(ipc::current_pid());
                    ++callbacks;
                });
            }
            pool.close();
            pool.join();
        }
        // join() returns once the results are in; their callback tasks run next.
        while (callbacks < 3) ringlet::yield();
        if (callback_pids != std::set<int>{ipc::current_pid()}) {
            std::printf("UNEXPECTED: a callback ran outside the main process\n");
            ok = false;
        }
        std::printf("%s\n", ok ? "all checks passed" : "FAILED");
        return ok ? 0 : 1;
    });
}
