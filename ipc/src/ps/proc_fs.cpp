#include "ps/proc_fs.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace ringlet::ps::detail {

int read_file_at(int dirfd, const char* name, std::string& out, bool single_record) noexcept {
    out.clear();
    const int fd = ::openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    char buf[4096];
    int res = 0;
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            try {
                out.append(buf, static_cast<std::size_t>(n));
            } catch (...) {
                res = -ENOMEM;
                break;
            }
            if (single_record && static_cast<std::size_t>(n) < sizeof buf) break;
            continue;
        }
        if (n == 0) break;
        if (errno == EINTR) continue;
        res = -errno;
        break;
    }
    ::close(fd);
    return res;
}

int read_link_at(int dirfd, const char* name, std::string& out) noexcept {
    char buf[4096];
    const ssize_t n = ::readlinkat(dirfd, name, buf, sizeof buf);
    if (n < 0) return -errno;
    try {
        out.assign(buf, static_cast<std::size_t>(n));
    } catch (...) {
        return -ENOMEM;
    }
    return 0;
}

namespace {

template <class T>
bool parse_number(std::string_view& rest, T& value) noexcept {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const auto r = std::from_chars(rest.data(), rest.data() + rest.size(), value);
    if (r.ec != std::errc{}) return false;
    rest.remove_prefix(static_cast<std::size_t>(r.ptr - rest.data()));
    return true;
}

bool skip_fields(std::string_view& rest, int n) noexcept {
    for (int i = 0; i < n; ++i) {
        while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
        const std::size_t end = rest.find(' ');
        if (end == std::string_view::npos) return false;
        rest.remove_prefix(end);
    }
    return true;
}

}  // namespace

bool parse_stat(std::string_view data, StatFields& out) noexcept {
    const std::size_t open = data.find('(');
    const std::size_t close = data.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open ||
        close + 2 >= data.size()) {
        return false;
    }
    try {
        out.comm.assign(data.substr(open + 1, close - open - 1));
    } catch (...) {
        return false;
    }
    std::string_view rest = data.substr(close + 2);
    out.state = rest.front();
    rest.remove_prefix(1);
    // Field numbers as in proc(5): we stand after (3).
    if (!parse_number(rest, out.ppid)) return false;                           // 4
    if (!skip_fields(rest, 9)) return false;                                   // 5-13
    if (!parse_number(rest, out.utime) || !parse_number(rest, out.stime) ||    // 14, 15
        !parse_number(rest, out.cutime) || !parse_number(rest, out.cstime)) {  // 16, 17
        return false;
    }
    if (!skip_fields(rest, 1)) return false;                 // 18 priority
    if (!parse_number(rest, out.nice)) return false;         // 19
    if (!parse_number(rest, out.num_threads)) return false;  // 20
    if (!skip_fields(rest, 1)) return false;                 // 21 itrealvalue
    if (!parse_number(rest, out.starttime)) return false;    // 22
    // 42 delayacct_blkio_ticks (present since 2.6.18); missing is not an error.
    std::string_view tail = rest;
    if (skip_fields(tail, 19)) {
        if (!parse_number(tail, out.blkio_ticks)) out.blkio_ticks = 0;
    }
    return true;
}

long long field_value(std::string_view data, std::string_view key, int index) noexcept {
    std::size_t pos = 0;
    while (pos < data.size()) {
        std::size_t eol = data.find('\n', pos);
        if (eol == std::string_view::npos) eol = data.size();
        std::string_view line = data.substr(pos, eol - pos);
        if (line.size() > key.size() && line.substr(0, key.size()) == key &&
            line[key.size()] == ':') {
            std::string_view rest = line.substr(key.size() + 1);
            for (int i = 0;; ++i) {
                while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) {
                    rest.remove_prefix(1);
                }
                long long v = 0;
                const auto r = std::from_chars(rest.data(), rest.data() + rest.size(), v);
                if (r.ec != std::errc{}) return -1;
                if (i == index) return v;
                rest.remove_prefix(static_cast<std::size_t>(r.ptr - rest.data()));
            }
        }
        pos = eol + 1;
    }
    return -1;
}

std::uint64_t clock_ticks() noexcept {
    static const std::uint64_t ticks = [] {
        const long t = ::sysconf(_SC_CLK_TCK);
        return t > 0 ? static_cast<std::uint64_t>(t) : 100u;
    }();
    return ticks;
}

std::uint64_t page_size() noexcept {
    static const std::uint64_t size = [] {
        const long p = ::sysconf(_SC_PAGESIZE);
        return p > 0 ? static_cast<std::uint64_t>(p) : 4096u;
    }();
    return size;
}

long long boot_time_seconds() noexcept {
    // Fixed for the life of the system: psutil caches it too.
    static const long long btime = [] {
        std::string data;
        if (const int res = read_file_at(AT_FDCWD, "/proc/stat", data); res < 0) {
            return static_cast<long long>(res);
        }
        const std::size_t at = data.find("\nbtime ");
        if (at == std::string::npos) return static_cast<long long>(-ENODATA);
        long long v = 0;
        const char* p = data.data() + at + 7;
        const auto r = std::from_chars(p, data.data() + data.size(), v);
        return r.ec == std::errc{} ? v : static_cast<long long>(-ENODATA);
    }();
    return btime;
}

}  // namespace ringlet::ps::detail
