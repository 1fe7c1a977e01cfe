#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <set>
#include <signal.h>
#include <unistd.h>
#include <unordered_map>

#include <sys/stat.h>
#include <sys/syscall.h>

#include <ringlet/errors.hpp>
#include <ringlet/ps/process.hpp>
#include <ringlet/ps/system.hpp>

#include "child_exit.hpp"
#include "ps/proc_fs.hpp"
#include "unique_fd.hpp"

namespace ringlet::ps {

namespace detail {

// Shared by the copies of one Process: the /proc/PID directory that binds
// them to the process, and the pidfd once a signal or wait needed it.
struct ProcessHandle {
    ringlet::detail::UniqueFd dir;
    ringlet::detail::UniqueFd pidfd;
};

}  // namespace detail

namespace {

using detail::read_file_at;
using detail::read_link_at;

double monotonic_seconds() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// psutil's isfile_strict: stat() says regular file; any error says no.
bool is_regular_file(const std::string& path) noexcept {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool path_exists(const std::string& path) noexcept {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

// psutil's readlink(): what follows a NUL is garbage; " (deleted)" is
// dropped when the file is in fact still there.
std::string clean_link(std::string path) {
    if (const std::size_t nul = path.find('\0'); nul != std::string::npos) path.resize(nul);
    constexpr std::string_view deleted = " (deleted)";
    if (path.size() > deleted.size() &&
        std::string_view(path).substr(path.size() - deleted.size()) == deleted &&
        !path_exists(path)) {
        path.resize(path.size() - deleted.size());
    }
    return path;
}

// psutil's file_flags_to_mode.
std::string flags_to_mode(int flags) {
    std::string mode;
    switch (flags & O_ACCMODE) {
        case O_RDONLY:
            mode = "r";
            break;
        case O_WRONLY:
            mode = "w";
            break;
        default:
            mode = "w+";
            break;
    }
    if (flags & O_APPEND) mode[0] = 'a';
    if (mode == "w+") mode = "r+";
    return mode;
}

}  // namespace

Process::Process(pid_t pid) : pid_(pid == self ? ::getpid() : pid) {
    if (pid_ <= 0) throw NoSuchProcess(pid_, {}, "no such process (pids are positive)");
    char path[32];
    std::snprintf(path, sizeof path, "/proc/%d", static_cast<int>(pid_));
    const int fd = ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        if (err == ENOENT || err == ESRCH) throw NoSuchProcess(pid_);
        throw_io_error(-err, "open(/proc/PID)");
    }
    handle_ = std::make_shared<detail::ProcessHandle>();
    handle_->dir.reset(fd);
    // The start time read through this directory is the process's own: the
    // directory cannot outlive it (reads give ESRCH once it is reaped).
    std::string data;
    detail::StatFields st;
    if (const int res = read_file_at(fd, "stat", data, true); res < 0) {
        if (res == -ESRCH || res == -ENOENT) throw NoSuchProcess(pid_);
        throw_io_error(res, "read(/proc/PID/stat)");
    }
    if (!detail::parse_stat(data, st)) throw NoSuchProcess(pid_, {}, "unreadable /proc/PID/stat");
    start_ticks_ = st.starttime;
    name_ = std::move(st.comm);
    stat_cache_ = std::move(data);
    stat_cached_ = true;  // fresh: a oneshot() that follows may use it
}

namespace {

// The one place where an errno of a read through the /proc/PID directory
// becomes a ps error.
[[noreturn]] void throw_for(int res, pid_t pid, const std::string& name, const char* field) {
    if (res == -ESRCH || res == -ENOENT) throw NoSuchProcess(pid, name);
    if (res == -EACCES || res == -EPERM) throw AccessDenied(pid, name, field);
    std::string op = "read(/proc/PID/";
    op += field;
    op += ')';
    throw IoError(-res, op);
}

std::string read_or_throw(int dir, const char* file, pid_t pid, const std::string& name,
                          bool single_record = false) {
    std::string data;
    if (const int res = read_file_at(dir, file, data, single_record); res < 0) {
        throw_for(res, pid, name, file);
    }
    return data;
}

detail::StatFields parse_or_throw(const std::string& data, pid_t pid, const std::string& name) {
    detail::StatFields st;
    if (!detail::parse_stat(data, st)) throw NoSuchProcess(pid, name, "unreadable /proc/PID/stat");
    return st;
}

detail::StatFields read_stat(int dir, pid_t pid, const std::string& name) {
    return parse_or_throw(read_or_throw(dir, "stat", pid, name, true), pid, name);
}

}  // namespace

const std::string& Process::stat_text() const {
    if (oneshot_depth_ == 0 || !stat_cached_) {
        stat_cache_ = read_or_throw(handle_->dir.get(), "stat", pid_, name_, true);
        stat_cached_ = oneshot_depth_ > 0;
    }
    return stat_cache_;
}

std::string Process::name() const {
    if (!name_final_) {
        name_final_ = true;
        // comm is cut at 15 bytes (TASK_COMM_LEN - 1): psutil takes the
        // longer base name of argv[0] when comm is a prefix of it.
        if (name_.size() >= 15) {
            try {
                const std::vector<std::string> args = cmdline();
                if (!args.empty()) {
                    const std::string& a0 = args[0];
                    const std::size_t slash = a0.rfind('/');
                    std::string base = slash == std::string::npos ? a0 : a0.substr(slash + 1);
                    if (base.compare(0, name_.size(), name_) == 0) name_ = std::move(base);
                }
            } catch (const Error&) {
                // comm is still a correct (short) name.
            }
        }
    }
    return name_;
}

std::string Process::exe() const {
    std::string target;
    const int res = read_link_at(handle_->dir.get(), "exe", target);
    if (res == 0) return clean_link(std::move(target));
    if (res == -ENOENT) {
        // No exe link: a kernel thread (psutil gives ""), or a zombie, whose
        // memory map is gone already.
        if (read_stat(handle_->dir.get(), pid_, name_).state == 'Z') {
            throw ZombieProcess(pid_, name_);
        }
        return {};
    }
    throw_for(res, pid_, name_, "exe");
}

std::vector<std::string> Process::cmdline() const {
    std::string data = read_or_throw(handle_->dir.get(), "cmdline", pid_, name_);
    std::vector<std::string> args;
    if (data.empty()) return args;  // kernel thread or zombie
    // psutil's rule: NUL-separated with a final NUL; a process that rewrote
    // its arguments (setproctitle) may have used spaces instead.
    char sep = data.back() == '\0' ? '\0' : ' ';
    if (data.back() == sep) data.pop_back();
    auto split = [&](char by) {
        args.clear();
        std::size_t pos = 0;
        for (;;) {
            const std::size_t end = data.find(by, pos);
            args.emplace_back(data, pos, end == std::string::npos ? std::string::npos : end - pos);
            if (end == std::string::npos) break;
            pos = end + 1;
        }
    };
    split(sep);
    if (sep == '\0' && args.size() == 1 && data.find(' ') != std::string::npos) split(' ');
    return args;
}

std::string Process::cwd() const {
    std::string target;
    const int res = read_link_at(handle_->dir.get(), "cwd", target);
    if (res == 0) return clean_link(std::move(target));
    if (res == -ENOENT) {
        // The directory still answers, so the process exists: it has ended
        // and waits to be reaped (psutil raises ZombieProcess here too).
        read_stat(handle_->dir.get(), pid_, name_);
        throw ZombieProcess(pid_, name_);
    }
    throw_for(res, pid_, name_, "cwd");
}

Status Process::status() const {
    switch (parse_or_throw(stat_text(), pid_, name_).state) {
        case 'R':
            return Status::running;
        case 'S':
            return Status::sleeping;
        case 'D':
            return Status::disk_sleep;
        case 'T':
            return Status::stopped;
        case 't':
            return Status::tracing_stop;
        case 'Z':
            return Status::zombie;
        case 'X':
        case 'x':
            return Status::dead;
        case 'K':
            return Status::wake_kill;
        case 'W':
            return Status::waking;
        case 'I':
            return Status::idle;
        case 'P':
            return Status::parked;
        default:
            return Status::unknown;
    }
}

std::string_view status_name(Status s) noexcept {
    switch (s) {
        case Status::running:
            return "running";
        case Status::sleeping:
            return "sleeping";
        case Status::disk_sleep:
            return "disk-sleep";
        case Status::stopped:
            return "stopped";
        case Status::tracing_stop:
            return "tracing-stop";
        case Status::zombie:
            return "zombie";
        case Status::dead:
            return "dead";
        case Status::wake_kill:
            return "wake-kill";
        case Status::waking:
            return "waking";
        case Status::idle:
            return "idle";
        case Status::parked:
            return "parked";
        case Status::unknown:
            break;
    }
    return "?";
}

pid_t Process::ppid() const { return parse_or_throw(stat_text(), pid_, name_).ppid; }

std::optional<Process> Process::parent() const {
    const pid_t pp = ppid();
    if (pp <= 0) return std::nullopt;
    try {
        Process p(pp);
        // A parent younger than its child means the pid was recycled.
        if (p.start_ticks_ <= start_ticks_) return p;
    } catch (const NoSuchProcess&) {
    }
    return std::nullopt;
}

std::vector<Process> Process::children(bool recursive) const {
    // psutil's ppid_map: one pass over /proc/*/stat.
    std::unordered_multimap<pid_t, pid_t> by_parent;
    std::string data;
    char path[40];
    for (const pid_t p : pids()) {
        std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(p));
        detail::StatFields st;
        if (read_file_at(AT_FDCWD, path, data) == 0 && detail::parse_stat(data, st)) {
            by_parent.emplace(st.ppid, p);
        }
    }
    std::vector<Process> out;
    std::set<pid_t> seen;
    std::deque<pid_t> todo{pid_};
    while (!todo.empty()) {
        const pid_t parent_pid = todo.front();
        todo.pop_front();
        if (!seen.insert(parent_pid).second) continue;
        auto [first, last] = by_parent.equal_range(parent_pid);
        for (auto it = first; it != last; ++it) {
            try {
                Process child(it->second);
                // Older than us: its pid was recycled (or it is not ours).
                if (child.start_ticks_ < start_ticks_) continue;
                out.push_back(child);
                if (recursive) todo.push_back(child.pid_);
            } catch (const NoSuchProcess&) {
            }
        }
    }
    // This process itself must still exist for the answer to mean anything.
    read_stat(handle_->dir.get(), pid_, name_);
    return out;
}

std::chrono::system_clock::time_point Process::create_time() const {
    const long long btime = detail::boot_time_seconds();
    if (btime < 0) throw_io_error(static_cast<int>(btime), "read(/proc/stat btime)");
    const auto ticks =
        static_cast<double>(start_ticks_) / static_cast<double>(detail::clock_ticks());
    return std::chrono::system_clock::time_point(std::chrono::seconds(btime)) +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(
               std::chrono::duration<double>(ticks));
}

Uids Process::uids() const {
    const std::string data = read_or_throw(handle_->dir.get(), "status", pid_, name_, true);
    const long long r = detail::field_value(data, "Uid", 0);
    const long long e = detail::field_value(data, "Uid", 1);
    const long long s = detail::field_value(data, "Uid", 2);
    if (r < 0 || e < 0 || s < 0) throw NoSuchProcess(pid_, name_, "no Uid in /proc/PID/status");
    return Uids{static_cast<uid_t>(r), static_cast<uid_t>(e), static_cast<uid_t>(s)};
}

std::string Process::username() const {
    const uid_t uid = uids().real;
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(4096);
    for (;;) {
        const int err = ::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found);
        if (err == ERANGE && buf.size() < (1u << 20)) {
            buf.resize(buf.size() * 2);
            continue;
        }
        break;
    }
    if (found != nullptr) return found->pw_name;
    return std::to_string(uid);  // psutil does the same without a passwd entry
}

