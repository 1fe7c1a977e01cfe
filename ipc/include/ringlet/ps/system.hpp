// ringlet/ps/system.hpp — the machine's processes, CPUs, memory, disks and network (psutil).
//
// Free functions that read /proc and /sys the way psutil/_pslinux.py does;
// each names its source. They are plain reads of small kernel files and do
// not suspend, except cpu_percent(interval), which sleeps (a suspension point
// in a task). Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <sys/types.h>

#include <ringlet/generator.hpp>
#include <ringlet/ps/process.hpp>
#include <ringlet/time.hpp>

namespace ringlet::ps {

// The numeric entries of /proc: every process (not thread) id, ascending.
// Throws: IoError if /proc cannot be listed.
std::vector<pid_t> pids();

// True if `pid` names a process (not a thread of one): kill(pid, 0) does not
// give ESRCH and /proc/PID/status's Tgid is the pid (psutil's rule).
bool pid_exists(pid_t pid);

// A Process for each entry of pids(), skipping those that end before they
// are opened (the race psutil's process_iter hides the same way). Processes
// that end later throw NoSuchProcess from their accessors, as any Process.
// The generator runs on its own small stack; iterate it with range-for.
Generator<Process> process_iter();

// logical: CPUs online (sysconf(_SC_NPROCESSORS_ONLN), as os.cpu_count());
// physical: distinct cores in /sys/devices/system/cpu/cpu*/topology/
// core_cpus_list (thread_siblings_list on older kernels); 0 if unknown.
std::size_t cpu_count(bool logical = true);

// System-wide CPU use in percent across all CPUs, from /proc/stat's "cpu"
// line as psutil computes it: busy = total - idle - iowait, total excluding
// guest time (already counted in user). interval > 0 measures across that
// interval; 0 compares with the previous call in this process (the first
// returns 0.0). Suspends (sleeps for `interval`). Throws: Cancelled, TimeoutError.
double cpu_percent(Duration interval = Duration::zero());

// /proc/meminfo, in bytes, with psutil's definitions (they match `free`).
struct VirtualMemory {
    std::uint64_t total = 0;      // MemTotal
    std::uint64_t available = 0;  // MemAvailable (Free if above total)
    double percent = 0;           // (total - available) / total × 100
    std::uint64_t used = 0;       // total - free - cached - buffers (total - free if negative)
    std::uint64_t free = 0;       // MemFree
    std::uint64_t active = 0;     // Active
    std::uint64_t inactive = 0;   // Inactive
    std::uint64_t buffers = 0;    // Buffers
    std::uint64_t cached = 0;     // Cached + SReclaimable
    std::uint64_t shared = 0;     // Shmem
    std::uint64_t slab = 0;       // Slab
};
VirtualMemory virtual_memory();

// /proc/meminfo SwapTotal/SwapFree and /proc/vmstat pswpin/pswpout (× 4 KiB, as psutil).
struct SwapMemory {
    std::uint64_t total = 0;
    std::uint64_t used = 0;  // total - free
    std::uint64_t free = 0;
    double percent = 0;      // used / total × 100 (0 without swap)
    std::uint64_t sin = 0;   // bytes swapped in since boot
    std::uint64_t sout = 0;  // bytes swapped out since boot
};
SwapMemory swap_memory();

// /proc/stat "btime": when the system booted.
std::chrono::system_clock::time_point boot_time();

// statvfs(path), as psutil's disk_usage: total = f_blocks × f_frsize,
// free = f_bavail × f_frsize (what an unprivileged user may use), used =
// total - f_bfree × f_frsize, percent = used / (used + free) × 100.
// Throws: IoError (ENOENT …).
struct DiskUsage {
    std::uint64_t total = 0;
    std::uint64_t used = 0;
    std::uint64_t free = 0;
    double percent = 0;
};
DiskUsage disk_usage(const std::string& path);

// /proc/net/dev counters (of this process's network namespace).
struct NetIoCounters {
    std::uint64_t bytes_sent = 0;
    std::uint64_t bytes_recv = 0;
    std::uint64_t packets_sent = 0;
    std::uint64_t packets_recv = 0;
    std::uint64_t errin = 0;
    std::uint64_t errout = 0;
    std::uint64_t dropin = 0;
    std::uint64_t dropout = 0;
};
// Summed over every interface (psutil's net_io_counters(pernic=False)).
NetIoCounters net_io_counters();
// Per interface name (psutil's net_io_counters(pernic=True)).
std::map<std::string, NetIoCounters> net_io_counters_per_nic();

}  // namespace ringlet::ps
