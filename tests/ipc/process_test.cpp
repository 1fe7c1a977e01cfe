// tests/ipc/process_test.cpp — ipc::Process: fork, join, exit codes, signals,
// daemon rules, and the child's fresh scheduler.
#include <ringlet/ipc/process.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;

namespace {

// A pipe whose ends both processes inherit: the child reports values, the
// parent reads them (blocking the thread; fine for a test's side channel).
class ReportPipe {
public:
    ReportPipe() {
        if (::pipe2(fds_, O_CLOEXEC) != 0) std::abort();
    }
    ~ReportPipe() {
        for (int fd : fds_) {
            if (fd >= 0) ::close(fd);
        }
    }
    void put(long v) const {
        if (::write(fds_[1], &v, sizeof v) != sizeof v) ::_exit(99);
    }
    // The next value, or -1 once every writer has closed.
    long get() {
        close_write();
        long v = -1;
        return ::read(fds_[0], &v, sizeof v) == sizeof v ? v : -1;
    }
    void close_write() {
        if (fds_[1] >= 0) ::close(std::exchange(fds_[1], -1));
    }

private:
    int fds_[2] = {-1, -1};
};

bool process_gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

int global_value = 1;  // for the data-isolation test

}  // namespace

RINGLET_TEST(ProcessTest, ChildRunsAndExitsZero) {
    ReportPipe report;
    ipc::Process p([&] { report.put(42); });
    EXPECT_EQ(p.pid(), 0);
    EXPECT_FALSE(p.exitcode().has_value());
    p.start();
    EXPECT_GT(p.pid(), 0);
    EXPECT_NE(p.pid(), ipc::current_pid());
    EXPECT_TRUE(p.join());
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_FALSE(p.is_alive());
    EXPECT_EQ(report.get(), 42);
}

RINGLET_TEST(ProcessTest, ArgumentsAreCopiedIntoTheChild) {
    ReportPipe report;
    std::string text = "hello";
    ipc::Process p([&report](int a, const std::string& s) { report.put(a + long(s.size())); }, 37,
                   text);
    text = "changed after construction";
    p.start();
    ASSERT_TRUE(p.join());
    EXPECT_EQ(report.get(), 42);
}

RINGLET_TEST(ProcessTest, ExceptionInTheChildGivesExitCodeOne) {
    ipc::Process p([] { throw std::runtime_error("boom in the child"); });
    p.start();
    ASSERT_TRUE(p.join());
    EXPECT_EQ(p.exitcode(), 1);
}

RINGLET_TEST(ProcessTest, ExitCallInTheChildGivesItsCode) {
    ipc::Process p([] { std::exit(7); });
    p.start();
    ASSERT_TRUE(p.join());
    EXPECT_EQ(p.exitcode(), 7);
}

RINGLET_TEST(ProcessTest, UncaughtExceptionIsPrintedOnStderr) {
    int err[2];
    ASSERT_EQ(::pipe(err), 0);
    ipc::Process p(ipc::ProcessOptions{.name = "thrower"}, [&] {
        ::dup2(err[1], STDERR_FILENO);
        throw std::invalid_argument("bad things");
    });
    p.start();
    ::close(err[1]);
    ASSERT_TRUE(p.join());
    std::string text;
    char buf[256];
    for (ssize_t n; (n = ::read(err[0], buf, sizeof buf)) > 0;) text.append(buf, std::size_t(n));
    ::close(err[0]);
    EXPECT_NE(text.find("thrower"), std::string::npos) << text;
    EXPECT_NE(text.find("std::invalid_argument"), std::string::npos) << text;
    EXPECT_NE(text.find("bad things"), std::string::npos) << text;
}

RINGLET_TEST(ProcessTest, ChildChangesToGlobalsStayInTheChild) {
    ReportPipe report;
    global_value = 1;
    ipc::Process p([&] {
        global_value = 2;
        report.put(global_value);
    });
    p.start();
    ASSERT_TRUE(p.join());
    EXPECT_EQ(report.get(), 2);
    EXPECT_EQ(global_value, 1);
}