MemoryInfo Process::memory_info() const {
    const std::string data = read_or_throw(handle_->dir.get(), "statm", pid_, name_, true);
    std::uint64_t v[7] = {};
    const char* p = data.data();
    const char* end = p + data.size();
    for (auto& x : v) {
        while (p < end && *p == ' ') ++p;
        const auto r = std::from_chars(p, end, x);
        if (r.ec != std::errc{}) throw NoSuchProcess(pid_, name_, "unreadable /proc/PID/statm");
        p = r.ptr;
    }
    const std::uint64_t page = detail::page_size();
    return MemoryInfo{v[1] * page, v[0] * page, v[2] * page, v[3] * page,
                      v[4] * page, v[5] * page, v[6] * page};
}

double Process::memory_percent() const {
    const std::uint64_t rss = memory_info().rss;
    const std::uint64_t total = virtual_memory().total;
    return total == 0 ? 0.0 : static_cast<double>(rss) / static_cast<double>(total) * 100.0;
}

CpuTimes Process::cpu_times() const {
    const detail::StatFields st = parse_or_throw(stat_text(), pid_, name_);
    const auto hz = static_cast<double>(detail::clock_ticks());
    return CpuTimes{static_cast<double>(st.utime) / hz, static_cast<double>(st.stime) / hz,
                    static_cast<double>(st.cutime) / hz, static_cast<double>(st.cstime) / hz,
                    static_cast<double>(st.blkio_ticks) / hz};
}

