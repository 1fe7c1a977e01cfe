#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <dirent.h>
#include <fcntl.h>
#include <mutex>
#include <set>
#include <signal.h>
#include <string_view>
#include <unistd.h>

#include <sys/statvfs.h>

#include <ringlet/errors.hpp>
#include <ringlet/ps/system.hpp>

#include "ps/proc_fs.hpp"

namespace ringlet::ps {

using detail::read_file_at;

std::vector<pid_t> pids() {
    DIR* d = ::opendir("/proc");
    if (d == nullptr) throw_io_error(-errno, "opendir(/proc)");
    std::vector<pid_t> out;
    for (;;) {
        const dirent* e = ::readdir(d);
        if (e == nullptr) break;
        const char* n = e->d_name;
        if (*n < '0' || *n > '9') continue;
        int pid = 0;
        const char* end = n + std::char_traits<char>::length(n);
        const auto r = std::from_chars(n, end, pid);
        if (r.ec == std::errc{} && r.ptr == end) out.push_back(pid);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

bool pid_exists(pid_t pid) {
    if (pid < 0) return false;
    if (pid == 0) return true;  // psutil's rule: pid 0 (the idle task) exists
    if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
    // /proc/TID answers for threads too: a pid is its own thread group.
    char path[40];
    std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(pid));
    std::string data;
    if (read_file_at(AT_FDCWD, path, data) == 0) {
        const long long tgid = detail::field_value(data, "Tgid");
        if (tgid >= 0) return tgid == pid;
    }
    const std::vector<pid_t> all = pids();
    return std::binary_search(all.begin(), all.end(), pid);
}

Generator<Process> process_iter() {
    return Generator<Process>([](auto& yield) {
        for (const pid_t pid : pids()) {
            std::optional<Process> p;
            try {
                p.emplace(pid);
            } catch (const NoSuchProcess&) {
                continue;  // ended between the listing and now
            }
            yield(std::move(*p));
        }
    });
}

namespace {

std::size_t physical_cores() {
    // psutil: the distinct sibling lists of the CPUs' topology.
    for (const char* file : {"core_cpus_list", "thread_siblings_list"}) {
        std::set<std::string> cores;
        DIR* d = ::opendir("/sys/devices/system/cpu");
        if (d == nullptr) return 0;
        std::string data;
        while (const dirent* e = ::readdir(d)) {
            const std::string_view n = e->d_name;
            if (n.size() < 4 || n.substr(0, 3) != "cpu" || n[3] < '0' || n[3] > '9') continue;
            std::string path = "/sys/devices/system/cpu/";
            path += n;
            path += "/topology/";
            path += file;
            if (read_file_at(AT_FDCWD, path.c_str(), data) == 0) cores.insert(data);
        }
        ::closedir(d);
        if (!cores.empty()) return cores.size();
    }
    return 0;
}

struct CpuSample {
    double busy = 0;
    double total = 0;
};

// /proc/stat's first line: user nice system idle iowait irq softirq steal guest guest_nice.
CpuSample cpu_sample() {
    std::string data;
    if (const int res = read_file_at(AT_FDCWD, "/proc/stat", data); res < 0) {
        throw_io_error(res, "read(/proc/stat)");
    }
    if (data.compare(0, 4, "cpu ") != 0) throw IoError(EINVAL, "parse(/proc/stat)");
    const char* p = data.data() + 4;
    const char* end = data.data() + data.find('\n');
    double v[10] = {};
    int n = 0;
    while (n < 10) {
        while (p < end && *p == ' ') ++p;
        unsigned long long x = 0;
        const auto r = std::from_chars(p, end, x);
        if (r.ec != std::errc{}) break;
        v[n++] = static_cast<double>(x);
        p = r.ptr;
    }
    CpuSample s;
    for (int i = 0; i < n; ++i) s.total += v[i];
    // guest and guest_nice are already counted in user and nice (psutil).
    s.total -= v[8] + v[9];
    s.busy = s.total - v[3] - v[4];
    return s;
}

std::mutex cpu_mutex;
bool cpu_have_last = false;
CpuSample cpu_last;

double busy_percent(const CpuSample& a, const CpuSample& b) {
    const double all = b.total - a.total;
    if (all <= 0) return 0.0;
    return std::clamp((b.busy - a.busy) / all * 100.0, 0.0, 100.0);
}

// /proc/meminfo as "Key: value kB" → bytes; -1 for a missing key.
long long meminfo_bytes(std::string_view data, std::string_view key) {
    const long long kb = detail::field_value(data, key);
    return kb < 0 ? -1 : kb * 1024;
}

std::uint64_t or_zero(long long v) { return v < 0 ? 0 : static_cast<std::uint64_t>(v); }

double usage_percent(double used, double total) { return total > 0 ? used / total * 100.0 : 0.0; }

std::string read_meminfo() {
    std::string data;
    if (const int res = read_file_at(AT_FDCWD, "/proc/meminfo", data); res < 0) {
        throw_io_error(res, "read(/proc/meminfo)");
    }
    return data;
}

}  // namespace

std::size_t cpu_count(bool logical) {
    if (!logical) return physical_cores();
    const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
}

double cpu_percent(Duration interval) {
    if (interval > Duration::zero()) {
        const CpuSample a = cpu_sample();
        ringlet::sleep(interval);
        const CpuSample b = cpu_sample();
        std::lock_guard lock(cpu_mutex);
        cpu_last = b;
        cpu_have_last = true;
        return busy_percent(a, b);
    }
    const CpuSample b = cpu_sample();
    std::lock_guard lock(cpu_mutex);
    const bool had = std::exchange(cpu_have_last, true);
    const CpuSample a = std::exchange(cpu_last, b);
    return had ? busy_percent(a, b) : 0.0;
}

VirtualMemory virtual_memory() {
    const std::string data = read_meminfo();
    VirtualMemory m;
    const long long total = meminfo_bytes(data, "MemTotal");
    const long long free = meminfo_bytes(data, "MemFree");
    const long long buffers = std::max(0LL, meminfo_bytes(data, "Buffers"));
    long long cached = std::max(0LL, meminfo_bytes(data, "Cached"));
    cached += std::max(0LL, meminfo_bytes(data, "SReclaimable"));  // as `free` does
    long long avail = meminfo_bytes(data, "MemAvailable");
    // Before Linux 3.14 (no MemAvailable) psutil estimates from zoneinfo; the
    // older rule free + buffers + cached is close enough for such kernels.
    if (avail < 0) avail = free + buffers + cached;
    if (avail > total) avail = free;  // containers can report nonsense
    long long used = total - free - cached - buffers;
    if (used < 0) used = total - free;
    m.total = or_zero(total);
    m.free = or_zero(free);
    m.available = or_zero(avail);
    m.used = or_zero(used);
    m.buffers = or_zero(buffers);
    m.cached = or_zero(cached);
    m.shared = or_zero(meminfo_bytes(data, "Shmem"));
    m.active = or_zero(meminfo_bytes(data, "Active"));
    m.inactive = or_zero(meminfo_bytes(data, "Inactive"));
    m.slab = or_zero(meminfo_bytes(data, "Slab"));
    m.percent =
        usage_percent(static_cast<double>(m.total - m.available), static_cast<double>(m.total));
    return m;
}

SwapMemory swap_memory() {
    const std::string data = read_meminfo();
    SwapMemory s;
    s.total = or_zero(meminfo_bytes(data, "SwapTotal"));
    s.free = or_zero(meminfo_bytes(data, "SwapFree"));
    s.used = s.total >= s.free ? s.total - s.free : 0;
    s.percent = usage_percent(static_cast<double>(s.used), static_cast<double>(s.total));
    std::string vm;
    if (read_file_at(AT_FDCWD, "/proc/vmstat", vm) == 0) {
        // "pswpin 123" lines, counted in 4 KiB pages (psutil's constant).
        for (const auto& [key, out] :
             {std::pair<std::string_view, std::uint64_t*>{"\npswpin ", &s.sin},
              {"\npswpout ", &s.sout}}) {
            const std::size_t at = vm.find(key);
            if (at == std::string::npos) continue;
            unsigned long long v = 0;
            const char* p = vm.data() + at + key.size();
            if (std::from_chars(p, vm.data() + vm.size(), v).ec == std::errc{}) *out = v * 4096;
        }
    }
    return s;
}

std::chrono::system_clock::time_point boot_time() {
    const long long btime = detail::boot_time_seconds();
    if (btime < 0) throw_io_error(static_cast<int>(btime), "read(/proc/stat btime)");
    return std::chrono::system_clock::time_point(std::chrono::seconds(btime));
}

DiskUsage disk_usage(const std::string& path) {
    struct statvfs st {};
    if (::statvfs(path.c_str(), &st) != 0) throw_io_error(-errno, "statvfs");
    DiskUsage u;
    const std::uint64_t frsize = st.f_frsize;
    u.total = st.f_blocks * frsize;
    const std::uint64_t avail_to_root = st.f_bfree * frsize;
    u.free = st.f_bavail * frsize;
    u.used = u.total - avail_to_root;
    u.percent = usage_percent(static_cast<double>(u.used), static_cast<double>(u.used + u.free));
    return u;
}

std::map<std::string, NetIoCounters> net_io_counters_per_nic() {
    std::string data;
    if (const int res = read_file_at(AT_FDCWD, "/proc/net/dev", data); res < 0) {
        throw_io_error(res, "read(/proc/net/dev)");
    }
    std::map<std::string, NetIoCounters> out;
    std::size_t pos = 0;
    int line_no = 0;
    while (pos < data.size()) {
        std::size_t eol = data.find('\n', pos);
        if (eol == std::string::npos) eol = data.size();
        const std::string_view line(data.data() + pos, eol - pos);
        pos = eol + 1;
        if (line_no++ < 2) continue;  // two header lines
        const std::size_t colon = line.rfind(':');
        if (colon == std::string_view::npos) continue;
        std::string_view name = line.substr(0, colon);
        while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
        unsigned long long f[16] = {};
        const char* p = line.data() + colon + 1;
        const char* end = line.data() + line.size();
        int n = 0;
        for (; n < 16; ++n) {
            while (p < end && *p == ' ') ++p;
            const auto r = std::from_chars(p, end, f[n]);
            if (r.ec != std::errc{}) break;
            p = r.ptr;
        }
        if (n < 16) continue;
        // receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes packets
        // errs drop …
        out[std::string(name)] = NetIoCounters{f[8], f[0], f[9], f[1], f[2], f[10], f[3], f[11]};
    }
    return out;
}

NetIoCounters net_io_counters() {
    NetIoCounters sum;
    for (const auto& [name, c] : net_io_counters_per_nic()) {
        sum.bytes_sent += c.bytes_sent;
        sum.bytes_recv += c.bytes_recv;
        sum.packets_sent += c.packets_sent;
        sum.packets_recv += c.packets_recv;
        sum.errin += c.errin;
        sum.errout += c.errout;
        sum.dropin += c.dropin;
        sum.dropout += c.dropout;
    }
    return sum;
}

}  // namespace ringlet::ps
