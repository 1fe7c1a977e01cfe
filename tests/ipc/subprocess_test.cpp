// tests/ipc/subprocess_test.cpp — ipc::Subprocess, call and check_output:
// exit codes, errors, pipes (communicate with large data both ways, stderr,
// stderr_to_stdout, Stdio::null, incremental streams), cwd and env, signals,
// wait_for, waits that do not block the thread, cancellation and Timeout,
// destructor kill+reap, moves, fd hygiene, plain threads. Only programs found
// on every Debian machine: sh, true, false, cat, sort, sleep.
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <ringlet/ipc/errors.hpp>
#include <ringlet/ipc/subprocess.hpp>
#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;
using ringlet::IoError;
using ringlet::UsageError;
using ringlet::ipc::ProcessError;
using ringlet::ipc::Stdio;
using ringlet::ipc::Subprocess;
using ringlet::ipc::SubprocessOptions;

namespace {

constexpr std::size_t four_mib = 4u << 20;

// Deterministic bytes, different per seed, with newlines now and then.
std::string pattern(std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    unsigned x = seed * 2654435761u + 1;
    for (std::size_t i = 0; i < n; ++i) {
        x = x * 1103515245u + 12345u;
        s[i] = (i % 61 == 60) ? '\n' : static_cast<char>('a' + (x >> 16) % 26);
    }
    return s;
}

// A fresh directory under TMPDIR (or /tmp), removed with its files.
class TempDir {
public:
    TempDir() {
        const char* base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base && *base ? base : "/tmp") + "/ringlet-subp-XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) throw IoError(errno, "mkdtemp");
        char* real = ::realpath(tmpl.c_str(), nullptr);
        path_ = real ? real : tmpl;
        std::free(real);
    }
    ~TempDir() {
        if (DIR* d = ::opendir(path_.c_str())) {
            while (dirent* e = ::readdir(d)) {
                if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
                    ::unlink((path_ + "/" + e->d_name).c_str());
                }
            }
            ::closedir(d);
        }
        ::rmdir(path_.c_str());
    }
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

void write_text_file(const std::string& path, const std::string& data, mode_t mode = 0644) {
    std::ofstream(path, std::ios::binary) << data;
    ::chmod(path.c_str(), mode);
}

// True once `pid` is no child of ours any more (reaped: no zombie left).
bool is_reaped(pid_t pid) {
    errno = 0;
    return ::waitpid(pid, nullptr, WNOHANG) == -1 && errno == ECHILD;
}

// True if some child of ours has ended and not been reaped (a zombie).
// WNOWAIT leaves it as it is.
bool has_zombie_child() {
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;  // ECHILD
    return info.si_pid != 0;
}

SubprocessOptions piped_out() { return {.stdout_mode = Stdio::pipe}; }

std::string read_to_eof(ringlet::net::Stream& s) {
    std::string out;
    char buf[4096];
    while (const std::size_t n = s.read(buf, sizeof buf)) out.append(buf, n);
    return out;
}

}  // namespace

// --- call -------------------------------------------------------------------

RINGLET_TEST(SubprocessTest, CallReturnsZeroForTrue) { EXPECT_EQ(ringlet::ipc::call({"true"}), 0); }

RINGLET_TEST(SubprocessTest, CallReturnsOneForFalse) {
    EXPECT_EQ(ringlet::ipc::call({"false"}), 1);
}

RINGLET_TEST(SubprocessTest, CallReturnsTheExitStatus) {
    EXPECT_EQ(ringlet::ipc::call({"sh", "-c", "exit 7"}), 7);
    EXPECT_EQ(ringlet::ipc::call({"/bin/sh", "-c", "exit 255"}), 255);
}

RINGLET_TEST(SubprocessTest, CallReturnsMinusSignalForAKilledChild) {
    EXPECT_EQ(ringlet::ipc::call({"sh", "-c", "kill -9 $$"}), -SIGKILL);
}

RINGLET_TEST(SubprocessTest, CallDrainsPipesNobodyReads) {
    // 1 MiB into a stdout pipe that the caller never looks at: call() must
    // read it, or the child would block once the socket buffer is full.
    SubprocessOptions o{
        .stdin_mode = Stdio::pipe, .stdout_mode = Stdio::pipe, .stderr_mode = Stdio::pipe};
    EXPECT_EQ(
        ringlet::ipc::call({"sh", "-c",
                            "cat; i=0; while [ $i -lt 16384 ]; do "
                            "echo 0123456789012345678901234567890123456789012345678901234567890; "
                            "i=$((i+1)); done; echo err >&2; exit 3"},
                           o),
        3);
}