double Process::cpu_percent(Duration interval) {
    auto sample = [this](double& wall, double& cpu) {
        const CpuTimes t = cpu_times();
        wall = monotonic_seconds();
        cpu = t.user + t.system;
    };
    double wall0 = last_wall_;
    double cpu0 = last_cpu_;
    if (interval > Duration::zero()) {
        sample(wall0, cpu0);
        ringlet::sleep(interval);
    }
    double wall1 = 0;
    double cpu1 = 0;
    sample(wall1, cpu1);
    last_wall_ = wall1;
    last_cpu_ = cpu1;
    if (wall0 < 0 || wall1 <= wall0) return 0.0;  // first cpu_percent(0) call
    return std::max(0.0, (cpu1 - cpu0) / (wall1 - wall0) * 100.0);
}

std::size_t Process::num_threads() const {
    return static_cast<std::size_t>(parse_or_throw(stat_text(), pid_, name_).num_threads);
}

namespace {

// Lists /proc/PID/fd: the fd numbers, through `each(fd_dir, name)`.
template <class F>
void for_each_fd(int dir, pid_t pid, const std::string& name, F each) {
    const int fd = ::openat(dir, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw_for(-errno, pid, name, "fd");
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
        const int err = errno;
        ::close(fd);
        throw_for(-err, pid, name, "fd");
    }
    struct Closer {
        DIR* d;
        ~Closer() { ::closedir(d); }
    } closer{d};
    for (;;) {
        errno = 0;
        const dirent* e = ::readdir(d);
        if (e == nullptr) {
            if (errno != 0) throw_for(-errno, pid, name, "fd");
            break;
        }
        if (e->d_name[0] == '.') continue;
        each(::dirfd(d), e->d_name);
    }
}

}  // namespace

