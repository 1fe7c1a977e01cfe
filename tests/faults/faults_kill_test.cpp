// tests/faults/faults_kill_test.cpp — a process killed at the worst instant
// of every ipc primitive never leaves the others blocked.
//
// DESIGN: "A process that dies at any instant (SIGKILL) never corrupts a
// shared queue and never leaves other processes blocked forever." The two
// instants a random SIGKILL only rarely hits, made certain by the shim armed
// in the child only:
//   - futex_wake=shared:kill@1: the committer's shared state has changed
//     (message published, flag set, count raised, lock freed) but it dies
//     inside the FUTEX_WAKE system call, before the kernel wakes anyone;
//   - robust_unlock:kill@1: it dies at the entry of pthread_mutex_unlock of
//     the robust mutex it holds, after its change and before the unlock.
// In each case a survivor that was already asleep — on a plain thread, and
// in a task (both backends: meson test --setup=epoll) — must return with the
// committed value. It waits for up to 20 s, but must return within
// faults::hang_bound (5 s) of the commit: only a hang detector (a timed wait
// looks once more at its deadline, so a lost wake-up shows only as a wait that
// runs to its end).
#include <atomic>
#include <chrono>
#include <optional>
#include <signal.h>
#include <thread>

#include <ringlet/ipc/event.hpp>
#include <ringlet/ipc/lock.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/ipc/queue.hpp>
#include <ringlet/ipc/semaphore.hpp>
#include <ringlet/ipc/shared.hpp>
#include <ringlet/ringlet.hpp>

#include "fault_control.hpp"
#include "ringlet_test.hpp"

namespace ipc = ringlet::ipc;
using faults::hang_bound;

namespace {

enum class Kind { thread, task };

// How long a survivor waits: longer than the hang detector, so that a lost
// wake-up shows as a hang, not as a late success.
constexpr std::chrono::seconds wait_bound = 4 * hang_bound;

constexpr const char* at_wake = "futex_wake=shared:kill@1";
constexpr const char* at_unlock = "robust_unlock:kill@1";

// One round: a child runs `prologue`, says so, waits for the survivor to be
// asleep in `wait`, arms `spec` and runs `commit`. Returns true if the child
// died at the kill point (false: the waiter had not been counted yet, so the
// committer skipped the wake and exited normally; the round still checked the
// survivor). `wait` returns true when it saw the committed change.
template <class Prologue, class Wait, class Commit>
bool kill_round(Kind kind, const char* spec, Prologue prologue, Wait wait, Commit commit) {
    ipc::Event ready;
    ipc::Event go;
    ipc::Process child([&] {
        prologue();
        ready.set();
        if (!go.wait(hang_bound)) std::_Exit(3);
        faults::arm(spec);
        commit();
    });
    child.start();
    EXPECT_TRUE(ready.wait(hang_bound)) << "the child never got ready";

    std::atomic<int> result{-1};
    ringlet::Event done;  // set by the survivor once its wait returned
    auto survivor = [&] {
        result = wait() ? 1 : 0;
        done.set();
    };
    std::thread thread;
    std::optional<ringlet::Task<void>> task;
    if (kind == Kind::thread) {
        const unsigned long before = faults::seen("futex_wait");
        thread = std::thread(survivor);
        // Until the survivor sleeps in FUTEX_WAIT (the shim sees it go by).
        const auto end = std::chrono::steady_clock::now() + hang_bound;
        while (faults::seen("futex_wait") == before && std::chrono::steady_clock::now() < end) {
            std::this_thread::yield();
        }
    } else {
        task.emplace(ringlet::spawn(survivor));
        ringlet::yield();  // it runs until it suspends in its wait
    }
    go.set();
    EXPECT_TRUE(child.join(hang_bound)) << "the child hung";
    const std::optional<int> code = child.exitcode();
    // The hang detector: the survivor's own wait is far longer (wait_bound),
    // and a timed wait looks once more at its deadline, so only a survivor
    // that really saw the change returns within hang_bound.
    EXPECT_TRUE(done.wait(hang_bound)) << "the survivor did not return within "
                                       << hang_bound.count() << " s of the commit: it hung";
    if (kind == Kind::thread) {
        thread.join();
    } else {
        task->join();
    }
    EXPECT_EQ(result.load(), 1) << "the survivor's wait ended without the committed change";
    EXPECT_TRUE(code == -SIGKILL || code == 0) << "child exit code " << code.value_or(999);
    return code == -SIGKILL;
}

// Rounds until the kill point was hit once (almost always the first).
template <class Round>
void until_killed(Round round) {
    int killed = 0;
    for (int i = 0; i < 5 && killed == 0 && !::testing::Test::HasFailure(); ++i) {
        killed += round() ? 1 : 0;
    }
    EXPECT_EQ(killed, 1) << "the child never died at the kill point";
}

void none() {}

void event_set(Kind kind) {
    until_killed([&] {
        ipc::Event ev;
        return kill_round(
            kind, at_wake, none, [&] { return ev.wait(wait_bound); }, [&] { ev.set(); });
    });
}

void semaphore_release(Kind kind, const char* spec) {
    until_killed([&] {
        ipc::Semaphore sem(0);
        const bool killed = kill_round(
            kind, spec, none, [&] { return sem.acquire_for(wait_bound); }, [&] { sem.release(); });
        EXPECT_EQ(sem.value(), 0u);  // the one permit went to the survivor
        sem.release();
        EXPECT_TRUE(sem.try_acquire());  // the guard the child held still works
        return killed;
    });
}

void lock_release(Kind kind, const char* spec) {
    until_killed([&] {
        ipc::Lock lock;
        const bool killed = kill_round(
            kind, spec, [&] { lock.acquire(); },
            [&] {
                if (!lock.acquire_for(wait_bound)) return false;
                lock.release();
                return true;
            },
            [&] { lock.release(); });
        EXPECT_TRUE(lock.try_acquire());
        lock.release();
        return killed;
    });
}

void shared_store(Kind kind, const char* spec) {
    until_killed([&] {
        ipc::Shared<int> value(1);
        std::optional<ipc::Shared<int>::Guard> held;  // the child's
        const bool killed = kill_round(
            kind, spec, [&] { held.emplace(value.locked()); },
            [&] {
                if (!value.lock().acquire_for(wait_bound)) return false;
                value.lock().release();
                return value.load() == 7;
            },
            [&] {
                **held = 7;
                held.reset();
            });
        EXPECT_EQ(value.load(), 7);
        return killed;
    });
}

void queue_put(Kind kind, const char* spec) {
    until_killed([&] {
        ipc::Queue<int> q;
        const bool killed = kill_round(
            kind, spec, none, [&] { return q.get_for(wait_bound) == 42; }, [&] { q.put(42); });
        EXPECT_EQ(q.size(), 0u);
        q.put(43);  // the put side's lock, if the child died holding it, recovers
        EXPECT_EQ(q.get_for(hang_bound), 43);
        return killed;
    });
}

void queue_get(Kind kind, const char* spec) {
    until_killed([&] {
        ipc::Queue<int> q(1);
        q.put(1);  // full: the survivor's put waits for the child's get
        const bool killed = kill_round(
            kind, spec, none, [&] { return q.put_for(2, wait_bound); },
            [&] {
                if (q.get() != 1) std::_Exit(4);
            });
        EXPECT_EQ(q.get_for(hang_bound), 2);
        EXPECT_TRUE(q.put_for(3, hang_bound));  // the get side's lock recovers
        EXPECT_EQ(q.get_for(hang_bound), 3);
        return killed;
    });
}

}  // namespace

