// ringlet/ps/process.hpp — one process's information, read from /proc (psutil.Process).
//
// A ps::Process is bound to the process it was made for, not to its pid: the
// constructor opens the /proc/PID directory, and every field is read relative
// to that directory, which the kernel invalidates when that process is reaped.
// So a pid that is recycled later gives NoSuchProcess, never the new
// process's data; signals go through a pidfd checked against the same
// directory, so they can never hit a recycled pid either. Every accessor
// reads the kernel's current value (nothing is cached but the name and the
// start time); the fields follow psutil's definitions (psutil/_pslinux.py),
// and each accessor names the file it comes from.
//
// Errors (ps/errors.hpp): NoSuchProcess once the process is gone (also when it
// ends between two reads), ZombieProcess for exe/cwd of an ended, unreaped
// process, AccessDenied where Linux protects a field (another user's exe,
// cwd, fd/, io, environ). A Process is a cheap copyable value (copies share
// the directory handle); one copy is used by one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/types.h>

#include <ringlet/ps/errors.hpp>
#include <ringlet/time.hpp>

namespace ringlet::ps {

// Process(self) is the calling process.
inline constexpr pid_t self = -1;

// /proc/PID/stat's state letter, as psutil names it (psutil.STATUS_*).
enum class Status : std::uint8_t {
    running,       // R
    sleeping,      // S
    disk_sleep,    // D
    stopped,       // T
    tracing_stop,  // t
    zombie,        // Z
    dead,          // X, x
    wake_kill,     // K
    waking,        // W
    idle,          // I
    parked,        // P
    unknown,       // any other letter
};
// psutil's string for a status: "running", "sleeping", "disk-sleep", "zombie" …
std::string_view status_name(Status s) noexcept;

// /proc/PID/status "Uid:" line: real, effective, saved set-user-id.
struct Uids {
    uid_t real = 0;
    uid_t effective = 0;
    uid_t saved = 0;
};

// /proc/PID/statm fields times the page size, in bytes (psutil's pmem).
struct MemoryInfo {
    std::uint64_t rss = 0;     // resident set size (statm field 2; top's RES)
    std::uint64_t vms = 0;     // total program size (statm field 1; top's VIRT)
    std::uint64_t shared = 0;  // resident pages backed by a file (statm field 3; top's SHR)
    std::uint64_t text = 0;    // code (statm field 4)
    std::uint64_t lib = 0;     // always 0 since Linux 2.6 (statm field 5)
    std::uint64_t data = 0;    // data + stack (statm field 6)
    std::uint64_t dirty = 0;   // always 0 since Linux 2.6 (statm field 7)
};

// /proc/PID/stat utime, stime, cutime, cstime, delayacct_blkio_ticks
// divided by sysconf(_SC_CLK_TCK): seconds.
struct CpuTimes {
    double user = 0;
    double system = 0;
    double children_user = 0;
    double children_system = 0;
    double iowait = 0;
};

// /proc/PID/io (psutil's pio): system calls and bytes.
struct IoCounters {
    std::uint64_t read_count = 0;   // syscr
    std::uint64_t write_count = 0;  // syscw
    std::uint64_t read_bytes = 0;   // read_bytes (from storage)
    std::uint64_t write_bytes = 0;  // write_bytes (to storage)
    std::uint64_t read_chars = 0;   // rchar (any read(), pipes and sockets too)
    std::uint64_t write_chars = 0;  // wchar
};

// One regular file the process has open (psutil's popenfile): the target of
// /proc/PID/fd/N and its /proc/PID/fdinfo/N position and flags.
struct OpenFile {
    std::string path;
    int fd = -1;
    std::uint64_t position = 0;
    std::string mode;  // "r", "w", "a", "r+", "a+" (from the flags)
    int flags = 0;     // open(2) flags
};

namespace detail {
struct ProcessHandle;
}

class Process {
  public:
    // Binds to process `pid` (self: the calling process) as it is now.
    // Throws: NoSuchProcess if there is no such process (a thread id is not a
    // pid); IoError if /proc cannot be read at all.
    explicit Process(pid_t pid = self);

    pid_t pid() const noexcept { return pid_; }