std::size_t Process::num_fds() const {
    std::size_t n = 0;
    for_each_fd(handle_->dir.get(), pid_, name_, [&](int, const char*) { ++n; });
    return n;
}

std::vector<OpenFile> Process::open_files() const {
    std::vector<OpenFile> out;
    bool gone_meanwhile = false;
    const int dir = handle_->dir.get();
    for_each_fd(dir, pid_, name_, [&](int fd_dir, const char* entry) {
        std::string path;
        const int res = read_link_at(fd_dir, entry, path);
        if (res == -ENOENT || res == -ESRCH) {
            gone_meanwhile = true;  // closed since the listing
            return;
        }
        if (res == -EACCES || res == -EPERM) throw AccessDenied(pid_, name_, "fd");
        if (res < 0) return;  // EINVAL (not a link), ENAMETOOLONG: psutil skips them
        path = clean_link(std::move(path));
        if (path.empty() || path[0] != '/' || !is_regular_file(path)) return;
        std::string info_name = "fdinfo/";
        info_name += entry;
        std::string info;
        if (read_file_at(dir, info_name.c_str(), info) < 0) {
            gone_meanwhile = true;
            return;
        }
        OpenFile f;
        f.path = std::move(path);
        f.fd = std::atoi(entry);
        const long long pos = detail::field_value(info, "pos");
        f.position = pos < 0 ? 0 : static_cast<std::uint64_t>(pos);
        // "flags:\t0100002": octal.
        const std::size_t at = info.find("flags:");
        if (at != std::string::npos) {
            f.flags = static_cast<int>(std::strtol(info.c_str() + at + 6, nullptr, 8));
        }
        f.mode = flags_to_mode(f.flags);
        out.push_back(std::move(f));
    });
    if (gone_meanwhile) read_stat(dir, pid_, name_);  // NoSuchProcess if it was the process
    return out;
}