// --- check_output -----------------------------------------------------------

RINGLET_TEST(SubprocessTest, CheckOutputReturnsStdout) {
    EXPECT_EQ(ringlet::ipc::check_output({"sh", "-c", "echo hi"}), "hi\n");
    EXPECT_EQ(ringlet::ipc::check_output({"true"}), "");
}

RINGLET_TEST(SubprocessTest, CheckOutputFailureThrowsProcessError) {
    try {
        ringlet::ipc::check_output({"sh", "-c", "echo partial; exit 3"});
        ADD_FAILURE() << "check_output of a failing child returned";
    } catch (const ProcessError& e) {
        EXPECT_EQ(e.exitcode(), 3);
        EXPECT_NE(std::string(e.what()).find("'sh'"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("status 3"), std::string::npos) << e.what();
    }
}

RINGLET_TEST(SubprocessTest, CheckOutputOfAKilledChildReportsTheSignal) {
    try {
        ringlet::ipc::check_output({"sh", "-c", "kill -9 $$"});
        ADD_FAILURE() << "check_output of a killed child returned";
    } catch (const ProcessError& e) {
        EXPECT_EQ(e.exitcode(), -9);
        EXPECT_NE(std::string(e.what()).find("signal 9"), std::string::npos) << e.what();
    }
}

RINGLET_TEST(SubprocessTest, CheckOutputQuotesAPipedStderr) {
    try {
        ringlet::ipc::check_output({"sh", "-c", "echo boom >&2; exit 2"},
                                   {.stderr_mode = Stdio::pipe});
        ADD_FAILURE() << "check_output of a failing child returned";
    } catch (const ProcessError& e) {
        EXPECT_EQ(e.exitcode(), 2);
        EXPECT_NE(std::string(e.what()).find("boom"), std::string::npos) << e.what();
    }
}

RINGLET_TEST(SubprocessTest, CheckOutputWithNullStdoutIsUsageError) {
    EXPECT_THROW(ringlet::ipc::check_output({"true"}, {.stdout_mode = Stdio::null}), UsageError);
}

RINGLET_TEST(SubprocessTest, CheckOutputFeedsStdinFromOptions) {
    // stdin as options say: a pipe gets EOF at once.
    EXPECT_EQ(
        ringlet::ipc::check_output({"sh", "-c", "cat; echo end"}, {.stdin_mode = Stdio::pipe}),
        "end\n");
}

// --- start-up errors --------------------------------------------------------

RINGLET_TEST(SubprocessTest, MissingProgramThrowsIoErrorNamingIt) {
    const std::string name = "ringlet-no-such-program-" + std::to_string(::getpid());
    try {
        Subprocess p({name, "arg"});
        ADD_FAILURE() << "a missing program started";
    } catch (const IoError& e) {
        EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory) << e.what();
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
    EXPECT_THROW(ringlet::ipc::call({name}), IoError);
    EXPECT_THROW(ringlet::ipc::check_output({"/nonexistent/" + name}), IoError);
    EXPECT_FALSE(has_zombie_child()) << "the failed exec left a zombie";
}

RINGLET_TEST(SubprocessTest, NonExecutableFileThrowsIoError) {
    TempDir dir;
    const std::string path = dir.file("not-executable");
    write_text_file(path, "#!/bin/sh\necho no\n", 0644);
    try {
        Subprocess p({path});
        ADD_FAILURE() << "a non-executable file started";
    } catch (const IoError& e) {
        EXPECT_EQ(e.code(), std::errc::permission_denied) << e.what();
    }
    EXPECT_FALSE(has_zombie_child());
}

RINGLET_TEST(SubprocessTest, EmptyArgvIsUsageError) {
    EXPECT_THROW(Subprocess({}), UsageError);
    EXPECT_THROW(ringlet::ipc::call({}), UsageError);
    EXPECT_THROW(ringlet::ipc::check_output({}), UsageError);
}

RINGLET_TEST(SubprocessTest, StderrToStdoutWithAStderrModeIsUsageError) {
    EXPECT_THROW(Subprocess({"true"}, {.stderr_mode = Stdio::pipe, .stderr_to_stdout = true}),
                 UsageError);
}

// --- communicate ------------------------------------------------------------

RINGLET_TEST(SubprocessTest, CommunicateSortsInput) {
    Subprocess p({"sort"}, {.stdin_mode = Stdio::pipe, .stdout_mode = Stdio::pipe});
    auto r = p.communicate("pear\napple\nfig\n");
    EXPECT_EQ(r.out, "apple\nfig\npear\n");
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(r.returncode, 0);
    EXPECT_EQ(p.returncode(), 0);
}

RINGLET_TEST(SubprocessTest, CommunicateCatsFourMiBInAndOut) {
    const std::string data = pattern(four_mib, 1);
    Subprocess p({"cat"}, {.stdin_mode = Stdio::pipe, .stdout_mode = Stdio::pipe});
    auto r = p.communicate(data);
    EXPECT_EQ(r.returncode, 0);
    EXPECT_EQ(r.out.size(), data.size());
    EXPECT_TRUE(r.out == data);
}

RINGLET_TEST(SubprocessTest, CommunicateLargeDataOnAllThreeStreams) {
    // The child copies 4 MiB of stdin to stderr before it writes 4 MiB to
    // stdout: writing all input first, or reading stdout before stderr,
    // would deadlock.
    TempDir dir;
    const std::string file = dir.file("data");
    const std::string to_stdout = pattern(four_mib, 2);
    write_text_file(file, to_stdout);
    const std::string input = pattern(four_mib, 3);
    Subprocess p(
        {"sh", "-c", "cat >&2; cat \"$1\"", "sh", file},
        {.stdin_mode = Stdio::pipe, .stdout_mode = Stdio::pipe, .stderr_mode = Stdio::pipe});
    auto r = p.communicate(input);
    EXPECT_EQ(r.returncode, 0);
    EXPECT_EQ(r.err.size(), input.size());
    EXPECT_TRUE(r.err == input);
    EXPECT_EQ(r.out.size(), to_stdout.size());
    EXPECT_TRUE(r.out == to_stdout);
}

RINGLET_TEST(SubprocessTest, CommunicateCapturesStderr) {
    Subprocess p({"sh", "-c", "echo out; echo err >&2; exit 4"},
                 {.stdout_mode = Stdio::pipe, .stderr_mode = Stdio::pipe});
    auto r = p.communicate();
    EXPECT_EQ(r.out, "out\n");
    EXPECT_EQ(r.err, "err\n");
    EXPECT_EQ(r.returncode, 4);
}

RINGLET_TEST(SubprocessTest, StderrToStdoutMergesTheStreams) {
    Subprocess p({"sh", "-c", "echo one; echo two >&2; echo three"},
                 {.stdout_mode = Stdio::pipe, .stderr_to_stdout = true});
    auto r = p.communicate();
    EXPECT_EQ(r.out, "one\ntwo\nthree\n");
    EXPECT_EQ(r.err, "");
    EXPECT_THROW(p.stderr_stream(), UsageError);
    EXPECT_EQ(ringlet::ipc::check_output({"sh", "-c", "echo e >&2"}, {.stderr_to_stdout = true}),
              "e\n");
}

RINGLET_TEST(SubprocessTest, CommunicateSurvivesAChildThatStopsReading) {
    // `true` never reads its stdin: writing 4 MiB into it ends in EPIPE or
    // ECONNRESET, which communicate() takes as "done writing".
    Subprocess p({"true"}, {.stdin_mode = Stdio::pipe, .stdout_mode = Stdio::pipe});
    auto r = p.communicate(pattern(four_mib, 4));
    EXPECT_EQ(r.returncode, 0);
    EXPECT_EQ(r.out, "");
}

RINGLET_TEST(SubprocessTest, CommunicateInputWithoutAStdinPipeIsUsageError) {
    Subprocess p({"true"});
    EXPECT_THROW(p.communicate("data"), UsageError);
    EXPECT_EQ(p.communicate().returncode, 0);  // no input: fine
}

RINGLET_TEST(SubprocessTest, CommunicateAgainReturnsOnlyTheExitCode) {
    Subprocess p({"sh", "-c", "echo once; exit 6"}, piped_out());
    auto first = p.communicate();
    EXPECT_EQ(first.out, "once\n");
    auto second = p.communicate();
    EXPECT_EQ(second.out, "");
    EXPECT_EQ(second.returncode, 6);
    EXPECT_THROW(p.stdout_stream(), UsageError);  // closed by communicate()
}

RINGLET_TEST(SubprocessTest, ConcurrentCommunicatesFromManyTasks) {
    std::vector<ringlet::Task<bool>> tasks;
    for (unsigned i = 0; i < 8; ++i) {
        tasks.push_back(ringlet::spawn([i] {
            const std::string data = pattern(256 * 1024 + i, 10 + i);
            Subprocess p({"cat"}, {.stdin_mode = Stdio::pipe, .stdout_mode = Stdio::pipe});
            auto r = p.communicate(data);
            return r.returncode == 0 && r.out == data;
        }));
    }
    for (auto& t : tasks) EXPECT_TRUE(t.get());
}

// --- Stdio::null, cwd, env --------------------------------------------------

RINGLET_TEST(SubprocessTest, NullStdinReadsEof) {
    Subprocess p({"sh", "-c", "cat; echo end"},
                 {.stdin_mode = Stdio::null, .stdout_mode = Stdio::pipe});
    auto r = p.communicate();
    EXPECT_EQ(r.out, "end\n");
    EXPECT_EQ(r.returncode, 0);
}

RINGLET_TEST(SubprocessTest, NullStdoutAndStderrDiscardOutput) {
    Subprocess a({"sh", "-c", "echo hidden; echo shown >&2"},
                 {.stdout_mode = Stdio::null, .stderr_mode = Stdio::pipe});
    auto ra = a.communicate();
    EXPECT_EQ(ra.out, "");
    EXPECT_EQ(ra.err, "shown\n");
    Subprocess b({"sh", "-c", "echo shown; echo hidden >&2"},
                 {.stdout_mode = Stdio::pipe, .stderr_mode = Stdio::null});
    auto rb = b.communicate();
    EXPECT_EQ(rb.out, "shown\n");
    EXPECT_EQ(rb.err, "");
    // Writing to /dev/null succeeds: the exit status shows it.
    EXPECT_EQ(ringlet::ipc::call({"sh", "-c", "echo x || exit 9"}, {.stdout_mode = Stdio::null}),
              0);
}

RINGLET_TEST(SubprocessTest, CwdOptionSetsTheWorkingDirectory) {
    TempDir dir;
    EXPECT_EQ(ringlet::ipc::check_output({"sh", "-c", "pwd -P"}, {.cwd = dir.path()}),
              dir.path() + "\n");
    // A relative program path with a '/' is taken from the new cwd.
    write_text_file(dir.file("hello.sh"), "#!/bin/sh\necho hello from script\n", 0755);
    EXPECT_EQ(ringlet::ipc::check_output({"./hello.sh"}, {.cwd = dir.path()}),
              "hello from script\n");
}

RINGLET_TEST(SubprocessTest, MissingCwdThrowsIoError) {
    const std::string missing = "/nonexistent-ringlet-dir-" + std::to_string(::getpid());
    try {
        Subprocess p({"true"}, {.cwd = missing});
        ADD_FAILURE() << "started in a missing directory";
    } catch (const IoError& e) {
        EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory) << e.what();
        EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
    }
    EXPECT_FALSE(has_zombie_child());
}

