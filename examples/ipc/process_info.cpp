// examples/ipc/process_info.cpp — psutil's process listing, then a pool's children.
//
// Ports a Python processInfo(): for every process on the machine, psutil prints
// its pid, name, executable path, working directory, parent, status, thread
// count and memory. ringlet::ps reads the same /proc files with psutil's
// definitions: a process that ends half-way through its row is skipped
// (NoSuchProcess), and fields Linux protects show "AccessDenied", as psutil
// raises it. Then a ProcessPool(2) crunches numbers while the parent looks
// at its own children (the pool's fork server and workers) with their
// memory and their CPU use over an interval: cpu_percent(interval) is a
// suspension point, so the three measurements run side by side.
//
//   process_info           every process, then the pool (work for 2 s)
//   process_info --smoke   the first 20 processes, work for 0.3 s
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

#include <ringlet/ipc.hpp>
#include <ringlet/ps.hpp>
#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;
namespace ps = ringlet::ps;

namespace {

// Burns CPU for about `ms` milliseconds (a worker's job).
long crunch(int ms) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    long n = 0;
    while (std::chrono::steady_clock::now() < end) ++n;
    return n;
}

std::string mib(std::uint64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fMB", static_cast<double>(bytes) / (1024.0 * 1024.0));
    return buf;
}

// One field, or what psutil would have raised instead.
template <class F>
std::string field(F f) {
    try {
        return f();
    } catch (const ps::ZombieProcess&) {
        return "ZombieProcess";
    } catch (const ps::AccessDenied&) {
        return "AccessDenied";
    }
}

}  // namespace

int main(int argc, char** argv) {
    const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
    return ringlet::run([&] {
        std::printf("%-8s %-18s %-28s %-20s %-6s %-10s %-6s %s\n", "进程编号", "进程名称",
                    "执行路径", "当前路径", "父进程", "状态", "线程数", "内存");
        std::size_t listed = 0;
        for (ps::Process p : ps::process_iter()) {
            if (smoke && listed == 20) break;
            try {
                const std::string exe = field([&] { return p.exe(); });
                const std::string cwd = field([&] { return p.cwd(); });
                std::printf("%-8d %-18s %-28s %-20s %-6d %-10s %-6zu %s\n", p.pid(),
                            p.name().c_str(), exe.c_str(), cwd.c_str(), p.ppid(),
                            std::string(ps::status_name(p.status())).c_str(), p.num_threads(),
                            mib(p.memory_info().rss).c_str());
                ++listed;
            } catch (const ps::NoSuchProcess&) {
                // Ended while we read it: psutil's process_iter skips it too.
            }
        }
        std::printf("%zu processes; %zu CPUs, %.1f%% of %s memory in use\n\n", listed,
                    ps::cpu_count(), ps::virtual_memory().percent,
                    mib(ps::virtual_memory().total).c_str());

        const int work_ms = smoke ? 300 : 2000;
        ipc::ProcessPool pool(2);
        std::vector<ipc::AsyncResult<long>> jobs;
        for (int i = 0; i < 2; ++i) jobs.push_back(pool.apply_async(crunch, work_ms));
        // Let the workers get going before we measure them.
        ringlet::sleep(std::chrono::milliseconds(work_ms / 6));
        std::vector<ps::Process> kids = ps::Process().children(true);
        std::vector<double> cpu(kids.size());
        std::vector<ringlet::Task<void>> probes;
        for (std::size_t i = 0; i < kids.size(); ++i) {
            probes.push_back(ringlet::spawn([&, i] {
                try {
                    cpu[i] = kids[i].cpu_percent(std::chrono::milliseconds(work_ms / 3));
                } catch (const ps::NoSuchProcess&) {
                    cpu[i] = -1;
                }
            }));
        }
        ringlet::joinall(probes);
        std::printf("children of this process (pid %d): the pool's fork server and workers\n",
                    ::getpid());
        std::printf("%-8s %-8s %-18s %-10s %s\n", "进程编号", "父进程", "进程名称", "内存", "CPU");
        for (std::size_t i = 0; i < kids.size(); ++i) {
            try {
                std::printf("%-8d %-8d %-18s %-10s %.0f%%\n", kids[i].pid(), kids[i].ppid(),
                            kids[i].name().c_str(), mib(kids[i].memory_info().rss).c_str(), cpu[i]);
            } catch (const ps::NoSuchProcess&) {
            }
        }
        long total = 0;
        for (auto& j : jobs) total += j.get();
        std::printf("the workers counted to %ld\n", total);
        return kids.size() >= 2 && listed > 0 ? 0 : 1;
    });
}
