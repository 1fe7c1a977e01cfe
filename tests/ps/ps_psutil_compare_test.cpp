// tests/ps/ps_psutil_compare_test.cpp — ringlet::ps against python3-psutil
// for the same processes: psutil's Process(pid) fields and its system calls,
// read by a python3 subprocess. Skipped (reported as skipped) when no
// python3 with psutil is installed (Debian package python3-psutil).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <sys/prctl.h>

#include <ringlet/ipc/errors.hpp>
#include <ringlet/ipc/subprocess.hpp>
#include <ringlet/ps.hpp>

#include "ps_child.hpp"
#include "ringlet_test.hpp"

namespace ps = ringlet::ps;
namespace ipc = ringlet::ipc;

namespace {

// The first python3 that imports psutil: PATH's, then Debian's own.
std::optional<std::string> python_with_psutil() {
    for (const char* py : {"python3", "/usr/bin/python3"}) {
        try {
            ipc::SubprocessOptions o;
            o.stderr_mode = ipc::Stdio::null;
            ipc::check_output({py, "-c", "import psutil"}, o);
            return std::string(py);
        } catch (const std::exception&) {
        }
    }
    return std::nullopt;
}

// key=value lines printed by the Python side.
std::map<std::string, std::string> run_python(const std::string& py, const std::string& code) {
    const std::string out = ipc::check_output({py, "-c", code});
    std::map<std::string, std::string> kv;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        const auto eq = line.find('=');
        if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return kv;
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += x + "\x1f";
    return s;
}

// The same rounding as Python's round(t * 100).
long long centiseconds(std::chrono::system_clock::time_point t) {
    return std::llround(std::chrono::duration<double>(t.time_since_epoch()).count() * 100.0);
}

double num(const std::map<std::string, std::string>& kv, const std::string& k) {
    return std::strtod(kv.at(k).c_str(), nullptr);
}

}  // namespace

RINGLET_TEST(PsPsutilCompareTest, ProcessFieldsMatchPsutil) {
    const auto py = python_with_psutil();
    if (!py) GTEST_SKIP() << "python3-psutil is not installed";
    PsChild child = PsChild::start([] {
        ::prctl(PR_SET_NAME, "psutil-peer");
        for (int i = 0; i < 2; ++i) {
            std::thread([] {
                for (;;) ::pause();
            }).detach();
        }
        (void)!::nice(3);
    });
    const std::string code = R"(
import psutil, sys
p = psutil.Process()" + std::to_string(child.pid) +
                             R"()
with p.oneshot():
    print("name=" + p.name())
    print("exe=" + p.exe())
    print("cmdline=" + "".join(a + "\x1f" for a in p.cmdline()))
    print("cwd=" + p.cwd())
    print("status=" + p.status())
    print("ppid=%d" % p.ppid())
    print("uids=%d %d %d" % tuple(p.uids()))
    print("username=" + p.username())
    m = p.memory_info()
    print("rss=%d" % m.rss); print("vms=%d" % m.vms); print("shared=%d" % m.shared)
    print("text=%d" % m.text); print("data=%d" % m.data)
    print("create_time=%.6f" % p.create_time())
    t = p.cpu_times()
    print("user=%.6f" % t.user); print("system=%.6f" % t.system)
    print("num_threads=%d" % p.num_threads())
    print("num_fds=%d" % p.num_fds())
    print("nice=%d" % p.nice())
    io = p.io_counters()
    print("syscr=%d" % io.read_count); print("wchar=%d" % io.write_chars)
    print("parent=%d" % p.parent().pid)
    print("running=%d" % p.is_running())
me = psutil.Process()" + std::to_string(::getpid()) +
                             R"()
print("children=" + ",".join(str(c.pid) for c in sorted(me.children(), key=lambda c: c.pid)))
)";
    ps::Process p(child.pid);
    const auto kv = run_python(*py, code);
    EXPECT_EQ(p.name(), kv.at("name"));
    EXPECT_EQ(p.exe(), kv.at("exe"));
    EXPECT_EQ(join(p.cmdline()), kv.at("cmdline"));
    EXPECT_EQ(p.cwd(), kv.at("cwd"));
    EXPECT_EQ(ps::status_name(p.status()), kv.at("status"));
    EXPECT_EQ(std::to_string(p.ppid()), kv.at("ppid"));
    const auto u = p.uids();
    EXPECT_EQ(
        std::to_string(u.real) + " " + std::to_string(u.effective) + " " + std::to_string(u.saved),
        kv.at("uids"));
    EXPECT_EQ(p.username(), kv.at("username"));
    const auto m = p.memory_info();
    // The child is idle, so its memory does not move between the two reads.
    EXPECT_EQ(std::to_string(m.rss), kv.at("rss"));
    EXPECT_EQ(std::to_string(m.vms), kv.at("vms"));
    EXPECT_EQ(std::to_string(m.shared), kv.at("shared"));
    EXPECT_EQ(std::to_string(m.text), kv.at("text"));
    EXPECT_EQ(std::to_string(m.data), kv.at("data"));
    const double ct = std::chrono::duration<double>(p.create_time().time_since_epoch()).count();
    EXPECT_NEAR(ct, num(kv, "create_time"), 1e-3);
    const auto t = p.cpu_times();
    EXPECT_NEAR(t.user, num(kv, "user"), 0.02);
    EXPECT_NEAR(t.system, num(kv, "system"), 0.02);
    EXPECT_EQ(std::to_string(p.num_threads()), kv.at("num_threads"));
    EXPECT_EQ(std::to_string(p.num_fds()), kv.at("num_fds"));
    EXPECT_EQ(std::to_string(p.nice()), kv.at("nice"));
    const auto io = p.io_counters();
    EXPECT_EQ(std::to_string(io.read_count), kv.at("syscr"));
    EXPECT_EQ(std::to_string(io.write_chars), kv.at("wchar"));
    EXPECT_EQ(std::to_string(p.parent()->pid()), kv.at("parent"));
    EXPECT_EQ(kv.at("running"), "1");
    std::string kids;
    std::vector<pid_t> mine;
    for (const auto& c : ps::Process().children()) mine.push_back(c.pid());
    std::sort(mine.begin(), mine.end());
    for (pid_t k : mine) kids += (kids.empty() ? "" : ",") + std::to_string(k);
    // psutil's own python3 is a child of ours too while it runs; it is gone now.
    EXPECT_NE(kv.at("children").find(std::to_string(child.pid)), std::string::npos);
    EXPECT_NE(kids.find(std::to_string(child.pid)), std::string::npos);
}

