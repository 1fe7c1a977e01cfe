// Regression: when its owner was SIGKILLed, a local Manager server and the
// owner's daemon ipc::Process children kept running.
//
// An "owner" process starts a daemon child, a Manager and a non-daemon child,
// reports their pids and waits; the test SIGKILLs it. The daemon child and
// the Manager server must die with it; the non-daemon child keeps running,
// as in Python, until the test lets it finish. The test process is a child
// subreaper, so the orphans are re-parented to it and reaped here.
#include <array>
#include <cstdio>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <ringlet/ipc.hpp>
#include <ringlet/ringlet.hpp>

namespace ipc = ringlet::ipc;

namespace {

int open_pidfd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// True once the process behind `pidfd` has exited (false after 10 s: a hang).
bool exits_within_10s(int pidfd) {
    pollfd p{pidfd, POLLIN, 0};
    return ::poll(&p, 1, 10'000) == 1;
}

bool has_exited(int pidfd) {
    pollfd p{pidfd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
}

// Reaps `pid` (a re-parented orphan or our own child); its wait status.
int reap(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

}  // namespace

TEST(OwnerDeathTest, DaemonChildrenAndTheManagerDieWithTheirOwnerOthersLive) {
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int report[2];
    int hold[2];  // the non-daemon child reads its end until the test closes the other
    ASSERT_EQ(::pipe(report), 0);
    ASSERT_EQ(::pipe(hold), 0);

    const pid_t owner = ::fork();
    ASSERT_GE(owner, 0);
    if (owner == 0) {
        ::close(report[0]);
        ::close(hold[1]);
        ringlet::run([&] {
            ipc::Process daemon_child(ipc::ProcessOptions{.daemon = true}, [] {
                for (;;) ::pause();
            });
            ipc::Process plain_child([&] {
                char c;
                while (::read(hold[0], &c, 1) > 0) {
                }
            });
            daemon_child.start();
            plain_child.start();
            ipc::Manager manager;
            const std::array<pid_t, 3> pids{daemon_child.pid(), manager.server_pid(),
                                            plain_child.pid()};
            if (::write(report[1], pids.data(), sizeof pids) != sizeof pids) ::_exit(3);
            for (;;) ::pause();  // until the test kills us
        });
        ::_exit(2);
    }
    ::close(report[1]);
    ::close(hold[0]);

    std::array<pid_t, 3> pids{};
    ASSERT_EQ(::read(report[0], pids.data(), sizeof pids), static_cast<ssize_t>(sizeof pids));
    const auto [daemon_pid, server_pid, plain_pid] = pids;
    ASSERT_GT(daemon_pid, 0);
    ASSERT_GT(server_pid, 0);
    ASSERT_GT(plain_pid, 0);
    const int daemon_fd = open_pidfd(daemon_pid);
    const int server_fd = open_pidfd(server_pid);
    const int plain_fd = open_pidfd(plain_pid);
    ASSERT_GE(daemon_fd, 0);
    ASSERT_GE(server_fd, 0);
    ASSERT_GE(plain_fd, 0);

    ASSERT_EQ(::kill(owner, SIGKILL), 0);
    const int owner_status = reap(owner);
    EXPECT_TRUE(WIFSIGNALED(owner_status) && WTERMSIG(owner_status) == SIGKILL);

    const bool daemon_died = exits_within_10s(daemon_fd);
    const bool server_died = exits_within_10s(server_fd);
    EXPECT_TRUE(daemon_died) << "the daemon child outlived its owner";
    EXPECT_TRUE(server_died) << "the Manager server outlived its owner";
    if (!daemon_died) ::kill(daemon_pid, SIGKILL);  // leave nothing behind
    if (!server_died) ::kill(server_pid, SIGKILL);
    const int daemon_status = reap(daemon_pid);
    const int server_status = reap(server_pid);
    EXPECT_TRUE(WIFSIGNALED(daemon_status) && WTERMSIG(daemon_status) == SIGKILL);
    EXPECT_TRUE(WIFSIGNALED(server_status) && WTERMSIG(server_status) == SIGKILL);

    // Both daemons are gone; the non-daemon child is still waiting on its
    // pipe, and ends normally once we close our end.
    EXPECT_FALSE(has_exited(plain_fd)) << "a non-daemon child must outlive its owner";
    ::close(hold[1]);
    EXPECT_TRUE(exits_within_10s(plain_fd));
    const int plain_status = reap(plain_pid);
    EXPECT_TRUE(WIFEXITED(plain_status) && WEXITSTATUS(plain_status) == 0) << plain_status;

    ::close(daemon_fd);
    ::close(server_fd);
    ::close(plain_fd);
    ::close(report[0]);
}
