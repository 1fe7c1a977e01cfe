// tests/hooks/hooks_preload_test.cpp — LD_PRELOAD=libringlet_preload.so.
//
// hooks_preload_probe links ringlet (statically) and not the hooks. Run as
// it is, its blocking read stalls its thread; run with the preload library,
// the same binary's read suspends only its task.
#include <cstdlib>
#include <gtest/gtest.h>
#include <string>
#include <unistd.h>

#include <sys/wait.h>

namespace {

struct Outcome {
    int exit_code = -1;
    std::string out;
};

Outcome run_probe(const char* preload) {
    int p[2];
    EXPECT_EQ(::pipe(p), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(p[1], STDOUT_FILENO);
        ::close(p[0]);
        if (preload != nullptr) {
            ::setenv("LD_PRELOAD", preload, 1);
            // Sanitizer builds: the preloaded library comes before libasan.
            ::setenv("ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=0", 1);
        }
        const char* probe = std::getenv("HOOKS_PRELOAD_PROBE");
        ::execl(probe, probe, static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(p[1]);
    Outcome o;
    char buf[128];
    ssize_t n;
    while ((n = ::read(p[0], buf, sizeof buf)) > 0) o.out.append(buf, static_cast<std::size_t>(n));
    ::close(p[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return o;
}

}  // namespace

TEST(HooksPreloadTest, WithoutThePreloadTheProbesReadBlocksItsThread) {
    ASSERT_NE(std::getenv("HOOKS_PRELOAD_PROBE"), nullptr);
    const Outcome o = run_probe(nullptr);
    EXPECT_EQ(o.out, "blocking\n");
    EXPECT_EQ(o.exit_code, 1);
}

TEST(HooksPreloadTest, WithThePreloadTheSameBinaryIsCooperative) {
    const char* preload = std::getenv("HOOKS_PRELOAD");
    ASSERT_NE(preload, nullptr);
    const Outcome o = run_probe(preload);
    EXPECT_EQ(o.out, "cooperative\n");
    EXPECT_EQ(o.exit_code, 0);
}