RINGLET_TEST(SubprocessTest, EnvOptionReplacesTheEnvironment) {
    SubprocessOptions o{.env = std::vector<std::string>{"RINGLET_SUBP=yes", "OTHER=2"}};
    EXPECT_EQ(
        ringlet::ipc::check_output({"sh", "-c", "echo \"$RINGLET_SUBP:$OTHER:${HOME-unset}\""}, o),
        "yes:2:unset\n");
    SubprocessOptions empty{.env = std::vector<std::string>{}};
    EXPECT_EQ(ringlet::ipc::check_output({"sh", "-c", "echo \"${HOME-unset}\""}, empty), "unset\n");
    // Without env the parent's environment is inherited.
    ASSERT_NE(std::getenv("PATH"), nullptr);
    EXPECT_EQ(ringlet::ipc::check_output({"sh", "-c", "echo \"$PATH\""}),
              std::string(std::getenv("PATH")) + "\n");
}

// --- pid, poll, wait, signals -----------------------------------------------

RINGLET_TEST(SubprocessTest, PidIsTheChildsPid) {
    Subprocess p({"sh", "-c", "echo $$"}, piped_out());
    EXPECT_GT(p.pid(), 0);
    EXPECT_EQ(p.program(), "sh");
    auto r = p.communicate();
    EXPECT_EQ(r.out, std::to_string(p.pid()) + "\n");
}

