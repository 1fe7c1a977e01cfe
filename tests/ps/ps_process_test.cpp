// tests/ps/ps_process_test.cpp — ps::Process accessors against facts the test
// establishes itself (a child it forks and sets up), and the error cases.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <pwd.h>
#include <signal.h>
#include <string>
#include <thread>
#include <tuple>
#include <unistd.h>
#include <vector>

#include <linux/sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <ringlet/ipc/process.hpp>
#include <ringlet/ps.hpp>

#include "ps_child.hpp"
#include "ringlet_test.hpp"

namespace ps = ringlet::ps;
using namespace std::chrono_literals;

namespace {

std::string temp_dir() {
    char tmpl[] = "/tmp/ringlet-ps-XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    if (d == nullptr) std::abort();
    return d;
}

// The kB value of `key` in /proc/PID/status, read by the test itself.
long long status_kb(pid_t pid, const std::string& key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(key + ":", 0) == 0) return std::atoll(line.c_str() + key.size() + 1);
    }
    return -1;
}

}  // namespace

RINGLET_TEST(PsProcessTest, SelfMatchesTheProcessCalls) {
    ps::Process me;
    EXPECT_EQ(me.pid(), ::getpid());
    EXPECT_EQ(me.ppid(), ::getppid());
    EXPECT_EQ(me.cwd(), std::filesystem::current_path().string());
    EXPECT_EQ(me.exe(), std::filesystem::canonical("/proc/self/exe").string());
    EXPECT_EQ(me.uids().real, ::getuid());
    EXPECT_EQ(me.uids().effective, ::geteuid());
    const passwd* pw = ::getpwuid(::getuid());
    ASSERT_NE(pw, nullptr);
    EXPECT_EQ(me.username(), pw->pw_name);
    EXPECT_TRUE(me.is_running());
    EXPECT_EQ(me.status(), ps::Status::running);
    EXPECT_EQ(ps::status_name(me.status()), "running");
    EXPECT_EQ(me.nice(), ::getpriority(PRIO_PROCESS, 0));
    EXPECT_EQ(ps::Process(ps::self), me);
}

RINGLET_TEST(PsProcessTest, ChildFieldsMatchWhatTheTestSetUp) {
    const std::string dir = temp_dir();
    constexpr std::size_t touched = 64u << 20;
    const auto before = std::chrono::system_clock::now();
    PsChild child = PsChild::start([&] {
        if (::chdir(dir.c_str()) != 0) ::_exit(4);
        ::prctl(PR_SET_NAME, "ps-test-child");
        auto* mem = static_cast<char*>(std::malloc(touched));
        std::memset(mem, 1, touched);  // resident now
        for (int i = 0; i < 3; ++i) {
            std::thread([] {
                for (;;) ::pause();
            }).detach();
        }
        // Three threads started: wait until the kernel counts all four.
        while (status_kb(::getpid(), "Threads") != 4) ::sched_yield();
        if (::nice(5) == -1 && errno != 0) ::_exit(5);
    });
    const auto after = std::chrono::system_clock::now();
    ps::Process p(child.pid);
    EXPECT_EQ(p.pid(), child.pid);
    EXPECT_EQ(p.ppid(), ::getpid());
    EXPECT_EQ(p.name(), "ps-test-child");
    EXPECT_EQ(p.cwd(), std::filesystem::canonical(dir).string());
    EXPECT_EQ(p.exe(), ps::Process().exe());  // forked, not exec'ed
    EXPECT_EQ(p.cmdline(), ps::Process().cmdline());
    EXPECT_EQ(p.num_threads(), 4u);
    EXPECT_EQ(p.nice(), 5);
    // It reported ready and then blocks in read(): wait for the kernel to say so.
    for (int i = 0; i < 1'000'000 && p.status() != ps::Status::sleeping; ++i) ::sched_yield();
    EXPECT_EQ(p.status(), ps::Status::sleeping);
    const auto mem = p.memory_info();
    const long long vmrss = status_kb(child.pid, "VmRSS") * 1024;
    EXPECT_GE(mem.rss, touched);
    EXPECT_NEAR(static_cast<double>(mem.rss), static_cast<double>(vmrss), 0.05 * vmrss);
    EXPECT_GE(mem.vms, mem.rss);
    EXPECT_GT(p.memory_percent(), 0.0);
    EXPECT_LT(p.memory_percent(), 100.0);
    // create_time: boot time (whole seconds) + start ticks.
    EXPECT_GE(p.create_time(), before - 1500ms);
    EXPECT_LE(p.create_time(), after + 1500ms);
    EXPECT_EQ(p.uids().real, ::getuid());
    const auto parent = p.parent();
    ASSERT_TRUE(parent.has_value());
    EXPECT_EQ(*parent, ps::Process());
    const auto kids = ps::Process().children();
    EXPECT_NE(std::find(kids.begin(), kids.end(), p), kids.end());
    const auto t = p.cpu_times();
    EXPECT_GE(t.user + t.system, 0.0);
    child.release();
    EXPECT_TRUE(p.wait());
    EXPECT_EQ(child.reap(), 0);
    std::filesystem::remove(dir);
}