#define KILL_POINT_TESTS(Name, ...)                   \
    RINGLET_TEST(FaultKillTest, Name##ThreadWaiter) { \
        REQUIRE_FAULT_SHIM();                         \
        __VA_ARGS__(Kind::thread);                    \
    }                                                 \
    RINGLET_TEST(FaultKillTest, Name##TaskWaiter) {   \
        REQUIRE_FAULT_SHIM();                         \
        __VA_ARGS__(Kind::task);                      \
    }

KILL_POINT_TESTS(EventSetterKilledBeforeWake, event_set)
KILL_POINT_TESTS(SemaphoreReleaserKilledBeforeWake, [](Kind k) { semaphore_release(k, at_wake); })
KILL_POINT_TESTS(SemaphoreReleaserKilledBeforeGuardUnlock,
                 [](Kind k) { semaphore_release(k, at_unlock); })
KILL_POINT_TESTS(LockReleaserKilledBeforeWake, [](Kind k) { lock_release(k, at_wake); })
KILL_POINT_TESTS(LockHolderKilledBeforeMutexUnlock, [](Kind k) { lock_release(k, at_unlock); })
KILL_POINT_TESTS(SharedStorerKilledBeforeWake, [](Kind k) { shared_store(k, at_wake); })
KILL_POINT_TESTS(SharedHolderKilledBeforeMutexUnlock, [](Kind k) { shared_store(k, at_unlock); })
KILL_POINT_TESTS(QueueProducerKilledBeforeWake, [](Kind k) { queue_put(k, at_wake); })
KILL_POINT_TESTS(QueueProducerKilledBeforeMutexUnlock, [](Kind k) { queue_put(k, at_unlock); })
KILL_POINT_TESTS(QueueConsumerKilledBeforeWake, [](Kind k) { queue_get(k, at_wake); })
KILL_POINT_TESTS(QueueConsumerKilledBeforeMutexUnlock, [](Kind k) { queue_get(k, at_unlock); })
