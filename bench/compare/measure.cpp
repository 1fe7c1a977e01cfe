#include "measure.hpp"

#include <dirent.h>
#include <sys/resource.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace compare {

namespace {

double seconds(const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; }

// The value in kB of line `field` ("Pss:") of a /proc file, or -1.
double proc_field_kib(const char* path, std::string_view field) {
    std::FILE* f = std::fopen(path, "re");
    if (f == nullptr) return -1;
    char line[256];
    double value = -1;
    while (std::fgets(line, sizeof line, f) != nullptr) {
        if (std::strncmp(line, field.data(), field.size()) == 0) {
            value = std::strtod(line + field.size(), nullptr);
            break;
        }
    }
    std::fclose(f);
    return value;
}

void children_of(pid_t pid, std::vector<pid_t>& out) {
    char dir[64];
    std::snprintf(dir, sizeof dir, "/proc/%d/task", static_cast<int>(pid));
    DIR* d = ::opendir(dir);
    if (d == nullptr) return;
    std::vector<pid_t> found;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::string path = std::string(dir) + "/" + e->d_name + "/children";
        std::ifstream in(path);
        pid_t child = 0;
        while (in >> child) found.push_back(child);
    }
    ::closedir(d);
    for (pid_t c : found) {
        out.push_back(c);
        children_of(c, out);
    }
}

}  // namespace

Usage Usage::now() {
    rusage self{};
    rusage kids{};
    ::getrusage(RUSAGE_SELF, &self);
    ::getrusage(RUSAGE_CHILDREN, &kids);
    return {seconds(self.ru_utime) + seconds(kids.ru_utime),
            seconds(self.ru_stime) + seconds(kids.ru_stime), self.ru_nvcsw + kids.ru_nvcsw,
            self.ru_nivcsw + kids.ru_nivcsw};
}

std::vector<pid_t> descendants(pid_t root) {
    std::vector<pid_t> out;
    children_of(root, out);
    return out;
}

double tree_pss_kib(pid_t root) {
    std::vector<pid_t> all = descendants(root);
    all.push_back(root);
    double total = 0;
    for (pid_t p : all) {
        char path[64];
        std::snprintf(path, sizeof path, "/proc/%d/smaps_rollup", static_cast<int>(p));
        total += std::max(0.0, proc_field_kib(path, "Pss:"));
    }
    return total;
}

double peak_rss_kib() {
    rusage kids{};
    ::getrusage(RUSAGE_CHILDREN, &kids);
    return std::max(proc_field_kib("/proc/self/status", "VmHWM:"),
                    static_cast<double>(kids.ru_maxrss));
}

double kernel_kib() {
    return proc_field_kib("/proc/meminfo", "KernelStack:") +
           proc_field_kib("/proc/meminfo", "PageTables:") +
           proc_field_kib("/proc/meminfo", "SUnreclaim:");
}

double mem_available_kib() { return proc_field_kib("/proc/meminfo", "MemAvailable:"); }
double mem_total_kib() { return proc_field_kib("/proc/meminfo", "MemTotal:"); }

std::uint64_t raise_fd_limit() {
    rlimit l{};
    ::getrlimit(RLIMIT_NOFILE, &l);
    if (l.rlim_cur < l.rlim_max) {
        l.rlim_cur = l.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &l);
        ::getrlimit(RLIMIT_NOFILE, &l);
    }
    return l.rlim_cur;
}

MemoryGuard::MemoryGuard(std::size_t every)
    : every_(every), reserve_kib_(std::max(2.0 * 1024 * 1024, 0.1 * mem_total_kib())) {}

bool MemoryGuard::ok(std::size_t launched) {
    if (ok_ && launched % every_ == 0) ok_ = mem_available_kib() > reserve_kib_;
    return ok_;
}

void Json::key(std::string_view k) {
    if (!body_.empty()) body_ += ", ";
    body_ += '"';
    body_ += k;
    body_ += "\": ";
}

Json& Json::add(std::string_view k, double value) {
    key(k);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", value);
    body_ += buf;
    return *this;
}

Json& Json::add(std::string_view k, std::int64_t value) {
    key(k);
    body_ += std::to_string(value);
    return *this;
}

Json& Json::add(std::string_view k, std::uint64_t value) {
    key(k);
    body_ += std::to_string(value);
    return *this;
}

Json& Json::add(std::string_view k, bool value) {
    key(k);
    body_ += value ? "true" : "false";
    return *this;
}

Json& Json::add(std::string_view k, std::string_view value) {
    key(k);
    body_ += '"';
    for (char c : value) {
        if (c == '"' || c == '\\') {
            body_ += '\\';
            body_ += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            body_ += ' ';
        } else {
            body_ += c;
        }
    }
    body_ += '"';
    return *this;
}

}  // namespace compare
