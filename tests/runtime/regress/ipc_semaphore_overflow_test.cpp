// Regression: ipc::Semaphore::release past 2^64 - 1 silently wrapped the shared count to 0.
//
// tests/runtime/regress/ipc_semaphore_overflow_test.cpp — ipc::Semaphore
// refuses a release that would pass the largest count (UsageError, nothing
// changed, the guard free for every process), and a dead holder's permits
// returned on top of a full count saturate instead of wrapping.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <ringlet/ipc.hpp>
#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

namespace ipc = ringlet::ipc;

namespace {

bool exited_zero(ipc::Process& p) { return p.join(std::chrono::seconds(60)) && p.exitcode() == 0; }

}  // namespace

RINGLET_TEST(IpcSemaphoreOverflowTest, ReleaseThatWouldWrapThrowsAndChangesNothing) {
    ipc::Semaphore sem(1);
    try {
        sem.release(SIZE_MAX);  // 1 + (2^64 - 1) used to wrap to 0
        FAIL() << "release(SIZE_MAX) on a count of 1 did not throw";
    } catch (const ringlet::UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("largest count"), std::string::npos) << e.what();
    }
    EXPECT_EQ(sem.value(), 1u);
    // The guard was released on the way out: this process and another use it.
    EXPECT_TRUE(sem.try_acquire());
    EXPECT_FALSE(sem.try_acquire());
    sem.release();
    ipc::Process child([&] {
        bool refused = false;
        try {
            sem.release(SIZE_MAX);
        } catch (const ringlet::UsageError&) {
            refused = true;
        }
        if (!refused || sem.value() != 1 || !sem.try_acquire()) std::_Exit(2);
        sem.release();
    });
    child.start();
    ASSERT_TRUE(exited_zero(child));
    EXPECT_EQ(sem.value(), 1u);
}

RINGLET_TEST(IpcSemaphoreOverflowTest, ConstructedAtTheMaximumRefusesOneMore) {
    ipc::Semaphore sem(SIZE_MAX);  // representable: the shared count is 64-bit
    EXPECT_EQ(sem.value(), SIZE_MAX);
    EXPECT_THROW(sem.release(), ringlet::UsageError);
    EXPECT_EQ(sem.value(), SIZE_MAX);
    EXPECT_TRUE(sem.try_acquire());
    EXPECT_EQ(sem.value(), SIZE_MAX - 1);
    sem.release();
    EXPECT_EQ(sem.value(), SIZE_MAX);
}

RINGLET_TEST(IpcSemaphoreOverflowTest, ReleaseFromZeroMayReachTheMaximum) {
    ipc::Semaphore sem(0);
    sem.release(SIZE_MAX);
    EXPECT_EQ(sem.value(), SIZE_MAX);
    EXPECT_THROW(sem.release(1), ringlet::UsageError);
    EXPECT_EQ(sem.value(), SIZE_MAX);
}

RINGLET_TEST(IpcSemaphoreOverflowTest, DeadHoldersPermitsOnAFullCountSaturate) {
    ipc::Semaphore sem(SIZE_MAX);
    ipc::Process holder([&] { sem.acquire(); });  // exits holding one permit
    holder.start();
    ASSERT_TRUE(exited_zero(holder));
    // Another process's release refills the count to the maximum (any process
    // may release); reclaiming the dead holder's permit must not wrap it.
    ipc::Process releaser([&] { sem.release(); });
    releaser.start();
    ASSERT_TRUE(exited_zero(releaser));
    EXPECT_EQ(sem.value(), SIZE_MAX);
}
