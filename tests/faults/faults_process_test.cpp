// tests/faults/faults_process_test.cpp — fork and posix_spawn failing with
// EAGAIN (RLIMIT_NPROC, pid_max, cgroup pids.max).
//
// ipc::Process::start and a ProcessPool that cannot start its fork server
// throw IoError(EAGAIN) and leave nothing behind (no fd, no child); the same
// Process can be started once fork works again. A pool whose fork server
// cannot fork a worker retries, and its tasks still complete. Subprocess
// reports the program it could not start, and closes the pipes it made.
#include <cerrno>
#include <dirent.h>
#include <string>

#include <sys/wait.h>

#include <ringlet/ipc/process.hpp>
#include <ringlet/ipc/process_pool.hpp>
#include <ringlet/ipc/subprocess.hpp>
#include <ringlet/ringlet.hpp>

#include "fault_control.hpp"
#include "ringlet_test.hpp"

namespace ipc = ringlet::ipc;

namespace {

std::size_t open_fds() {
    std::size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d) != nullptr) ++n;
        ::closedir(d);
    }
    return n;
}

// True if this process has a child that is not reaped (alive or zombie).
bool has_children() {
    siginfo_t info{};
    return ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid != 0;
}

void expect_eagain(const ringlet::IoError& e) {
    EXPECT_EQ(e.code(), std::errc::resource_unavailable_try_again) << e.what();
}

int twice(int x) { return 2 * x; }

}  // namespace

RINGLET_TEST(FaultProcessTest, StartWhenForkFailsIsIoErrorEagainThenStartWorks) {
    REQUIRE_FAULT_SHIM();
    const std::size_t fds = open_fds();
    ipc::Process p([] { std::_Exit(7); });
    {
        faults::Armed armed("fork:EAGAIN@1");
        try {
            p.start();
            ADD_FAILURE() << "start() returned with fork failing";
        } catch (const ringlet::IoError& e) {
            expect_eagain(e);
        }
        EXPECT_EQ(faults::hits("fork"), 1u);
    }
    EXPECT_EQ(p.pid(), 0);
    EXPECT_FALSE(p.exitcode().has_value());
    EXPECT_EQ(open_fds(), fds);
    EXPECT_FALSE(has_children());
    p.start();  // the failed start left it startable
    ASSERT_TRUE(p.join(faults::hang_bound));
    EXPECT_EQ(p.exitcode(), 7);
}

RINGLET_TEST(FaultProcessTest, PoolWhoseForkServerCannotForkThrowsIoErrorEagain) {
    REQUIRE_FAULT_SHIM();
    const std::size_t fds = open_fds();
    {
        faults::Armed armed("fork:EAGAIN@1");
        try {
            ipc::ProcessPool pool(2);
            ADD_FAILURE() << "the pool started without a fork server";
        } catch (const ringlet::IoError& e) {
            expect_eagain(e);
        }
    }
    EXPECT_EQ(open_fds(), fds) << "the failed pool left fds open";
    EXPECT_FALSE(has_children());
    ipc::ProcessPool pool(2);
    EXPECT_EQ(pool.apply_async(twice, 21).get(faults::hang_bound), 42);
}

RINGLET_TEST(FaultProcessTest, PoolWorkersThatCannotForkAreRetriedAndTasksComplete) {
    REQUIRE_FAULT_SHIM();
    // Fork 1 (the fork server) works; the server inherits the count, so its
    // first worker forks (calls 2 and 3) fail and are retried later.
    faults::Armed armed("fork:EAGAIN@2..3");
    ipc::ProcessPool pool(2);
    for (int i = 0; i < 8; ++i) {
        EXPECT_EQ(pool.apply_async(twice, i).get(faults::hang_bound), 2 * i);
    }
    pool.close();
    pool.join();
}

RINGLET_TEST(FaultProcessTest, SubprocessThatCannotSpawnIsIoErrorNamingItAndLeaksNoPipe) {
    REQUIRE_FAULT_SHIM();
    const std::size_t fds = open_fds();
    {
        faults::Armed armed("posix_spawn:EAGAIN@1..2");
        try {
            ipc::Subprocess p({"cat"},
                              {.stdin_mode = ipc::Stdio::pipe, .stdout_mode = ipc::Stdio::pipe});
            ADD_FAILURE() << "the subprocess started with posix_spawn failing";
        } catch (const ringlet::IoError& e) {
            expect_eagain(e);
            EXPECT_NE(std::string(e.what()).find("cat"), std::string::npos) << e.what();
        }
        try {
            (void)ipc::check_output({"echo", "hi"});
            ADD_FAILURE() << "check_output ran with posix_spawn failing";
        } catch (const ringlet::IoError& e) {
            expect_eagain(e);
        }
        EXPECT_EQ(faults::hits("posix_spawn"), 2u);
    }
    EXPECT_EQ(open_fds(), fds) << "the pipes made for the child stayed open";
    EXPECT_FALSE(has_children());
    EXPECT_EQ(ipc::check_output({"echo", "hi"}), "hi\n");
}

// $RINGLET_FAULT arms the shim at load, and $RINGLET_FAULT_PID restricts it
// to one process (run by the faults_env_* tests of meson.build; skipped
// otherwise).
TEST(FaultEnvTest, SpecFromTheEnvironmentIsArmedAtLoadForItsPid) {
    REQUIRE_FAULT_SHIM();
    const char* spec = std::getenv("RINGLET_FAULT");
    if (spec == nullptr) GTEST_SKIP() << "run by the faults_env_* tests (RINGLET_FAULT unset)";
    ASSERT_STREQ(spec, "fork:EAGAIN@1");
    const char* pid = std::getenv("RINGLET_FAULT_PID");
    const bool armed = pid == nullptr || std::atoi(pid) == ::getpid();
    ringlet::run([armed] {
        ipc::Process p([] {});
        try {
            p.start();
            EXPECT_FALSE(armed) << "the first fork worked with RINGLET_FAULT armed";
        } catch (const ringlet::IoError& e) {
            EXPECT_TRUE(armed) << "armed for another pid, yet: " << e.what();
            expect_eagain(e);
            p.start();  // only the first fork fails
        }
        ASSERT_TRUE(p.join(faults::hang_bound));
        EXPECT_EQ(p.exitcode(), 0);
    });
}
