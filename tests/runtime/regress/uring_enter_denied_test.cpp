// Regression: with only io_uring_enter denied (seccomp), the first IO threw IoError instead of
// using epoll.
//
// tests/runtime/regress/uring_enter_denied_test.cpp — a seccomp profile that
// allows io_uring_setup but denies io_uring_enter: the scheduler finds out at
// start-up (it submits and reaps a NOP) and falls back to epoll, recorded in
// stats(); asking for io_uring explicitly then fails at once, naming the call.
// Each case runs in a forked child: a seccomp filter cannot be removed.
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <gtest/gtest.h>
#include <string>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <ringlet/net.hpp>
#include <ringlet/ringlet.hpp>

namespace {

#if defined(__x86_64__)
constexpr unsigned this_arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr unsigned this_arch = AUDIT_ARCH_AARCH64;
#else
constexpr unsigned this_arch = 0;
#endif

// Makes io_uring_enter fail with EPERM for this process from now on; every
// other system call (io_uring_setup and io_uring_register included) is let
// through. False if the kernel refused the filter.
bool deny_io_uring_enter() {
    sock_filter program[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, this_arch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog fprog{};
    fprog.len = static_cast<unsigned short>(sizeof program / sizeof program[0]);
    fprog.filter = program;
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
    return ::syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) == 0;
}

// Runs `body` in a forked child; its result travels back as a line of text
// through a pipe (the child exits with _exit, so no gtest state is shared).
template <class F>
std::string in_child(F body) {
    int fds[2];
    if (::pipe(fds) != 0) return "pipe failed";
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        const std::string result = body();
        [[maybe_unused]] ssize_t n = ::write(fds[1], result.data(), result.size());
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string out;
    char buf[512];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, n);
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        out += " (child died, status " + std::to_string(status) + ")";
    return out;
}

// Real IO on the scheduler: a socketpair round trip and a timer.
std::string do_io_and_report_backend() {
    std::string backend;
    ringlet::run([&] {
        auto [a, b] = ringlet::net::UnixStream::pair();
        auto reader = ringlet::spawn([&b] {
            char got[5] = {};
            b.read_exact(std::as_writable_bytes(std::span(got, 5)));
            return std::string(got, 5);
        });
        a.write_all("hello");
        ringlet::sleep(std::chrono::milliseconds(1));
        if (reader.get() != "hello") throw std::runtime_error("socketpair read the wrong bytes");
        backend = ringlet::stats().backend;
    });
    return backend;
}

// The backend a scheduler picks here without any filter.
std::string default_backend() {
    return in_child([] {
        ::unsetenv("RINGLET_BACKEND");
        std::string name;
        ringlet::run([&] { name = ringlet::stats().backend; });
        return name;
    });
}

}  // namespace

TEST(UringEnterDeniedTest, FallsBackToEpollAtStartUp) {
    if (this_arch == 0) GTEST_SKIP() << "no seccomp arch constant for this CPU in the test";
    if (default_backend() != "io_uring") {
        GTEST_SKIP() << "io_uring is unavailable here, so there is no probe to exercise";
    }
    const std::string result = in_child([] {
        ::unsetenv("RINGLET_BACKEND");  // the choice under test is the automatic one
        if (!deny_io_uring_enter()) return std::string("seccomp refused");
        try {
            return do_io_and_report_backend();
        } catch (const std::exception& e) {
            return std::string("threw: ") + e.what();
        }
    });
    if (result == "seccomp refused") GTEST_SKIP() << "the kernel refused the seccomp filter";
    EXPECT_EQ(result, "epoll");
}

TEST(UringEnterDeniedTest, ExplicitIoUringFailsAtStartNamingTheCall) {
    if (this_arch == 0) GTEST_SKIP() << "no seccomp arch constant for this CPU in the test";
    if (default_backend() != "io_uring") {
        GTEST_SKIP() << "io_uring is unavailable here, so there is no probe to exercise";
    }
    const std::string result = in_child([] {
        if (!deny_io_uring_enter()) return std::string("seccomp refused");
        try {
            ringlet::run([] {}, ringlet::Options{.backend = "io_uring"});
            return std::string("ran on io_uring with io_uring_enter denied");
        } catch (const ringlet::IoError& e) {
            return std::string(e.what());
        } catch (const std::exception& e) {
            return std::string("threw another error: ") + e.what();
        }
    });
    if (result == "seccomp refused") GTEST_SKIP() << "the kernel refused the seccomp filter";
    EXPECT_NE(result.find("io_uring_enter"), std::string::npos) << result;
}

TEST(UringEnterDeniedTest, UnfilteredSchedulerStillUsesTheRing) {
    // The NOP probe itself must pass wherever io_uring works.
    const std::string result = in_child([] {
        ::unsetenv("RINGLET_BACKEND");
        try {
            return do_io_and_report_backend();
        } catch (const std::exception& e) {
            return std::string("threw: ") + e.what();
        }
    });
    EXPECT_TRUE(result == "io_uring" || result == "epoll") << result;
    if (result == "epoll") GTEST_SKIP() << "io_uring is unavailable here";
}
