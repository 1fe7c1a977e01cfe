// bench/ps/ps_list.cpp — list every process with ringlet::ps, as psutil's
// process_iter(attrs) does, and print the time per full listing.
//
// Fields per process: name, exe, cwd, ppid, status, rss, num_threads (the
// columns of the Python processInfo() table), under oneshot() as psutil's
// process_iter(attrs). Usage: ps_list [REPEAT] — prints
// "ringlet_ps listings=R processes=N seconds_per_listing=S" (best of R).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <ringlet/ps.hpp>

namespace ps = ringlet::ps;

int main(int argc, char** argv) {
    const int repeat = argc > 1 ? std::atoi(argv[1]) : 20;
    double best = 1e9;
    std::size_t processes = 0;
    std::size_t checksum = 0;  // keeps the reads from being optimised out
    for (int r = 0; r < repeat; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        std::size_t n = 0;
        for (ps::Process p : ps::process_iter()) {
            try {
                p.oneshot([&] {
                    std::string exe, cwd;
                    try {
                        exe = p.exe();
                    } catch (const ps::AccessDenied&) {
                    }
                    try {
                        cwd = p.cwd();
                    } catch (const ps::AccessDenied&) {
                    }
                    checksum += p.name().size() + exe.size() + cwd.size() +
                                static_cast<std::size_t>(p.ppid()) +
                                static_cast<std::size_t>(p.status()) + p.memory_info().rss +
                                p.num_threads();
                });
                ++n;
            } catch (const ps::NoSuchProcess&) {
            }
        }
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (s < best) best = s;
        processes = n;
    }
    std::printf("ringlet_ps listings=%d processes=%zu seconds_per_listing=%.6f checksum=%zu\n",
                repeat, processes, best, checksum % 10);
    return 0;
}