RINGLET_TEST(ProcessTest, ChildSeesParentPidAndCpuCount) {
    ReportPipe report;
    const pid_t me = ipc::current_pid();
    ipc::Process p([&] {
        report.put(ipc::parent_pid());
        report.put(ipc::current_pid());
    });
    p.start();
    ASSERT_TRUE(p.join());
    EXPECT_EQ(report.get(), me);
    EXPECT_EQ(report.get(), p.pid());
    EXPECT_GE(ipc::cpu_count(), 1u);
}

RINGLET_TEST(ProcessTest, DefaultNamesCountAndCustomNamesStick) {
    ipc::Process a([] {});
    ipc::Process b([] {});
    EXPECT_EQ(a.name().rfind("Process-", 0), 0u);
    EXPECT_NE(a.name(), b.name());
    ipc::Process c(ipc::ProcessOptions{.name = "worker", .daemon = true}, [] {});
    EXPECT_EQ(c.name(), "worker");
    EXPECT_TRUE(c.daemon());
    EXPECT_FALSE(a.daemon());
}

namespace {
struct Squarer : ipc::Process {
    Squarer(int value, ReportPipe& out) : value_(value), out_(out) {}
    void run() override { out_.put(value_ * value_); }
    int value_;
    ReportPipe& out_;
};
}  // namespace

RINGLET_TEST(ProcessTest, SubclassOverridesRun) {
    ReportPipe report;
    Squarer s(9, report);
    s.start();
    ASSERT_TRUE(s.join());
    EXPECT_EQ(s.exitcode(), 0);
    EXPECT_EQ(report.get(), 81);
}

RINGLET_TEST(ProcessTest, ChildHasAFreshSchedulerForItsTasks) {
    ReportPipe report;
    ipc::Process p([&] {
        std::vector<ringlet::Task<int>> tasks;
        for (int i = 0; i < 100; ++i) {
            tasks.push_back(ringlet::spawn([i] {
                ringlet::sleep(1ms);
                return i;
            }));
        }
        long sum = 0;
        for (auto& t : tasks) sum += t.get();
        report.put(sum);
        report.put(long(ringlet::stats().tasks_spawned));
    });
    p.start();
    ASSERT_TRUE(p.join(30s));
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_EQ(report.get(), 4950);
    // The child's scheduler counts only its own tasks: its main and the 100.
    EXPECT_EQ(report.get(), 101);
}

RINGLET_TEST(ProcessTest, ForkWhileOtherTasksWaitInIoLeavesBothSidesClean) {
    // Regression guard for DESIGN's fork rule: the parent's pending reads must
    // complete once, in the parent; the child must not see them at all.
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ringlet::net::UnixStream reader{ringlet::net::Socket(sv[0])};
    const int writer = sv[1];
    auto blocked = ringlet::spawn([&] {
        char c = 0;
        return reader.read(&c, 1) == 1 ? c : '?';
    });
    ringlet::yield();  // the reader is now waiting in the backend
    ipc::Process p([&] {
        // Own IO on the child's own ring: a socketpair round trip.
        auto [a, b] = ringlet::net::UnixStream::pair();
        auto echo = ringlet::spawn([&b] {
            char c = 0;
            if (b.read(&c, 1) == 1) b.write_all(std::string_view(&c, 1));
        });
        char in = 0;
        a.write_all("x");
        if (a.read(&in, 1) != 1) std::exit(2);
        echo.get();
        if (in != 'x') std::exit(3);
    });
    p.start();
    ASSERT_TRUE(p.join(30s));
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_FALSE(blocked.done());
    ASSERT_EQ(::write(writer, "z", 1), 1);
    EXPECT_EQ(blocked.get(), 'z');
    ::close(writer);
}

RINGLET_TEST(ProcessTest, JoinSuspendsOnlyTheJoiningTask) {
    // The child waits for a byte that a task of ours writes after join() has
    // begun: if join blocked the thread, it would time out.
    int to_child[2];
    ASSERT_EQ(::pipe2(to_child, O_CLOEXEC), 0);
    ipc::Process p([&] {
        char c;
        std::exit(::read(to_child[0], &c, 1) == 1 && c == 'g' ? 0 : 5);
    });
    p.start();
    auto joiner = ringlet::spawn([&] { return p.join(20s); });
    auto writer = ringlet::spawn([&] {
        ringlet::yield();  // let the joiner start waiting first
        if (::write(to_child[1], "g", 1) != 1) throw std::runtime_error("write");
    });
    writer.get();
    EXPECT_TRUE(joiner.get());
    EXPECT_EQ(p.exitcode(), 0);
    ::close(to_child[0]);
    ::close(to_child[1]);
}

