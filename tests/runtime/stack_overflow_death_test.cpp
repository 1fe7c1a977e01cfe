// tests/runtime/stack_overflow_death_test.cpp — a task that overflows its stack hits the
// guard page: the process prints which task overflowed and aborts (never silent corruption).
#include <alloca.h>

#include <csignal>
#include <cstddef>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define RINGLET_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RINGLET_TEST_ASAN 1
#endif
#endif

#define SKIP_UNDER_ASAN()                                                                  \
    do {                                                                                   \
        if (kAsan) GTEST_SKIP() << "AddressSanitizer intercepts SIGSEGV on the guard page"; \
    } while (0)

namespace {

#ifdef RINGLET_TEST_ASAN
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif

// Never equal to a real depth: keeps the compiler from proving the recursion
// infinite (and from turning it into a loop).
volatile long depth_limit = -1;

[[gnu::noinline]] long recurse(long depth) {
    volatile char frame[1024];
    frame[0] = static_cast<char>(depth);
    frame[sizeof frame - 1] = static_cast<char>(depth);
    if (depth == depth_limit) return frame[0];
    return recurse(depth + 1) + frame[0] + frame[sizeof frame - 1];  // not a tail call
}

// One frame bigger than the whole default stack (256 KiB): without stack
// clash protection it steps over the guard page into the memory below.
[[gnu::noinline]] int huge_alloca(std::size_t bytes) {
    volatile char* p = static_cast<volatile char*>(alloca(bytes));
    p[0] = 1;
    p[bytes - 1] = 2;
    return p[0] + p[bytes - 1];
}

[[gnu::noinline]] int huge_array() {
    volatile char frame[290 * 1024];
    frame[0] = 1;
    frame[sizeof frame - 1] = 2;
    return frame[0] + frame[sizeof frame - 1];
}

volatile std::size_t huge_bytes = 290 * 1024;  // volatile: a real alloca, not a constant

void overflow_in_named_task() {
    ringlet::run([] {
        auto t = ringlet::spawn(ringlet::SpawnOptions{.name = "deep"}, [] { return recurse(0); });
        t.join();
    });
}

}  // namespace

TEST(StackOverflowDeathTest, NamedTaskOverflowIsReportedAndAborts) {
    SKIP_UNDER_ASAN();
    EXPECT_DEATH(overflow_in_named_task(), "stack overflow in task [0-9]+ \\(deep\\)");
}

// Regression: a task whose frame was larger than the guard (a 290 KiB alloca
// on a 256 KiB stack) stepped over the guard without a fault.
TEST(StackOverflowDeathTest, AllocaLargerThanTheStackAbortsNamingTheTask) {
    SKIP_UNDER_ASAN();
    EXPECT_DEATH(ringlet::run([] {
                     auto t = ringlet::spawn(ringlet::SpawnOptions{.name = "alloca"},
                                             [] { return huge_alloca(huge_bytes); });
                     t.join();
                 }),
                 "stack overflow in task [0-9]+ \\(alloca\\)");
}

TEST(StackOverflowDeathTest, ArrayFrameLargerThanTheStackAbortsNamingTheTask) {
    SKIP_UNDER_ASAN();
    EXPECT_DEATH(ringlet::run([] {
                     auto t = ringlet::spawn(ringlet::SpawnOptions{.name = "array"},
                                             [] { return huge_array(); });
                     t.join();
                 }),
                 "stack overflow in task [0-9]+ \\(array\\)");
}

TEST(StackOverflowDeathTest, OverflowKillsWithSigabrt) {
    SKIP_UNDER_ASAN();
    EXPECT_EXIT(overflow_in_named_task(), testing::KilledBySignal(SIGABRT),
                "stack overflow in task [0-9]+ \\(deep\\)");
}

TEST(StackOverflowDeathTest, OverflowInMainTaskNamesMain) {
    SKIP_UNDER_ASAN();
    EXPECT_DEATH(ringlet::run([] { return recurse(0); }), "stack overflow in task [0-9]+ \\(main\\)");
}

TEST(StackOverflowDeathTest, OverflowOfALargeCustomStackIsCaught) {
    SKIP_UNDER_ASAN();
    EXPECT_DEATH(ringlet::run([] {
                     auto t = ringlet::spawn(
                         ringlet::SpawnOptions{.name = "big", .stack_size = 2 * 1024 * 1024},
                         [] { return recurse(0); });
                     t.join();
                 }),
                 "stack overflow in task [0-9]+ \\(big\\)");
}

TEST(StackOverflowDeathTest, OverflowOnTheEpollBackendIsCaught) {
    SKIP_UNDER_ASAN();
    EXPECT_DEATH(ringlet::run(
                     [] {
                         auto t = ringlet::spawn(ringlet::SpawnOptions{.name = "deep"},
                                                 [] { return recurse(0); });
                         t.join();
                     },
                     ringlet::Options{.backend = "epoll"}),
                 "stack overflow in task [0-9]+ \\(deep\\)");
}

TEST(StackOverflowDeathTest, OverflowAfterOtherTasksRanIsCaught) {
    SKIP_UNDER_ASAN();
    // Stacks come from a pool: a reused stack must still have its guard.
    EXPECT_DEATH(ringlet::run([] {
                     // recurse(-100) stops at depth_limit (-1): 100 frames, fine.
                     for (int i = 0; i < 50; ++i) ringlet::spawn([] { return recurse(-100); }).join();
                     auto t = ringlet::spawn(ringlet::SpawnOptions{.name = "deep"},
                                             [] { return recurse(0); });
                     t.join();
                 }),
                 "stack overflow in task [0-9]+ \\(deep\\)");
}

TEST(StackOverflowDeathTest, OtherSegfaultsAreNotReportedAsOverflow) {
    SKIP_UNDER_ASAN();
#if defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "ThreadSanitizer reports the SIGSEGV itself and exits with its own code";
#endif
    // A wild write in a task is not a stack overflow: the process dies of the
    // original SIGSEGV, not of the overflow report's abort().
    EXPECT_EXIT(ringlet::run([] {
                    auto t = ringlet::spawn(ringlet::SpawnOptions{.name = "wild"}, [] {
                        volatile int* volatile p = nullptr;  // volatile: the store stays
                        *p = 1;
                    });
                    t.join();
                }),
                testing::KilledBySignal(SIGSEGV), "");
}

TEST(StackOverflowDeathTest, DeepButBoundedRecursionFitsADefaultStack) {
    // Not a death test: 100 KiB of frames fit the default 256 KiB stack.
    const long r = ringlet::run([] {
        depth_limit = 100;
        auto t = ringlet::spawn([] { return recurse(0); });
        long v = t.get();
        depth_limit = -1;
        return v;
    });
    EXPECT_EQ(r, 100 + 99 * 100);  // 100 at the bottom, plus 2 * depth per frame
}