RINGLET_TEST(SubprocessTest, PollIsNulloptWhileTheChildRuns) {
    // cat cannot end before its stdin reaches EOF, so "running" is certain.
    Subprocess p({"cat"}, {.stdin_mode = Stdio::pipe});
    EXPECT_EQ(p.poll(), std::nullopt);
    EXPECT_EQ(p.returncode(), std::nullopt);
    p.close_stdin();
    EXPECT_NO_THROW(p.close_stdin());  // twice: no effect
    EXPECT_EQ(p.wait(), 0);
    EXPECT_EQ(p.poll(), 0);
    EXPECT_EQ(p.returncode(), 0);
    EXPECT_EQ(p.wait(), 0);  // again: the remembered code
}

RINGLET_TEST(SubprocessTest, TerminateGivesMinusFifteen) {
    Subprocess p({"sleep", "100"});
    p.terminate();
    EXPECT_EQ(p.wait(), -SIGTERM);
    EXPECT_EQ(p.returncode(), -15);
    EXPECT_EQ(p.poll(), -15);
}

RINGLET_TEST(SubprocessTest, KillGivesMinusNine) {
    Subprocess p({"sleep", "100"});
    p.kill();
    EXPECT_EQ(p.wait(), -SIGKILL);
    EXPECT_EQ(p.returncode(), -9);
}

