// ps/proc_fs.hpp — small readers of /proc and /sys files for ringlet::ps.
//
// Everything here returns -errno (never touches the caller's errno, never
// throws) so that process.cpp decides, in one place, which errno means
// NoSuchProcess, ZombieProcess or AccessDenied. Files are read whole with
// plain read(2): they are kernel-generated and small.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ringlet::ps::detail {

// Reads `name` relative to `dirfd` (AT_FDCWD for an absolute path) into
// `out`. `single_record`: a /proc file made by one seq_file show() (stat,
// statm, status), which the first read returns whole when it fits, so a
// short first read is the end (saves a read(2) per file). 0 or -errno.
int read_file_at(int dirfd, const char* name, std::string& out,
                 bool single_record = false) noexcept;
// readlinkat(dirfd, name) into `out`. 0 or -errno.
int read_link_at(int dirfd, const char* name, std::string& out) noexcept;

// The fields of /proc/PID/stat that ringlet::ps uses (proc(5) numbering).
struct StatFields {
    std::string comm;               // (2), without the parentheses
    char state = '?';               // (3)
    int ppid = 0;                   // (4)
    std::uint64_t utime = 0;        // (14) clock ticks
    std::uint64_t stime = 0;        // (15)
    std::uint64_t cutime = 0;       // (16)
    std::uint64_t cstime = 0;       // (17)
    int nice = 0;                   // (19)
    long num_threads = 0;           // (20)
    std::uint64_t starttime = 0;    // (22) clock ticks after boot
    std::uint64_t blkio_ticks = 0;  // (42) delayacct_blkio_ticks
};
// Parses /proc/PID/stat. comm may hold spaces and parentheses: it runs from
// the first '(' to the last ')', as psutil reads it. False if malformed.
bool parse_stat(std::string_view data, StatFields& out) noexcept;

// The number after "Key:" in a "Key:\tvalue" file (/proc/PID/status,
// /proc/meminfo), or -1 if the key is missing. `index` picks a later column.
long long field_value(std::string_view data, std::string_view key, int index = 0) noexcept;

std::uint64_t clock_ticks() noexcept;  // sysconf(_SC_CLK_TCK)
std::uint64_t page_size() noexcept;    // sysconf(_SC_PAGESIZE)
// /proc/stat "btime" in seconds since the epoch, read once. -errno if unreadable.
long long boot_time_seconds() noexcept;

}  // namespace ringlet::ps::detail
