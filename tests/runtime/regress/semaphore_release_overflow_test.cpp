// Regression: Semaphore::release(SIZE_MAX) wrapped the free count silently to a small number.
//
// tests/runtime/regress/semaphore_release_overflow_test.cpp — a release that
// would take ringlet::Semaphore's count past SIZE_MAX is a UsageError and
// changes nothing; up to SIZE_MAX is fine.
#include <cstdint>
#include <string>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

RINGLET_TEST(SemaphoreReleaseOverflowTest, ReleaseThatWouldWrapThrowsAndChangesNothing) {
    ringlet::Semaphore sem(1);
    try {
        sem.release(SIZE_MAX);  // 1 + SIZE_MAX used to wrap to 0
        FAIL() << "release(SIZE_MAX) on a count of 1 did not throw";
    } catch (const ringlet::UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("SIZE_MAX"), std::string::npos) << e.what();
    }
    EXPECT_EQ(sem.available(), 1u);
    EXPECT_TRUE(sem.try_acquire());
    EXPECT_FALSE(sem.try_acquire());
    sem.release();
    EXPECT_EQ(sem.available(), 1u);
}

RINGLET_TEST(SemaphoreReleaseOverflowTest, CountMayReachSizeMaxButNotPassIt) {
    ringlet::Semaphore sem(0);
    sem.release(SIZE_MAX);
    EXPECT_EQ(sem.available(), SIZE_MAX);
    EXPECT_THROW(sem.release(1), ringlet::UsageError);
    EXPECT_EQ(sem.available(), SIZE_MAX);
    EXPECT_TRUE(sem.try_acquire());
    EXPECT_EQ(sem.available(), SIZE_MAX - 1);
    sem.release(1);  // back to the maximum exactly
    EXPECT_EQ(sem.available(), SIZE_MAX);
}

RINGLET_TEST(SemaphoreReleaseOverflowTest, ConstructedAtSizeMaxRefusesOneMore) {
    ringlet::Semaphore sem(SIZE_MAX);
    EXPECT_EQ(sem.available(), SIZE_MAX);
    EXPECT_THROW(sem.release(), ringlet::UsageError);
    EXPECT_EQ(sem.available(), SIZE_MAX);
}

RINGLET_TEST(SemaphoreReleaseOverflowTest, PermitsGoToWaitersFirstThenTheCount) {
    ringlet::Semaphore sem(0);
    bool got = false;
    auto waiter = ringlet::spawn([&] {
        sem.acquire();
        got = true;
    });
    ringlet::yield();       // the waiter runs up to acquire() and queues
    sem.release(SIZE_MAX);  // one permit to the waiter, SIZE_MAX - 1 to the count
    waiter.join();
    EXPECT_TRUE(got);
    EXPECT_EQ(sem.available(), SIZE_MAX - 1);
}