RINGLET_TEST(SubprocessTest, SendSignalDeliversTheSignal) {
    Subprocess p({"sleep", "100"});
    p.send_signal(SIGUSR1);
    EXPECT_EQ(p.wait(), -SIGUSR1);
    Subprocess q({"sleep", "100"});
    EXPECT_THROW(q.send_signal(-5), IoError);  // EINVAL
    q.kill();
    EXPECT_EQ(q.wait(), -SIGKILL);
}

RINGLET_TEST(SubprocessTest, SignallingAnEndedChildIsANoOp) {
    Subprocess p({"sh", "-c", "exit 3"});
    EXPECT_EQ(p.wait(), 3);
    EXPECT_NO_THROW(p.terminate());
    EXPECT_NO_THROW(p.kill());
    EXPECT_NO_THROW(p.send_signal(SIGUSR1));
    EXPECT_EQ(p.returncode(), 3);
}

RINGLET_TEST(SubprocessTest, SignalsReachAChildOfAThreadThatBlocksThem) {
    // The child's signal mask is emptied: a SIGTERM blocked in the parent
    // thread must not stay blocked in sleep.
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &term, &old), 0);
    Subprocess p({"sleep", "100"});
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    p.terminate();
    const auto code = p.wait_for(30s);
    EXPECT_EQ(code, -SIGTERM) << "SIGTERM stayed blocked in the child";
}

RINGLET_TEST(SubprocessTest, WaitForTimesOutThenKill) {
    Subprocess p({"sleep", "100"});
    const auto t0 = ringlet::Clock::now();
    EXPECT_EQ(p.wait_for(50ms), std::nullopt);
    EXPECT_GE(ringlet::Clock::now() - t0, 45ms);
    EXPECT_EQ(p.poll(), std::nullopt);
    p.kill();
    EXPECT_EQ(p.wait_for(30s), -SIGKILL);
    EXPECT_EQ(p.wait_for(0s), -SIGKILL);
}

RINGLET_TEST(SubprocessTest, WaitForReturnsTheExitCode) {
    Subprocess p({"sh", "-c", "exit 5"});
    EXPECT_EQ(p.wait_for(30s), 5);
    EXPECT_EQ(p.returncode(), 5);
}

RINGLET_TEST(SubprocessTest, ConcurrentWaitsDoNotBlockTheThread) {
    // 20 children of 0.2 s each, waited for by 20 tasks of one thread: if a
    // wait blocked the thread they would take 4 s; together they take ~0.2 s.
    const auto t0 = ringlet::Clock::now();
    std::vector<ringlet::Task<int>> tasks;
    for (int i = 0; i < 20; ++i) {
        tasks.push_back(ringlet::spawn([] { return Subprocess({"sleep", "0.2"}).wait(); }));
    }
    for (auto& t : tasks) EXPECT_EQ(t.get(), 0);
    const auto elapsed = ringlet::Clock::now() - t0;
    EXPECT_LT(elapsed, 3s) << std::chrono::duration<double>(elapsed).count() << " s";
}

