#include "models.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <exception>
#include <functional>
#include <numeric>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <ringlet/event.hpp>
#include <ringlet/ipc/event.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/run.hpp>
#include <ringlet/task.hpp>
#include <ringlet/thread.hpp>
#if RINGLET_COMPARE_POOL
#include <ringlet/ipc/process_pool.hpp>
#endif

#include "workloads.hpp"

namespace compare {

namespace {

using namespace std::chrono_literals;

bool is_spawn() { return params().workload == Workload::spawn; }

std::string memory_limit(std::size_t launched, const char* what, const MemoryGuard& guard) {
    return "stopped at " + std::to_string(launched) + " " + what + ": MemAvailable below " +
           std::to_string(static_cast<long>(guard.reserve_kib() / 1024)) + " MiB";
}

std::string read_sysctl(const char* path) {
    std::FILE* f = std::fopen(path, "re");
    if (f == nullptr) return "?";
    char buf[64] = {};
    if (std::fgets(buf, sizeof buf, f) == nullptr) buf[0] = '?';
    std::fclose(f);
    std::string v = buf;
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    return v;
}

// Names the limit behind an error message, where there is a usual suspect.
std::string limit_hint(const std::string& why) {
    if (why.find("Too many open files") != std::string::npos) {
        return " (ulimit -n " + std::to_string(raise_fd_limit()) + ")";
    }
    if (why.find("Resource temporarily unavailable") != std::string::npos) {
        return " (kernel.pid_max " + read_sysctl("/proc/sys/kernel/pid_max") + ", kernel.threads-max " +
               read_sysctl("/proc/sys/kernel/threads-max") + ")";
    }
    if (why.find("Cannot allocate memory") != std::string::npos) {
        return " (vm.max_map_count " + read_sysctl("/proc/sys/vm/max_map_count") + ")";
    }
    return "";
}

std::string launch_failure(std::size_t launched, const char* what, const char* why) {
    return "failed at " + std::to_string(launched) + " " + what + ": " + why + limit_hint(why);
}

// Launch loops publish their count once, at their end (no shared atomic per unit).
void launch_loop_done(std::size_t count) {
    shared().launched.fetch_add(count);
    shared().launchers_done.fetch_add(1);
}

// The controller of the spawn workload waits until every launch loop has ended
// and every unit it launched waits on the gate. From a task it yields (the
// units run meanwhile); from a plain thread it sleeps between looks. The time
// it takes to notice is not counted: units record when the last one arrived.
// `gone`, if given, counts the units that will never arrive (a child process
// that died before its unit ran, e.g. out of file descriptors); it is asked
// when no unit has arrived for a second.
Clock::time_point wait_all_ready(std::size_t launchers, bool in_task,
                                 const std::function<std::uint64_t()>& gone = {}) {
    Shared& sh = shared();
    std::uint64_t dead = 0;
    std::uint64_t last_ready = 0;
    Clock::time_point last_progress = Clock::now();
    while (sh.launchers_done.load() < launchers || sh.ready.load() + dead < sh.launched.load()) {
        if (in_task) {
            ringlet::yield();
        } else {
            std::this_thread::sleep_for(200us);
        }
        if (!gone) continue;
        const std::uint64_t r = sh.ready.load();
        if (r != last_ready) {
            last_ready = r;
            last_progress = Clock::now();
        } else if (Clock::now() - last_progress > 1s) {
            dead = gone();
            last_progress = Clock::now();
        }
    }
    const std::int64_t at = sh.all_ready_ns.load();
    // Fewer units than asked for (a limit stopped the launch): now is close enough.
    return at != 0 ? Clock::time_point(Clock::duration(at)) : Clock::now();
}

// ---- (1) tasks: one scheduler, one task per unit.

void model_tasks(Section& section) {
    const std::size_t n = params().units;
    section.begin();  // the scheduler's start is part of the model's cost
    ringlet::run([&] {
        ringlet::Event gate;
        std::vector<ringlet::Task<void>> tasks;
        tasks.reserve(n);
        MemoryGuard guard;
        for (std::uint64_t i = 0; i < n; ++i) {
            if (!guard.ok(i)) {
                shared().record_limit(memory_limit(i, "tasks", guard));
                break;
            }
            try {
                if (is_spawn()) {
                    tasks.push_back(ringlet::spawn([&gate, i] { run_spawn_unit(i, gate); }));
                } else {
                    tasks.push_back(ringlet::spawn([i] { run_work_unit(i); }));
                }
            } catch (const std::exception& e) {
                shared().record_limit(launch_failure(i, "tasks", e.what()));
                break;
            }
        }
        launch_loop_done(tasks.size());
        if (is_spawn()) {
            section.measure_live_units(wait_all_ready(1, true), tasks.size());
            gate.set();
        }
        ringlet::joinall(tasks);
    });
    section.end();
}

// ---- (2) tasks_mt: run_threads(W), unit i on thread i % W.

void model_tasks_mt(Section& section) {
    const std::size_t n = params().units;
    const std::size_t w = params().workers;
    ringlet::Event gate;  // shared by the tasks of every thread
    std::exception_ptr failure;
    section.begin();
    // The controller (this thread) must watch the units while run_threads
    // waits for its threads, so run_threads gets a thread of its own.
    std::thread driver([&] {
        try {
            ringlet::run_threads(w, [&](std::size_t t) {
                std::vector<ringlet::Task<void>> tasks;
                tasks.reserve(n / w + 1);
                MemoryGuard guard;
                for (std::uint64_t i = t; i < n; i += w) {
                    if (shared().has_limit()) break;
                    if (!guard.ok(tasks.size())) {
                        shared().record_limit(memory_limit(i, "tasks", guard));
                        break;
                    }
                    try {
                        if (is_spawn()) {
                            tasks.push_back(
                                ringlet::spawn([&gate, i] { run_spawn_unit(i, gate); }));
                        } else {
                            tasks.push_back(ringlet::spawn([i] { run_work_unit(i); }));
                        }
                    } catch (const std::exception& e) {
                        shared().record_limit(launch_failure(i, "tasks", e.what()));
                        break;
                    }
                }
                launch_loop_done(tasks.size());
                ringlet::joinall(tasks);
            });
        } catch (...) {
            failure = std::current_exception();
        }
    });
    if (is_spawn()) {
        const Clock::time_point all_ready = wait_all_ready(w, false);
        section.measure_live_units(all_ready, shared().launched.load());
        gate.set();
    }
    driver.join();
    section.end();
    if (failure) std::rethrow_exception(failure);
}

// ---- (3) threads: one OS thread per unit.

void model_threads(Section& section) {
    const std::size_t n = params().units;
    ringlet::Event gate;  // waits block a plain thread
    std::vector<std::thread> threads;
    threads.reserve(n);
    MemoryGuard guard;
    section.begin();
    for (std::uint64_t i = 0; i < n; ++i) {
        if (!guard.ok(i)) {
            shared().record_limit(memory_limit(i, "threads", guard));
            break;
        }
        try {
            if (is_spawn()) {
                threads.emplace_back([&gate, i] { run_spawn_unit(i, gate); });
            } else {
                threads.emplace_back([i] { run_work_unit(i); });
            }
        } catch (const std::system_error& e) {
            shared().record_limit(launch_failure(i, "threads", e.what()));
            break;
        }
    }
    launch_loop_done(threads.size());
    if (is_spawn()) {
        section.measure_live_units(wait_all_ready(1, false), threads.size());
        gate.set();
    }
    for (std::thread& t : threads) t.join();
    section.end();
}

// ---- (4) processes: one ipc::Process per unit.

void join_processes(std::vector<ringlet::ipc::Process>& procs) {
    for (ringlet::ipc::Process& p : procs) {
        p.join();
        if (p.exitcode().value_or(1) != 0) {
            shared().failed.fetch_add(1);
            // The child printed why on stderr (1: an exception, e.g. its
            // scheduler could not start; -N: signal N).
            shared().record_error(("a child exited with " + std::to_string(*p.exitcode()) +
                                   " (its stderr says why)")
                                      .c_str());
        }
    }
}

void model_processes(Section& section) {
    const std::size_t n = params().units;
    // Every live ipc::Process holds a pidfd in the parent, and every child
    // inherits those of its elder siblings: past the fd limit it fails for
    // sure, after a crawl that is quadratic in n (each fork copies, each exit
    // closes, all of them). Say so at once instead.
    const std::uint64_t fds = raise_fd_limit();
    if (is_spawn() && n + 64 > fds) {
        shared().record_limit("not run: " + std::to_string(n) +
                              " live ipc::Processes need a pidfd each, ulimit -n is " +
                              std::to_string(fds));
        return;
    }
    ringlet::ipc::Event gate;  // process-shared; a waiting child's task suspends
    std::vector<ringlet::ipc::Process> procs;
    procs.reserve(n);
    MemoryGuard guard;
    section.begin();
    for (std::uint64_t i = 0; i < n; ++i) {
        if (!guard.ok(i)) {
            shared().record_limit(memory_limit(i, "processes", guard));
            break;
        }
        try {
            if (is_spawn()) {
                procs.emplace_back([&gate](std::uint64_t k) { run_spawn_unit(k, gate); }, i);
            } else {
                procs.emplace_back([](std::uint64_t k) { run_work_unit(k); }, i);
            }
            procs.back().start();
        } catch (const std::exception& e) {
            procs.pop_back();
            shared().record_limit(launch_failure(i, "processes", e.what()));
            break;
        }
    }
    launch_loop_done(procs.size());
    if (is_spawn()) {
        const auto dead_children = [&procs] {
            std::uint64_t exited = 0;
            for (ringlet::ipc::Process& p : procs) exited += p.is_alive() ? 0 : 1;
            return exited;
        };
        section.measure_live_units(wait_all_ready(1, false, dead_children), procs.size());
        gate.set();
    }
    join_processes(procs);
    section.end();
}

// ---- (5) pool: ipc::ProcessPool(W).

#if RINGLET_COMPARE_POOL
// Plain functions: a pool sends function pointers to its forked workers.
std::uint64_t pool_work_unit(std::uint64_t i) { return work_unit(i); }
std::uint64_t pool_spawn_unit(std::uint64_t i) { return i; }

void model_pool(Section& section) {
    const std::size_t n = params().units;
    std::uint64_t* results = shared().results();
    section.begin();
    try {
        ringlet::ipc::ProcessPool pool(params().workers);
        if (is_spawn()) {
            // A pool's units never all live at once (W run, the rest queue):
            // the cost of one is one apply_async() and its get().
            std::vector<ringlet::ipc::AsyncResult<std::uint64_t>> pending;
            pending.reserve(n);
            for (std::uint64_t i = 0; i < n; ++i) pending.push_back(pool.apply_async(&pool_spawn_unit, i));
            for (std::uint64_t i = 0; i < n; ++i) results[i] = pending[i].get();
            launch_loop_done(n);
            section.measure_live_units(Clock::now(), n);
        } else {
            std::vector<std::uint64_t> items(n);
            std::iota(items.begin(), items.end(), std::uint64_t{0});
            std::vector<std::uint64_t> out = pool.map(&pool_work_unit, items);
            std::copy(out.begin(), out.end(), results);
            launch_loop_done(n);
        }
        pool.close();
        pool.join();
    } catch (const std::exception& e) {
        shared().failed.fetch_add(1);
        shared().record_error(e.what());
    }
    section.end();
}
#endif

// ---- (6) hybrid: W processes, each a scheduler running its share as tasks.

void hybrid_child(std::size_t t, ringlet::ipc::Event& gate) {
    const std::size_t n = params().units;
    const std::size_t w = params().workers;
    // One cross-process wait per process; its tasks wait on a local Event.
    ringlet::Event local;
    ringlet::Task<void> relay;
    if (is_spawn()) {
        relay = ringlet::spawn([&] {
            gate.wait();
            local.set();
        });
    }
    std::vector<ringlet::Task<void>> tasks;
    tasks.reserve(n / w + 1);
    MemoryGuard guard;
    for (std::uint64_t i = t; i < n; i += w) {
        if (shared().has_limit()) break;
        if (!guard.ok(tasks.size())) {
            shared().record_limit(memory_limit(i, "tasks", guard));
            break;
        }
        try {
            if (is_spawn()) {
                tasks.push_back(ringlet::spawn([&local, i] { run_spawn_unit(i, local); }));
            } else {
                tasks.push_back(ringlet::spawn([i] { run_work_unit(i); }));
            }
        } catch (const std::exception& e) {
            shared().record_limit(launch_failure(i, "tasks", e.what()));
            break;
        }
    }
    launch_loop_done(tasks.size());
    ringlet::joinall(tasks);
    if (relay.valid()) relay.join();
}

void model_hybrid(Section& section) {
    const std::size_t w = params().workers;
    ringlet::ipc::Event gate;
    std::vector<ringlet::ipc::Process> procs;
    procs.reserve(w);
    section.begin();
    for (std::size_t t = 0; t < w; ++t) {
        procs.emplace_back([&gate](std::size_t k) { hybrid_child(k, gate); }, t);
        procs.back().start();
    }
    if (is_spawn()) {
        const Clock::time_point all_ready = wait_all_ready(w, false);
        section.measure_live_units(all_ready, shared().launched.load());
        gate.set();
    }
    join_processes(procs);
    section.end();
}

struct Model {
    const char* name;
    void (*run)(Section&);
};

constexpr Model models[] = {
    {"tasks", model_tasks},
    {"tasks_mt", model_tasks_mt},
    {"threads", model_threads},
    {"processes", model_processes},
#if RINGLET_COMPARE_POOL
    {"pool", model_pool},
#endif
    {"hybrid", model_hybrid},
};

}  // namespace

void Section::begin() {
    base_pss_kib_ = tree_pss_kib(::getpid());
    base_kernel_kib_ = kernel_kib();
    u0_ = Usage::now();
    t0_ = Clock::now();
}

void Section::measure_live_units(Clock::time_point all_ready, std::size_t live) {
    const Usage before = Usage::now();
    spawn_s_ = std::chrono::duration<double>(all_ready - t0_).count();
    mem_kib_ = tree_pss_kib(::getpid());
    const double kernel = kernel_kib();
    if (live > 0) {
        mem_per_unit_kib_ = (mem_kib_ - base_pss_kib_) / static_cast<double>(live);
        kmem_per_unit_kib_ = (kernel - base_kernel_kib_) / static_cast<double>(live);
    }
    excluded_ += Clock::now() - all_ready;
    excluded_usage_ = excluded_usage_ + (Usage::now() - before);
}

void Section::end() {
    t1_ = Clock::now();
    u1_ = Usage::now();
}

double Section::wall_s() const { return std::chrono::duration<double>(t1_ - t0_ - excluded_).count(); }

bool run_model(std::string_view model, Section& section) {
    for (const Model& m : models) {
        if (model == m.name) {
            m.run(section);
            return true;
        }
    }
    return false;
}

std::string model_names() {
    std::string out;
    for (const Model& m : models) {
        if (!out.empty()) out += ",";
        out += m.name;
    }
    return out;
}

}  // namespace compare