RINGLET_TEST(ProcessTest, JoinTimesOutOnAChildIgnoringSigterm) {
    ReportPipe ready;
    ipc::Process p([&] {
        ::signal(SIGTERM, SIG_IGN);
        ready.put(1);
        for (;;) ::pause();
    });
    p.start();
    ASSERT_EQ(ready.get(), 1);  // SIGTERM is ignored from here on
    p.terminate();
    EXPECT_FALSE(p.join(100ms));
    EXPECT_TRUE(p.is_alive());
    EXPECT_FALSE(p.exitcode().has_value());
    p.kill();
    EXPECT_TRUE(p.join(20s));
    EXPECT_EQ(p.exitcode(), -SIGKILL);
    EXPECT_FALSE(p.is_alive());
    p.kill();  // no effect once ended
    p.terminate();
}

RINGLET_TEST(ProcessTest, TerminateGivesMinusSigterm) {
    ReportPipe ready;
    ipc::Process p([&] {
        ready.put(1);
        for (;;) ::pause();
    });
    p.start();
    ASSERT_EQ(ready.get(), 1);
    p.terminate();
    ASSERT_TRUE(p.join(20s));
    EXPECT_EQ(p.exitcode(), -SIGTERM);
}

RINGLET_TEST(ProcessTest, CancelledJoinLeavesTheChildJoinable) {
    ReportPipe ready;
    ipc::Process p([&] {
        ready.put(1);
        for (;;) ::pause();
    });
    p.start();
    ASSERT_EQ(ready.get(), 1);
    auto joiner = ringlet::spawn([&] { return p.join(); });
    ringlet::yield();
    joiner.cancel();
    EXPECT_TRUE(joiner.join(20s));
    EXPECT_TRUE(joiner.cancelled());
    EXPECT_TRUE(p.is_alive());
    p.kill();
    EXPECT_TRUE(p.join(20s));
    EXPECT_EQ(p.exitcode(), -SIGKILL);
}

RINGLET_TEST(ProcessTest, JoinUnderATimeoutScopeThrowsTimeoutError) {
    ReportPipe ready;
    ipc::Process p([&] {
        ready.put(1);
        for (;;) ::pause();
    });
    p.start();
    ASSERT_EQ(ready.get(), 1);
    {
        ringlet::Timeout scope(50ms);
        EXPECT_THROW(p.join(), ringlet::TimeoutError);
    }
    p.kill();
    EXPECT_TRUE(p.join(20s));
}

RINGLET_TEST(ProcessTest, MisuseThrowsUsageError) {
    ipc::Process p([] {});
    EXPECT_THROW(p.join(), ringlet::UsageError);
    EXPECT_THROW(p.terminate(), ringlet::UsageError);
    EXPECT_THROW(p.kill(), ringlet::UsageError);
    EXPECT_FALSE(p.is_alive());
    p.start();
    EXPECT_THROW(p.start(), ringlet::UsageError);
    EXPECT_TRUE(p.join());
}

RINGLET_TEST(ProcessTest, ParallelChildrenRunAtTheSameTime) {
    // A barrier through two pipes: every child checks in, then waits for the
    // parent's release, which comes only after all four have checked in. It
    // completes only if the four run at the same time.
    int in[2], release[2];
    ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(release, O_CLOEXEC), 0);
    std::vector<ipc::Process> ps;
    for (int i = 0; i < 4; ++i) {
        ps.emplace_back([&] {
            char c = 'x';
            if (::write(in[1], &c, 1) != 1 || ::read(release[0], &c, 1) != 1) std::exit(6);
        });
    }
    for (auto& p : ps) p.start();
    int arrived = 0;
    while (arrived < 4) {
        pollfd pfd{in[0], POLLIN, 0};
        ASSERT_EQ(::poll(&pfd, 1, 20000), 1) << "only " << arrived << " children checked in";
        char buf[4];
        const ssize_t n = ::read(in[0], buf, sizeof buf);
        ASSERT_GT(n, 0);
        arrived += int(n);
    }
    ASSERT_EQ(::write(release[1], "rrrr", 4), 4);
    for (auto& p : ps) {
        EXPECT_TRUE(p.join(20s));
        EXPECT_EQ(p.exitcode(), 0);
    }
    for (int fd : {in[0], in[1], release[0], release[1]}) ::close(fd);
}