RINGLET_TEST(SubprocessTest, TwoTasksWaitingForOneChildBothGetItsCode) {
    Subprocess p({"cat"}, {.stdin_mode = Stdio::pipe});
    auto a = ringlet::spawn([&] { return p.wait(); });
    auto b = ringlet::spawn([&] { return p.wait(); });
    ringlet::yield();  // both are now waiting
    p.close_stdin();
    EXPECT_EQ(a.get(), 0);
    EXPECT_EQ(b.get(), 0);
}

// --- cancellation and timeouts ----------------------------------------------

RINGLET_TEST(SubprocessTest, CancelledWaitLeavesTheChildRunning) {
    pid_t pid = -1;
    {
        Subprocess p({"sleep", "100"});
        pid = p.pid();
        ringlet::Event waiting;
        bool got_cancelled = false;
        auto t = ringlet::spawn([&] {
            waiting.set();
            try {
                p.wait();
            } catch (const ringlet::Cancelled&) {
                got_cancelled = true;
                throw;
            }
        });
        ASSERT_TRUE(waiting.wait(10s));
        t.cancel();
        ASSERT_TRUE(t.join(10s));
        EXPECT_TRUE(t.cancelled());
        EXPECT_TRUE(got_cancelled);
        EXPECT_EQ(p.poll(), std::nullopt) << "the child should still run";
        EXPECT_EQ(::kill(pid, 0), 0);
    }  // the destructor kills and reaps it
    EXPECT_TRUE(is_reaped(pid));
}

RINGLET_TEST(SubprocessTest, CommunicateUnderATimeoutThrowsTimeoutError) {
    pid_t pid = -1;
    {
        Subprocess p(
            {"sleep", "100"},
            {.stdin_mode = Stdio::pipe, .stdout_mode = Stdio::pipe, .stderr_mode = Stdio::pipe});
        pid = p.pid();
        const auto t0 = ringlet::Clock::now();
        EXPECT_THROW(
            {
                ringlet::Timeout limit(200ms);
                p.communicate(pattern(four_mib, 5));  // sleep never reads: the writer blocks
            },
            ringlet::TimeoutError);
        EXPECT_LT(ringlet::Clock::now() - t0, 10s);
        EXPECT_EQ(p.poll(), std::nullopt) << "the child should still run";
    }
    EXPECT_TRUE(is_reaped(pid));
}

RINGLET_TEST(SubprocessTest, CommunicateInACancelledTaskStopsItsHelpers) {
    // The cancel is pending before communicate() first suspends: the helper
    // tasks have to be stopped and waited for before the caller unwinds.
    pid_t pid = -1;
    {
        Subprocess p(
            {"sleep", "100"},
            {.stdin_mode = Stdio::pipe, .stdout_mode = Stdio::pipe, .stderr_mode = Stdio::pipe});
        pid = p.pid();
        ringlet::Task<void> t;
        ringlet::Task<void>* self = &t;
        t = ringlet::spawn([&p, self] {
            self->cancel();
            p.communicate(pattern(four_mib, 6));
        });
        ASSERT_TRUE(t.join(10s));
        EXPECT_TRUE(t.cancelled());
        EXPECT_EQ(p.poll(), std::nullopt);
    }
    EXPECT_TRUE(is_reaped(pid));
}

RINGLET_TEST(SubprocessTest, CancelledCommunicateWhileHelpersWait) {
    pid_t pid = -1;
    {
        Subprocess p(
            {"sleep", "100"},
            {.stdin_mode = Stdio::pipe, .stdout_mode = Stdio::pipe, .stderr_mode = Stdio::pipe});
        pid = p.pid();
        ringlet::Event started;
        auto t = ringlet::spawn([&] {
            started.set();
            p.communicate(pattern(four_mib, 7));
        });
        ASSERT_TRUE(started.wait(10s));
        ringlet::yield();  // let it get into its reads and writes
        t.cancel();
        ASSERT_TRUE(t.join(10s));
        EXPECT_TRUE(t.cancelled());
        EXPECT_EQ(p.poll(), std::nullopt);
    }
    EXPECT_TRUE(is_reaped(pid));
}