RINGLET_TEST(PsProcessTest, RecursiveChildrenIncludeGrandchildren) {
    int pipefd[2];
    ASSERT_EQ(::pipe(pipefd), 0);
    PsChild child = PsChild::start([&] {
        PsChild grandchild = PsChild::start([] {});
        const pid_t gc = grandchild.pid;
        if (::write(pipefd[1], &gc, sizeof gc) != sizeof gc) ::_exit(6);
        grandchild.pid = -1;  // left to run until its parent exits (then init reaps it)
    });
    pid_t gc = 0;
    ASSERT_EQ(::read(pipefd[0], &gc, sizeof gc), static_cast<ssize_t>(sizeof gc));
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    ps::Process me;
    const auto direct = me.children();
    const auto all = me.children(true);
    auto has = [](const std::vector<ps::Process>& v, pid_t pid) {
        return std::any_of(v.begin(), v.end(),
                           [&](const ps::Process& q) { return q.pid() == pid; });
    };
    EXPECT_TRUE(has(direct, child.pid));
    EXPECT_FALSE(has(direct, gc));
    EXPECT_TRUE(has(all, child.pid));
    EXPECT_TRUE(has(all, gc));
    EXPECT_EQ(ps::Process(gc).ppid(), child.pid);
}

RINGLET_TEST(PsProcessTest, FdsAndOpenFilesOfThisProcess) {
    ps::Process me;
    const std::size_t before = me.num_fds();
    const std::string dir = temp_dir();
    const std::string path = dir + "/data.txt";
    const int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_APPEND | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "hello", 5), 5);
    const int fd2 = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    EXPECT_EQ(me.num_fds(), before + 2);
    const auto files = me.open_files();
    auto it =
        std::find_if(files.begin(), files.end(), [&](const ps::OpenFile& f) { return f.fd == fd; });
    ASSERT_NE(it, files.end());
    EXPECT_EQ(it->path, std::filesystem::canonical(path).string());
    EXPECT_EQ(it->position, 5u);
    EXPECT_EQ(it->mode, "a+");
    EXPECT_NE(it->flags & O_APPEND, 0);
    // /dev/null is not a regular file: psutil leaves it out.
    EXPECT_TRUE(std::none_of(files.begin(), files.end(),
                             [&](const ps::OpenFile& f) { return f.fd == fd2; }));
    const auto io0 = me.io_counters();
    std::string block(100000, 'x');
    ASSERT_EQ(::write(fd, block.data(), block.size()), static_cast<ssize_t>(block.size()));
    const auto io1 = me.io_counters();
    EXPECT_GE(io1.write_chars - io0.write_chars, block.size());
    EXPECT_GE(io1.write_count - io0.write_count, 1u);
    ::close(fd);
    ::close(fd2);
    EXPECT_EQ(me.num_fds(), before);
    std::filesystem::remove_all(dir);
}

RINGLET_TEST(PsProcessTest, StoppedZombieAndReapedStates) {
    PsChild child = PsChild::start([] { ::prctl(PR_SET_NAME, "ps-zombie"); });
    ps::Process p(child.pid);
    ::kill(child.pid, SIGSTOP);
    siginfo_t info{};
    ::waitid(P_PID, static_cast<id_t>(child.pid), &info, WSTOPPED | WNOWAIT);
    EXPECT_EQ(p.status(), ps::Status::stopped);
    ::kill(child.pid, SIGCONT);
    child.release();
    child.wait_exited();
    EXPECT_EQ(p.status(), ps::Status::zombie);
    EXPECT_TRUE(p.is_running());  // psutil: a zombie is still "running"
    EXPECT_THROW(p.cwd(), ps::ZombieProcess);
    EXPECT_THROW(p.exe(), ps::ZombieProcess);
    EXPECT_TRUE(p.cmdline().empty());
    try {
        p.cwd();
        FAIL() << "no exception";
    } catch (const ps::ZombieProcess& e) {
        EXPECT_EQ(e.pid(), child.pid);
        EXPECT_EQ(e.name(), "ps-zombie");
        EXPECT_NE(std::string(e.what()).find("zombie"), std::string::npos);
    }
    EXPECT_TRUE(p.wait(0s));  // ended, not yet reaped
    EXPECT_EQ(child.reap(), 0);
    // Reaped: the pid may be reused, the Process no longer answers.
    EXPECT_FALSE(p.is_running());
    EXPECT_THROW(p.status(), ps::NoSuchProcess);
    EXPECT_THROW(p.ppid(), ps::NoSuchProcess);
    EXPECT_EQ(p.name(), "ps-zombie");  // known from before: never throws
    EXPECT_THROW(p.memory_info(), ps::NoSuchProcess);
    EXPECT_THROW(p.cmdline(), ps::NoSuchProcess);
    EXPECT_THROW(p.exe(), ps::NoSuchProcess);
    EXPECT_THROW(p.cwd(), ps::NoSuchProcess);
    EXPECT_THROW(p.num_threads(), ps::NoSuchProcess);
    EXPECT_THROW(p.num_fds(), ps::NoSuchProcess);
    EXPECT_THROW(p.io_counters(), ps::NoSuchProcess);
    EXPECT_THROW(p.send_signal(0), ps::NoSuchProcess);
    EXPECT_THROW(p.kill(), ps::NoSuchProcess);
    EXPECT_TRUE(p.wait());
    EXPECT_THROW(ps::Process(child.pid), ps::NoSuchProcess);
    EXPECT_FALSE(ps::pid_exists(child.pid));
}