TEST(ProcessPlainThreadTest, StartAndJoinWithoutAScheduler) {
    ReportPipe report;
    ipc::Process p([&] {
        // The child still gets a scheduler of its own.
        auto t = ringlet::spawn([] { return 5; });
        report.put(t.get());
    });
    p.start();
    EXPECT_TRUE(p.join(20s));
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_EQ(report.get(), 5);
}

TEST(ProcessExitTest, RunEndJoinsNonDaemonChildren) {
    ReportPipe report;
    int gate[2];
    ASSERT_EQ(::pipe2(gate, O_CLOEXEC), 0);
    pid_t pid = 0;
    std::thread releaser;
    ringlet::run([&] {
        ipc::Process p([&] {
            char c;
            if (::read(gate[0], &c, 1) != 1) std::exit(4);
            report.put(77);
        });
        p.start();
        pid = p.pid();
        // The handle goes away and main returns while the child still waits;
        // run() must wait for it. Release it from another thread.
        releaser = std::thread([w = gate[1]] { (void)!::write(w, "r", 1); });
    });
    releaser.join();
    EXPECT_TRUE(process_gone(pid));  // joined (reaped) before run() returned
    EXPECT_EQ(report.get(), 77);
    ::close(gate[0]);
    ::close(gate[1]);
}

TEST(ProcessExitTest, RunEndTerminatesDaemonChildren) {
    pid_t pid = 0;
    ReportPipe ready;
    ringlet::run([&] {
        ipc::Process p(ipc::ProcessOptions{.daemon = true}, [&] {
            ready.put(1);
            for (;;) ::pause();
        });
        p.start();
        pid = p.pid();
        EXPECT_EQ(ready.get(), 1);
    });
    EXPECT_TRUE(process_gone(pid));
}

TEST(ProcessExitTest, DaemonIgnoringSigtermIsKilledAfterTheGrace) {
    pid_t pid = 0;
    ReportPipe ready;
    ringlet::run([&] {
        ipc::Process p(ipc::ProcessOptions{.daemon = true}, [&] {
            ::signal(SIGTERM, SIG_IGN);
            ready.put(1);
            for (;;) ::pause();
        });
        p.start();
        pid = p.pid();
        EXPECT_EQ(ready.get(), 1);
    });
    EXPECT_TRUE(process_gone(pid));
}

RINGLET_TEST(ProcessTest, ChildCanUseBlockingAfterTheParentDid) {
    // Children forked while the parent's blocking() workers are busy (one
    // may hold the pool's lock at the instant of fork, others wait in its
    // condition variable) must get a working pool of their own.
#if defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "TSan cannot start threads in a child of a multi-threaded process";
#endif
    std::atomic<bool> stop = false;
    std::vector<ringlet::Task<void>> load;
    for (int i = 0; i < 4; ++i) {
        load.push_back(ringlet::spawn([&stop] {
            while (!stop) ringlet::blocking([] {});
        }));
    }
    for (int round = 0; round < 20; ++round) {
        ipc::Process child([] {
            std::vector<ringlet::Task<int>> inner;
            for (int i = 0; i < 8; ++i) {
                inner.push_back(ringlet::spawn([i] { return ringlet::blocking([i] { return i * 2; }); }));
            }
            int sum = 0;
            for (auto& c : inner) sum += c.get();
            ::_exit(sum == 56 ? 0 : 1);
        });
        child.start();
        ASSERT_TRUE(child.join(30s)) << "a child hung in blocking() (round " << round << ")";
        EXPECT_EQ(child.exitcode(), 0);
    }
    stop = true;
    ringlet::joinall(load);
}
