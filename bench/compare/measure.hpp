// bench/compare/measure.hpp — what one cell of the comparison measures about itself.
//
// A cell is one run of one model on one workload at one size, in a process of
// its own (compare.py starts `compare cell ...` afresh for every repeat). The
// cell times its measured section with the steady clock and takes CPU time and
// context switches as getrusage deltas (itself plus the children it reaped in
// the section), so that process start-up, exec and dynamic loading are not
// counted. Peak RSS is the cell's VmHWM or its largest child's (peak_rss_kib()).
//
// Memory of live units: the proportional set size (Pss, /proc/PID/smaps_rollup)
// summed over the cell and all its descendants, so that a page shared by
// forked processes counts once in all; and the kernel's own memory for them
// (KernelStack + PageTables + SUnreclaim in /proc/meminfo: thread stacks,
// page tables, task and socket structures), a system-wide delta and so only
// approximate on a machine that is doing other work.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace compare {

using Clock = std::chrono::steady_clock;

// CPU time and context switches of this process plus its reaped children.
struct Usage {
    double user_s = 0;
    double sys_s = 0;
    long vcsw = 0;   // voluntary context switches (waits)
    long ivcsw = 0;  // involuntary ones (preemptions)

    static Usage now();
    Usage operator-(const Usage& o) const {
        return {user_s - o.user_s, sys_s - o.sys_s, vcsw - o.vcsw, ivcsw - o.ivcsw};
    }
    Usage operator+(const Usage& o) const {
        return {user_s + o.user_s, sys_s + o.sys_s, vcsw + o.vcsw, ivcsw + o.ivcsw};
    }
};

// Sum of Pss over `root` and its descendants, in KiB (processes that vanish
// while being read count as 0).
double tree_pss_kib(pid_t root);
// The pids of `root`'s descendants (from /proc/PID/task/TID/children).
std::vector<pid_t> descendants(pid_t root);
// Peak resident set of this process (VmHWM: since its exec, unlike
// ru_maxrss, which keeps the high-water mark of the process that exec'd it)
// or of the largest child it reaped (RUSAGE_CHILDREN), in KiB.
double peak_rss_kib();
// KernelStack + PageTables + SUnreclaim, in KiB.
double kernel_kib();
// MemAvailable and MemTotal, in KiB.
double mem_available_kib();
double mem_total_kib();
// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now.
std::uint64_t raise_fd_limit();

// Stops a launch loop before the machine runs out of memory: ok() is false once
// MemAvailable falls below max(2 GiB, 10% of MemTotal). Reads /proc/meminfo
// every `every` calls only, so it costs nothing measurable per unit.
class MemoryGuard {
public:
    explicit MemoryGuard(std::size_t every = 256);
    bool ok(std::size_t launched);
    double reserve_kib() const { return reserve_kib_; }

private:
    std::size_t every_;
    double reserve_kib_;
    bool ok_ = true;
};

// A flat JSON object, written in insertion order.
class Json {
public:
    Json& add(std::string_view key, double value);
    Json& add(std::string_view key, std::int64_t value);
    Json& add(std::string_view key, std::uint64_t value);
    Json& add(std::string_view key, int value) { return add(key, std::int64_t{value}); }
    Json& add(std::string_view key, unsigned value) { return add(key, std::uint64_t{value}); }
    Json& add(std::string_view key, bool value);
    Json& add(std::string_view key, std::string_view value);
    Json& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
    std::string str() const { return "{" + body_ + "}"; }

private:
    void key(std::string_view k);
    std::string body_;
};

}  // namespace compare
