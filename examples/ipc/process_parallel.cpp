// examples/ipc/process_parallel.cpp — three processes run at the same time.
//
// A multiprocessing.Process program ("四、多进程并行执行"): processes that
// sleep 1, 2 and 3 s, all started before any is joined, end after about 3 s
// in all, not 1 + 2 + 3 = 6:
//
//   def task(name, n): print('%s is running' % name); time.sleep(n); print('%s is done' % name)
//   p1 = Process(target=task, args=("进程1", 1))   # and p2 (2 s), p3 (3 s)
//   start_time = time.time()
//   p1.start(); p2.start(); p3.start()
//   p1.join(); p2.join(); p3.join()
//   print(stop_time - start_time)                  # 3.2848567962646484
//
// Joining p1 first costs nothing: p2 and p3 sleep meanwhile, so their joins
// return 1 s later each. (spawn_joinall.cpp does the same with tasks in one
// process; there, too, the sleeps overlap.)
//
//   process_parallel            sleeps of 1, 2 and 3 s
//   process_parallel --smoke    sleeps of 0.1, 0.2 and 0.3 s
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include <ringlet/ipc/process.hpp>
#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;

namespace {

using Clock = std::chrono::steady_clock;

void task(const std::string& name, int n, ringlet::Duration unit) {
    std::printf("%s is running (pid %d)\n", name.c_str(), ipc::current_pid());
    ringlet::sleep(n * unit);
    std::printf("%s is done\n", name.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";
    const ringlet::Duration unit = smoke ? ringlet::Duration(100ms) : ringlet::Duration(1s);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // keep the four processes' lines in order

    return ringlet::run([unit] {
        ipc::Process p1(task, std::string("process 1"), 1, unit);
        ipc::Process p2(task, std::string("process 2"), 2, unit);
        ipc::Process p3(task, std::string("process 3"), 3, unit);

        const auto start = Clock::now();
        p1.start();
        p2.start();
        p3.start();
        // While p1 runs its second, p2 and p3 are running too.
        p1.join();
        p2.join();
        p3.join();
        const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        const double units = elapsed / std::chrono::duration<double>(unit).count();
        std::printf("%.4f s = %.2f x %g s (one after the other: 6 x %g s)\n", elapsed, units,
                    std::chrono::duration<double>(unit).count(),
                    std::chrono::duration<double>(unit).count());

        // Together they take the longest sleep (3 units) plus fork and exit
        // costs; one after the other they would take 6 units.
        const bool ok = p1.exitcode() == 0 && p2.exitcode() == 0 && p3.exitcode() == 0 &&
                        units >= 3.0 && units < 5.0;
        if (!ok) std::printf("UNEXPECTED: the sleeps did not overlap (or a child failed)\n");
        return ok ? 0 : 1;
    });
}