RINGLET_TEST(SubprocessTest, CallUnderATimeoutKillsTheChild) {
    EXPECT_THROW(
        {
            ringlet::Timeout limit(100ms);
            ringlet::ipc::call({"sleep", "100"});
        },
        ringlet::TimeoutError);
    EXPECT_FALSE(has_zombie_child());
}

// --- streams ----------------------------------------------------------------

RINGLET_TEST(SubprocessTest, StreamsForIncrementalUse) {
    Subprocess p({"cat"}, {.stdin_mode = Stdio::pipe, .stdout_mode = Stdio::pipe});
    p.stdin_stream().write_all("line one\n");
    char buf[9];
    p.stdout_stream().read_exact(std::as_writable_bytes(std::span(buf)));
    EXPECT_EQ(std::string(buf, 9), "line one\n");
    p.stdin_stream().write_all("line two\n");
    p.close_stdin();
    EXPECT_THROW(p.stdin_stream(), UsageError);
    EXPECT_EQ(read_to_eof(p.stdout_stream()), "line two\n");
    EXPECT_EQ(p.wait(), 0);

    Subprocess q({"sh", "-c", "echo oops >&2"}, {.stderr_mode = Stdio::pipe});
    EXPECT_EQ(read_to_eof(q.stderr_stream()), "oops\n");
    EXPECT_EQ(q.wait(), 0);
}

RINGLET_TEST(SubprocessTest, StreamOfAStreamThatIsNoPipeIsUsageError) {
    Subprocess p({"true"}, {.stdin_mode = Stdio::null});
    EXPECT_THROW(p.stdin_stream(), UsageError);
    EXPECT_THROW(p.stdout_stream(), UsageError);
    EXPECT_THROW(p.stderr_stream(), UsageError);
    EXPECT_NO_THROW(p.close_stdin());
    EXPECT_EQ(p.wait(), 0);
}

RINGLET_TEST(SubprocessTest, ShutdownWriteOnStdinGivesEof) {
    Subprocess p({"sort"}, {.stdin_mode = Stdio::pipe, .stdout_mode = Stdio::pipe});
    p.stdin_stream().write_all("b\na\n");
    p.stdin_stream().shutdown_write();
    EXPECT_EQ(read_to_eof(p.stdout_stream()), "a\nb\n");
    EXPECT_EQ(p.wait(), 0);
}

// --- lifetime ---------------------------------------------------------------

RINGLET_TEST(SubprocessTest, DestructorKillsAndReapsARunningChild) {
    pid_t pid = -1;
    {
        Subprocess p({"sleep", "100"}, {.stdin_mode = Stdio::pipe, .stdout_mode = Stdio::pipe});
        pid = p.pid();
        ASSERT_GT(pid, 0);
        EXPECT_FALSE(is_reaped(pid));
    }
    EXPECT_TRUE(is_reaped(pid)) << "the destructor left a zombie or a running child";
    EXPECT_FALSE(has_zombie_child());
}

RINGLET_TEST(SubprocessTest, DestructorReapsAnEndedChild) {
    pid_t pid = -1;
    {
        Subprocess p({"sh", "-c", "echo bye"}, piped_out());
        pid = p.pid();
        EXPECT_EQ(read_to_eof(p.stdout_stream()), "bye\n");  // EOF: the child is ending
    }
    EXPECT_TRUE(is_reaped(pid));
}

RINGLET_TEST(SubprocessTest, MoveTransfersTheChild) {
    Subprocess a({"sleep", "100"});
    const pid_t pid = a.pid();
    Subprocess b(std::move(a));
    EXPECT_EQ(b.pid(), pid);
    EXPECT_EQ(a.pid(), -1);  // NOLINT(bugprone-use-after-move): the moved-from state is defined
    EXPECT_THROW(a.poll(), UsageError);
    EXPECT_THROW(a.wait(), UsageError);
    EXPECT_THROW(a.kill(), UsageError);

    // Move assignment disposes of the target's own child first.
    Subprocess c({"sleep", "100"});
    const pid_t old = c.pid();
    c = std::move(b);
    EXPECT_TRUE(is_reaped(old));
    EXPECT_EQ(c.pid(), pid);
    c.kill();
    EXPECT_EQ(c.wait(), -SIGKILL);
}