int Process::nice() const { return parse_or_throw(stat_text(), pid_, name_).nice; }

IoCounters Process::io_counters() const {
    const std::string data = read_or_throw(handle_->dir.get(), "io", pid_, name_);
    auto get = [&](std::string_view key) {
        const long long v = detail::field_value(data, key);
        if (v < 0) throw NoSuchProcess(pid_, name_, "no " + std::string(key) + " in /proc/PID/io");
        return static_cast<std::uint64_t>(v);
    };
    return IoCounters{get("syscr"),       get("syscw"), get("read_bytes"),
                      get("write_bytes"), get("rchar"), get("wchar")};
}

bool Process::is_running() const noexcept {
    const int fd = ::openat(handle_->dir.get(), "stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno != ESRCH && errno != ENOENT;
    ::close(fd);
    return true;
}

namespace {

// Opens the pidfd once, then checks through the /proc directory that the
// process it names is ours: if our process had ended before pidfd_open, the
// directory answers ESRCH and the pidfd (maybe of a pid's new owner) is dropped.
int bound_pidfd(detail::ProcessHandle& h, pid_t pid, const std::string& name) {
    if (h.pidfd.valid()) return h.pidfd.get();
    const long fd = ::syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) {
        const int err = errno;
        if (err == ESRCH) throw NoSuchProcess(pid, name);
        throw_io_error(-err, "pidfd_open");
    }
    ringlet::detail::UniqueFd pidfd(static_cast<int>(fd));
    read_stat(h.dir.get(), pid, name);
    h.pidfd = std::move(pidfd);
    return h.pidfd.get();
}

}  // namespace

void Process::send_signal(int sig) const {
    const int fd = bound_pidfd(*handle_, pid_, name_);
    if (::syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) == 0) return;
    const int err = errno;
    if (err == ESRCH) throw NoSuchProcess(pid_, name_);
    if (err == EPERM) throw AccessDenied(pid_, name_, "signal");
    throw_io_error(-err, "pidfd_send_signal");
}

void Process::terminate() const { send_signal(SIGTERM); }
void Process::kill() const { send_signal(SIGKILL); }

bool Process::wait(Duration timeout) const {
    int fd = -1;
    try {
        fd = bound_pidfd(*handle_, pid_, name_);
    } catch (const NoSuchProcess&) {
        return true;  // ended (and reaped) already
    }
    return ipc::detail::wait_exit(fd, deadline_after(timeout));
}

}  // namespace ringlet::ps
