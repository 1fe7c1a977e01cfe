// tests/faults/faults_futex_test.cpp — FUTEX_WAIT returning EINTR (a signal
// handler ran) under every blocking wait of a plain thread.
//
// Plain threads sleep in futex(2): on the process-shared words of the ipc
// primitives, and on the private wake word of the runtime's own primitives
// (detail/waiter.hpp). An EINTR is a spurious return: the waiter must go back
// to sleep, neither returning early (nothing changed yet) nor missing the
// change that comes afterwards. Each test lets 20 waits fail, commits the
// change only after the shim has seen all of them, and checks the waiter
// returned once, after the commit, with the value. (Tasks do not sleep in
// futex(2) themselves: on io_uring their waits are ring operations.)
#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include <ringlet/channel.hpp>
#include <ringlet/event.hpp>
#include <ringlet/ipc/event.hpp>
#include <ringlet/ipc/lock.hpp>
#include <ringlet/ipc/queue.hpp>
#include <ringlet/ipc/semaphore.hpp>
#include <ringlet/mutex.hpp>
#include <ringlet/ringlet.hpp>
#include <ringlet/semaphore.hpp>

#include "fault_control.hpp"
#include "ringlet_test.hpp"

namespace ipc = ringlet::ipc;
using faults::hang_bound;

namespace {

constexpr unsigned long interrupts = 20;
constexpr std::chrono::seconds wait_bound = 4 * hang_bound;

// Runs `wait` (true: it saw the change) on a plain thread while `spec` makes
// its futex waits fail with EINTR; once they all have, runs `commit`.
template <class Wait, class Commit>
void interrupted_wait(const char* spec, Wait wait, Commit commit) {
    std::atomic<bool> committed{false};
    std::atomic<int> result{-1};
    std::atomic<bool> early{false};
    faults::Armed armed(spec);
    std::thread waiter([&] {
        const bool saw = wait();
        if (!committed.load()) early = true;
        result = saw ? 1 : 0;
    });
    const auto end = std::chrono::steady_clock::now() + hang_bound;
    while (faults::hits("futex_wait") < interrupts && std::chrono::steady_clock::now() < end) {
        std::this_thread::yield();
    }
    EXPECT_EQ(faults::hits("futex_wait"), interrupts) << "the waiter stopped waiting";
    committed = true;
    commit();
    waiter.join();
    EXPECT_FALSE(early.load()) << "an EINTR made the wait return before the change";
    EXPECT_EQ(result.load(), 1);
}

const char* shared_eintr = "futex_wait=shared:EINTR@1..20";
const char* private_eintr = "futex_wait=private:EINTR@1..20";

}  // namespace

TEST(FaultFutexTest, IpcEventWaitSleepsAgainAfterEintr) {
    REQUIRE_FAULT_SHIM();
    ipc::Event ev;
    interrupted_wait(
        shared_eintr, [&] { return ev.wait(wait_bound); }, [&] { ev.set(); });
}

TEST(FaultFutexTest, IpcQueueGetSleepsAgainAfterEintr) {
    REQUIRE_FAULT_SHIM();
    ipc::Queue<std::string> q;
    interrupted_wait(
        shared_eintr, [&] { return q.get_for(wait_bound) == "late"; }, [&] { q.put("late"); });
}

TEST(FaultFutexTest, IpcQueuePutSleepsAgainAfterEintr) {
    REQUIRE_FAULT_SHIM();
    ipc::Queue<int> q(1);
    q.put(1);
    interrupted_wait(
        shared_eintr, [&] { return q.put_for(2, wait_bound); }, [&] { EXPECT_EQ(q.get(), 1); });
    EXPECT_EQ(q.get_for(hang_bound), 2);
}

TEST(FaultFutexTest, IpcLockAcquireSleepsAgainAfterEintr) {
    REQUIRE_FAULT_SHIM();
    ipc::Lock lock;
    lock.acquire();
    interrupted_wait(
        shared_eintr,
        [&] {
            if (!lock.acquire_for(wait_bound)) return false;
            lock.release();
            return true;
        },
        [&] { lock.release(); });
}

TEST(FaultFutexTest, IpcSemaphoreAcquireSleepsAgainAfterEintr) {
    REQUIRE_FAULT_SHIM();
    ipc::Semaphore sem(0);
    interrupted_wait(
        shared_eintr, [&] { return sem.acquire_for(wait_bound); }, [&] { sem.release(); });
    EXPECT_EQ(sem.value(), 0u);
}

TEST(FaultFutexTest, EventWaitOnAThreadSleepsAgainAfterEintr) {
    REQUIRE_FAULT_SHIM();
    ringlet::Event ev;
    interrupted_wait(
        private_eintr, [&] { return ev.wait(wait_bound); }, [&] { ev.set(); });
}

TEST(FaultFutexTest, ChannelRecvOnAThreadSleepsAgainAfterEintr) {
    REQUIRE_FAULT_SHIM();
    ringlet::Channel<std::string> ch(1);
    interrupted_wait(
        private_eintr,
        [&] {
            std::optional<std::string> v = ch.recv();
            return v == "value";
        },
        [&] { ch.send("value"); });
}

TEST(FaultFutexTest, SemaphoreAcquireOnAThreadSleepsAgainAfterEintr) {
    REQUIRE_FAULT_SHIM();
    ringlet::Semaphore sem(0);
    interrupted_wait(
        private_eintr, [&] { return sem.acquire_for(wait_bound); }, [&] { sem.release(); });
}

TEST(FaultFutexTest, TaskWakingAThreadAfterEintrStillWakesIt) {
    REQUIRE_FAULT_SHIM();
    // The committer is a task on another scheduler: its wake of the sleeping
    // thread crosses schedulers.
    ringlet::Event ev;
    interrupted_wait(
        private_eintr, [&] { return ev.wait(wait_bound); },
        [&] { ringlet::run([&] { ev.set(); }); });
}