RINGLET_TEST(PsPsutilCompareTest, SystemCallsMatchPsutil) {
    const auto py = python_with_psutil();
    if (!py) GTEST_SKIP() << "python3-psutil is not installed";
    const auto kv = run_python(*py, R"(
import psutil
vm = psutil.virtual_memory(); sw = psutil.swap_memory(); du = psutil.disk_usage("/")
print("cpu_count=%d" % psutil.cpu_count()); print("cores=%d" % (psutil.cpu_count(logical=False) or 0))
print("total=%d" % vm.total); print("swap_total=%d" % sw.total)
print("boot_time=%.1f" % psutil.boot_time())
print("du_total=%d" % du.total)
print("pid1=%d" % psutil.pid_exists(1))
print("ppid1=%d" % psutil.Process(1).ppid()); print("name1=" + psutil.Process(1).name())
)");
    EXPECT_EQ(std::to_string(ps::cpu_count()), kv.at("cpu_count"));
    EXPECT_EQ(std::to_string(ps::cpu_count(false)), kv.at("cores"));
    EXPECT_EQ(std::to_string(ps::virtual_memory().total), kv.at("total"));
    EXPECT_EQ(std::to_string(ps::swap_memory().total), kv.at("swap_total"));
    const double bt = std::chrono::duration<double>(ps::boot_time().time_since_epoch()).count();
    EXPECT_NEAR(bt, num(kv, "boot_time"), 0.5);
    EXPECT_EQ(std::to_string(ps::disk_usage("/").total), kv.at("du_total"));
    EXPECT_EQ(ps::pid_exists(1) ? "1" : "0", kv.at("pid1"));
    EXPECT_EQ(std::to_string(ps::Process(1).ppid()), kv.at("ppid1"));
    EXPECT_EQ(ps::Process(1).name(), kv.at("name1"));
}

RINGLET_TEST(PsPsutilCompareTest, ListingMatchesPsutilProcessIter) {
    const auto py = python_with_psutil();
    if (!py) GTEST_SKIP() << "python3-psutil is not installed";
    // Processes that live through both listings must agree field by field.
    std::map<pid_t, std::string> ours;
    for (ps::Process p : ps::process_iter()) {
        try {
            // psutil extends a 15-byte comm from cmdline only when it can
            // read it at that moment; compare the comm part.
            ours[p.pid()] = p.name().substr(0, 15) + "|" + std::to_string(p.ppid()) + "|" +
                            std::to_string(centiseconds(p.create_time()));
        } catch (const ps::NoSuchProcess&) {
        }
    }
    const auto kv = run_python(*py, R"(
import psutil
for p in psutil.process_iter(["name", "ppid", "create_time"]):
    print("%d=%s|%d|%d" % (p.pid, (p.info["name"] or "")[:15], p.info["ppid"], round(p.info["create_time"] * 100)))
)");
    int compared = 0;
    for (const auto& [pid_text, fields] : kv) {
        const pid_t pid = std::atoi(pid_text.c_str());
        auto it = ours.find(pid);
        if (it == ours.end()) continue;  // started after our listing
        // Kernel workers rename themselves as they take work: compare their
        // parent and start time only.
        auto tail = [](const std::string& f) { return f.substr(f.find('|')); };
        if (pid == 2 || tail(fields).rfind("|2|", 0) == 0) {
            EXPECT_EQ(tail(it->second), tail(fields)) << "pid " << pid;
        } else {
            EXPECT_EQ(it->second, fields) << "pid " << pid;
        }
        ++compared;
    }
    EXPECT_GT(compared, 1);
}