    // The name: /proc/PID/stat's comm (at most 15 bytes), extended as psutil
    // does to the base name of cmdline()[0] when comm is 15 bytes long and a
    // prefix of it. Read once, when first asked. Throws: NoSuchProcess.
    std::string name() const;
    // The executable: readlink /proc/PID/exe ("" for kernel threads). A
    // " (deleted)" suffix is dropped when the file still exists (psutil).
    // Throws: AccessDenied (another user's process), ZombieProcess, NoSuchProcess.
    std::string exe() const;
    // /proc/PID/cmdline split at NUL bytes (at spaces when a process rewrote it
    // that way, as psutil does); empty for kernel threads and zombies.
    // Throws: NoSuchProcess.
    std::vector<std::string> cmdline() const;
    // readlink /proc/PID/cwd. Throws: AccessDenied, ZombieProcess, NoSuchProcess.
    std::string cwd() const;
    // /proc/PID/stat field 3. Throws: NoSuchProcess.
    Status status() const;
    // /proc/PID/stat field 4 (0 for init and kernel threads' parent). Throws: NoSuchProcess.
    pid_t ppid() const;
    // The parent, if it still exists and is older than this process (else its
    // pid was recycled): psutil's parent(). Throws: NoSuchProcess (this one).
    std::optional<Process> parent() const;
    // Processes whose ppid is this one and that started after it; with
    // `recursive`, their children too (breadth first), as psutil's children().
    // Throws: NoSuchProcess (this one).
    std::vector<Process> children(bool recursive = false) const;
    // Start time: boot_time() + /proc/PID/stat field 22 (starttime) / CLK_TCK.
    std::chrono::system_clock::time_point create_time() const;
    // /proc/PID/status "Uid:". Throws: NoSuchProcess.
    Uids uids() const;
    // The user name of uids().real (getpwuid_r), or the number as text when
    // the user database has no entry. Throws: NoSuchProcess.
    std::string username() const;
    // /proc/PID/statm × page size. Throws: NoSuchProcess.
    MemoryInfo memory_info() const;
    // memory_info().rss as a percentage of virtual_memory().total.
    double memory_percent() const;
    // /proc/PID/stat (see CpuTimes). Throws: NoSuchProcess.
    CpuTimes cpu_times() const;
    // CPU use as a percentage of one CPU (can exceed 100 with threads), as
    // psutil's cpu_percent: user+system time used during the interval over
    // the interval's wall time. With interval > 0 it measures across that
    // interval; with 0 it compares with the previous call on this object (the
    // first such call returns 0.0). Not rounded (psutil rounds to 0.1).
    // Suspends (sleeps for `interval`: other tasks run). Throws: NoSuchProcess,
    // Cancelled, TimeoutError.
    double cpu_percent(Duration interval = Duration::zero());
    // /proc/PID/stat field 20 (the count /proc/PID/status gives as
    // "Threads:", which psutil reads). Throws: NoSuchProcess.
    std::size_t num_threads() const;
    // Entries of /proc/PID/fd. Throws: AccessDenied, NoSuchProcess.
    std::size_t num_fds() const;
    // The regular files among /proc/PID/fd (psutil's open_files()).
    // Throws: AccessDenied, NoSuchProcess.
    std::vector<OpenFile> open_files() const;
    // /proc/PID/stat field 19 (the nice value, -20..19). Throws: NoSuchProcess.
    int nice() const;
    // /proc/PID/io. Throws: AccessDenied, NoSuchProcess.
    IoCounters io_counters() const;

    // True while the process exists, zombie included (psutil's is_running).
    // Never throws.
    bool is_running() const noexcept;
    // Sends `sig` (0 only checks) through a pidfd bound to this process.
    // Throws: NoSuchProcess (it has ended, or its pid names another process
    // now), AccessDenied (EPERM), IoError.
    void send_signal(int sig) const;
    // send_signal(SIGTERM) / send_signal(SIGKILL).
    void terminate() const;
    void kill() const;
    // Waits up to `timeout` for the process to end (exit, not reaping: its
    // parent reaps it, so a zombie counts as ended). True once it has ended.
    // Unlike psutil's wait() it never reaps a child (ipc::Process::join does).
    // Suspends (a poll on a pidfd), or blocks a plain thread.
    // Throws: IoError, Cancelled, TimeoutError (enclosing scope).
    bool wait(Duration timeout = forever) const;

    // Runs f() with /proc/PID/stat read at most once, as psutil's oneshot():
    // the fields that come from it (status, ppid, cpu_times, nice,
    // num_threads) share one snapshot, the read made when this Process was
    // constructed if no other stat read came in between (so process_iter()
    // plus oneshot reads stat once per process). Returns what f returns.
    template <class F>
    decltype(auto) oneshot(F&& f) {
        struct Scope {
            const Process* p;
            ~Scope() {
                if (--p->oneshot_depth_ == 0) p->stat_cached_ = false;
            }
        } scope{this};
        ++oneshot_depth_;
        return std::forward<F>(f)();
    }

    // Same process (same pid and start time).
    friend bool operator==(const Process& a, const Process& b) noexcept {
        return a.pid_ == b.pid_ && a.start_ticks_ == b.start_ticks_;
    }

  private:
    std::shared_ptr<detail::ProcessHandle> handle_;
    pid_t pid_ = 0;
    std::uint64_t start_ticks_ = 0;  // /proc/PID/stat starttime, in clock ticks
    // /proc/PID/stat as last read; reused only inside oneshot().
    const std::string& stat_text() const;
    mutable std::string stat_cache_;
    mutable bool stat_cached_ = false;
    mutable int oneshot_depth_ = 0;
    mutable std::string name_;  // comm until name() extends it
    mutable bool name_final_ = false;
    // cpu_percent(0)'s previous sample: monotonic seconds, process CPU seconds
    double last_wall_ = -1;
    double last_cpu_ = 0;
};

}  // namespace ringlet::ps