RINGLET_TEST(SubprocessTest, NoParentFdLeaksIntoTheChild) {
    // Open fds of this process (the runtime's ring or epoll, another child's
    // pipes and pidfd, a non-CLOEXEC fd) must all be absent in the child.
    Subprocess other({"cat"}, {.stdin_mode = Stdio::pipe, .stdout_mode = Stdio::pipe});
    const int plain = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose
    ASSERT_GE(plain, 0);
    std::vector<std::string> argv = {
        "sh", "-c", "for f in \"$@\"; do if [ -e /proc/self/fd/$f ]; then echo $f; fi; done", "sh"};
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (dirent* e = ::readdir(d)) {
            const int fd = std::atoi(e->d_name);
            if (fd > 2) argv.push_back(e->d_name);
        }
        ::closedir(d);
    }
    ASSERT_GT(argv.size(), 6u);
    EXPECT_EQ(ringlet::ipc::check_output(argv), "");
    ::close(plain);
}

// --- plain threads ----------------------------------------------------------

namespace {

// The same calls a task makes, on a thread with no scheduler.
void exercise_without_a_scheduler() {
    EXPECT_EQ(ringlet::current_task(), 0u);
    EXPECT_EQ(ringlet::ipc::call({"true"}), 0);
    EXPECT_EQ(ringlet::ipc::call({"sh", "-c", "exit 7"}), 7);
    EXPECT_EQ(ringlet::ipc::check_output({"sh", "-c", "echo hi"}), "hi\n");
    EXPECT_THROW(ringlet::ipc::check_output({"false"}), ProcessError);

    Subprocess s({"sort"}, {.stdin_mode = Stdio::pipe, .stdout_mode = Stdio::pipe});
    EXPECT_EQ(s.communicate("b\na\n").out, "a\nb\n");

    TempDir dir;
    const std::string file = dir.file("data");
    const std::string to_stdout = pattern(four_mib, 8);
    write_text_file(file, to_stdout);
    const std::string input = pattern(four_mib, 9);
    Subprocess p(
        {"sh", "-c", "cat >&2; cat \"$1\"", "sh", file},
        {.stdin_mode = Stdio::pipe, .stdout_mode = Stdio::pipe, .stderr_mode = Stdio::pipe});
    auto r = p.communicate(input);
    EXPECT_EQ(r.returncode, 0);
    EXPECT_TRUE(r.err == input);
    EXPECT_TRUE(r.out == to_stdout);

    Subprocess t({"true"}, {.stdin_mode = Stdio::pipe});
    EXPECT_EQ(t.communicate(pattern(four_mib, 10)).returncode, 0);  // EPIPE is no error

    Subprocess q({"sleep", "100"});
    EXPECT_EQ(q.wait_for(50ms), std::nullopt);
    q.terminate();
    EXPECT_EQ(q.wait(), -SIGTERM);

    Subprocess c({"cat"}, {.stdin_mode = Stdio::pipe, .stdout_mode = Stdio::pipe});
    c.stdin_stream().write_all("incremental");
    c.close_stdin();
    EXPECT_EQ(read_to_eof(c.stdout_stream()), "incremental");
    EXPECT_EQ(c.wait(), 0);

    pid_t pid = -1;
    {
        Subprocess k({"sleep", "100"});
        pid = k.pid();
    }
    EXPECT_TRUE(is_reaped(pid));
}

}  // namespace

TEST(SubprocessPlainThreadTest, WorksFromAStdThread) {
    std::thread t(exercise_without_a_scheduler);
    t.join();
}

TEST(SubprocessPlainThreadTest, WorksOnTheMainThreadOutsideRun) { exercise_without_a_scheduler(); }

RINGLET_TEST(SubprocessPlainThreadTest, ThreadAndTasksRunChildrenTogether) {
    // A plain thread blocks in its own waits while tasks keep running here.
    std::thread t([] {
        EXPECT_EQ(Subprocess({"sleep", "0.2"}).wait(), 0);
        EXPECT_EQ(ringlet::ipc::check_output({"sh", "-c", "echo thread"}), "thread\n");
    });
    auto task = ringlet::spawn([] {
        return ringlet::ipc::check_output({"sh", "-c", "echo task"});
    });
    EXPECT_EQ(task.get(), "task\n");
    EXPECT_EQ(Subprocess({"sleep", "0.1"}).wait(), 0);
    ringlet::blocking([&] { t.join(); });
}