namespace {

// Forks a child that gets `pid` (clone3's set_tid: root only), or the next
// free one otherwise. Returns what fork returns.
pid_t fork_with_pid(pid_t pid) {
    struct clone_args args {};
    args.exit_signal = SIGCHLD;
    std::uint64_t tid = static_cast<std::uint64_t>(pid);
    args.set_tid = reinterpret_cast<std::uint64_t>(&tid);
    args.set_tid_size = 1;
    const long r = ::syscall(SYS_clone3, &args, sizeof args);
    if (r >= 0 || ::geteuid() == 0) return static_cast<pid_t>(r);
    return ::fork();
}

}  // namespace

RINGLET_TEST(PsProcessTest, RecycledPidGivesNoSuchProcessNotTheNewProcess) {
    // A new process gets the old child's pid; the Process bound to the old
    // one must refuse to read (or signal) the newcomer.
    PsChild first = PsChild::start([] {});
    const pid_t pid = first.pid;
    ps::Process old(pid);
    first.release();
    first.reap();
    std::ifstream max_in("/proc/sys/kernel/pid_max");
    long pid_max = 0;
    max_in >> pid_max;
    const long tries = ::geteuid() == 0 ? 1 : 2 * pid_max;
    if (::geteuid() != 0 && pid_max > 100'000) GTEST_SKIP() << "not root and pid_max " << pid_max;
    // psutil's identity is pid + start time in clock ticks: let a tick pass so
    // that the newcomer's start time differs (CLOCK_BOOTTIME is the kernel's
    // start-time clock).
    const auto ticks_now = [] {
        timespec ts{};
        ::clock_gettime(CLOCK_BOOTTIME, &ts);
        const long hz = ::sysconf(_SC_CLK_TCK);
        return static_cast<long long>(ts.tv_sec) * hz + ts.tv_nsec / (1'000'000'000 / hz);
    };
    const long long old_ticks = ticks_now();
    while (ticks_now() < old_ticks + 2) ::sched_yield();
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    for (long i = 0; i < tries; ++i) {
        const pid_t c = fork_with_pid(pid);
        if (c == 0) {
            if (::getpid() == pid) {
                ::prctl(PR_SET_NAME, "ps-newcomer");
                (void)!::write(ready[1], "r", 1);
                for (;;) ::pause();
            }
            ::_exit(0);
        }
        ASSERT_GT(c, 0) << std::strerror(errno);
        if (c != pid) {
            ::waitpid(c, nullptr, 0);
            continue;
        }
        char b = 0;
        ASSERT_EQ(::read(ready[0], &b, 1), 1);
        ::close(ready[0]);
        ::close(ready[1]);
        ps::Process fresh(pid);
        EXPECT_FALSE(fresh == old);
        EXPECT_EQ(fresh.name(), "ps-newcomer");
        EXPECT_THROW(old.status(), ps::NoSuchProcess);
        EXPECT_THROW(old.cmdline(), ps::NoSuchProcess);
        EXPECT_THROW(old.memory_info(), ps::NoSuchProcess);
        EXPECT_THROW(old.send_signal(SIGKILL), ps::NoSuchProcess);
        EXPECT_FALSE(old.is_running());
        EXPECT_TRUE(fresh.is_running());  // the signal above did not reach it
        fresh.kill();
        ::waitpid(c, nullptr, 0);
        return;
    }
    FAIL() << "pid " << pid << " never came back";
}

RINGLET_TEST(PsProcessTest, SignalsGoThroughAPidfd) {
    PsChild a = PsChild::start([] {});
    PsChild b = PsChild::start([] {});
    ps::Process pa(a.pid);
    ps::Process pb(b.pid);
    pa.send_signal(0);  // checks only
    EXPECT_FALSE(pa.wait(0s));
    pa.terminate();
    EXPECT_TRUE(pa.wait());
    int status = a.reap();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    pb.kill();
    EXPECT_TRUE(pb.wait(10s));
    status = b.reap();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

RINGLET_TEST(PsProcessTest, CpuPercentIsASuspensionPoint) {
    // A child that spins; while cpu_percent waits, another task runs.
    const pid_t busy = ::fork();
    if (busy == 0) {
        std::atomic<unsigned long> spins{0};
        for (;;) spins.fetch_add(1, std::memory_order_relaxed);
    }
    ASSERT_GT(busy, 0);
    ps::Process p(busy);
    std::atomic<bool> other_ran{false};
    auto other = ringlet::spawn([&] { other_ran = true; });
    const double pct = p.cpu_percent(100ms);
    EXPECT_TRUE(other_ran.load());
    EXPECT_GE(pct, 0.0);
    EXPECT_LE(pct, 100.0 * static_cast<double>(ps::cpu_count()) + 10.0);
    EXPECT_EQ(ps::Process(busy).cpu_percent(), 0.0);  // first cpu_percent(0): no reference yet
    other.join();
    p.kill();
    ::waitpid(busy, nullptr, 0);
}

RINGLET_TEST(PsProcessTest, ThreadIdIsNotAPid) {
    std::atomic<pid_t> tid{0};
    std::atomic<bool> stop{false};
    std::thread t([&] {
        tid = static_cast<pid_t>(::syscall(SYS_gettid));
        while (!stop) ::sched_yield();
    });
    while (tid == 0) ::sched_yield();
    EXPECT_TRUE(ps::pid_exists(::getpid()));
    EXPECT_FALSE(ps::pid_exists(tid));
    const auto all = ps::pids();
    EXPECT_TRUE(std::binary_search(all.begin(), all.end(), ::getpid()));
    EXPECT_FALSE(std::binary_search(all.begin(), all.end(), tid.load()));
    stop = true;
    t.join();
    EXPECT_FALSE(ps::pid_exists(-5));
    EXPECT_THROW(ps::Process(-5), ps::NoSuchProcess);
    EXPECT_THROW(ps::Process(INT_MAX), ps::NoSuchProcess);
}

RINGLET_TEST(PsProcessTest, ProcessIterYieldsThisProcessAndItsChild) {
    PsChild child = PsChild::start([] {});
    bool saw_me = false;
    bool saw_child = false;
    std::size_t n = 0;
    for (ps::Process p : ps::process_iter()) {
        ++n;
        saw_me |= p.pid() == ::getpid();
        saw_child |= p.pid() == child.pid;
    }
    EXPECT_TRUE(saw_me);
    EXPECT_TRUE(saw_child);
    EXPECT_GE(n, 2u);
}

RINGLET_TEST(PsProcessTest, IpcProcessInfoIsTheChild) {
    ringlet::ipc::Process proc([] { ringlet::sleep(30s); });
    EXPECT_THROW(proc.info(), ringlet::UsageError);
    proc.start();
    ps::Process info = proc.info();
    EXPECT_EQ(info.pid(), proc.pid());
    EXPECT_EQ(info.ppid(), ::getpid());
    EXPECT_EQ(info.parent().value(), ps::Process());
    proc.kill();
    EXPECT_TRUE(info.wait());
    ASSERT_TRUE(proc.join());
    EXPECT_THROW(proc.info(), ps::NoSuchProcess);
    EXPECT_FALSE(info.is_running());
}

RINGLET_TEST(PsProcessTest, OneshotSharesOneStatSnapshot) {
    PsChild child = PsChild::start([] { ::prctl(PR_SET_NAME, "ps-oneshot"); });
    ps::Process p(child.pid);
    const auto [ppid, threads, nice] =
        p.oneshot([&] { return std::tuple(p.ppid(), p.num_threads(), p.nice()); });
    EXPECT_EQ(ppid, ::getpid());
    EXPECT_EQ(threads, 1u);
    EXPECT_EQ(nice, p.nice());
    for (int i = 0; i < 1'000'000 && p.status() != ps::Status::sleeping; ++i) ::sched_yield();
    // Inside oneshot the snapshot stays, even once the process has ended;
    // outside, the next read sees the truth.
    p.oneshot([&] {
        EXPECT_EQ(p.status(), ps::Status::sleeping);
        child.release();
        child.wait_exited();
        EXPECT_EQ(p.status(), ps::Status::sleeping);
    });
    EXPECT_EQ(p.status(), ps::Status::zombie);
    child.reap();
}
