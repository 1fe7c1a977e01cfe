// Regression: spawn with SpawnOptions{.stack_size = 0} silently gave a 16 KiB stack.
//
// tests/runtime/regress/spawn_stack_size_minimum_test.cpp — a stack_size
// below ringlet::min_stack_size is refused with a UsageError that names the
// minimum; nothing is spawned and the scheduler carries on; the minimum
// itself is accepted and runs.
#include <chrono>
#include <cstddef>
#include <string>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

namespace {

// The message spawn() gives for `stack_size`, or "" if it did not throw.
std::string refusal_for(std::size_t stack_size) {
    try {
        auto t = ringlet::spawn(ringlet::SpawnOptions{.stack_size = stack_size}, [] { return 1; });
        t.join();
        return "";
    } catch (const ringlet::UsageError& e) {
        return e.what();
    }
}

}  // namespace

RINGLET_TEST(SpawnStackSizeMinimumTest, ZeroIsRefusedNamingTheMinimum) {
    const std::size_t before = ringlet::stats().tasks_spawned;
    const std::string what = refusal_for(0);
    ASSERT_FALSE(what.empty()) << "spawn with stack_size 0 did not throw UsageError";
    EXPECT_NE(what.find(std::to_string(ringlet::min_stack_size)), std::string::npos) << what;
    EXPECT_NE(what.find("min_stack_size"), std::string::npos) << what;
    EXPECT_EQ(ringlet::stats().tasks_spawned, before);  // nothing was spawned
    EXPECT_EQ(ringlet::stats().tasks_live, 1u);         // only this test's task
}

RINGLET_TEST(SpawnStackSizeMinimumTest, JustBelowTheMinimumIsRefused) {
    EXPECT_FALSE(refusal_for(ringlet::min_stack_size - 1).empty());
    EXPECT_FALSE(refusal_for(4096).empty());
}

RINGLET_TEST(SpawnStackSizeMinimumTest, TheMinimumIsAcceptedAndRuns) {
    EXPECT_EQ(refusal_for(ringlet::min_stack_size), "");
    auto t = ringlet::spawn(ringlet::SpawnOptions{.stack_size = ringlet::min_stack_size}, [] {
        ringlet::sleep(std::chrono::milliseconds(1));  // a suspension on the small stack
        return 42;
    });
    EXPECT_EQ(t.get(), 42);
}

RINGLET_TEST(SpawnStackSizeMinimumTest, SchedulerKeepsWorkingAfterARefusal) {
    EXPECT_FALSE(refusal_for(0).empty());
    EXPECT_EQ(ringlet::spawn([] { return 5; }).get(), 5);
    ringlet::Group group;
    EXPECT_THROW(group.spawn(ringlet::SpawnOptions{.stack_size = 1}, [] {}), ringlet::UsageError);
    group.join();
}
