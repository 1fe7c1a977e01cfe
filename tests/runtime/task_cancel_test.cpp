// tests/runtime/task_cancel_test.cpp — Task::cancel while blocked in sleep, join, Event,
// Semaphore, Mutex, Channel send/recv: destructors run, no permit or message lost or duplicated.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;

namespace {

struct SetOnDestroy {
    bool* flag;
    ~SetOnDestroy() { *flag = true; }
};

// What a blocked-then-cancelled task records. The task body sets `blocked`
// right before its blocking call, so once the spawner sees it the task is
// suspended in that call (single thread: the spawner only runs again when the
// task suspends).
struct Probe {
    bool blocked = false;
    bool destroyed = false;
    bool after_wait = false;  // must stay false: the wait threw Cancelled
};

// Yields until the probe's task is suspended in its blocking call.
void wait_blocked(const Probe& p) {
    for (int i = 0; i < 1000 && !p.blocked; ++i) ringlet::yield();
    ASSERT_TRUE(p.blocked) << "the task never reached its blocking call";
}

template <class T>
void expect_cancelled(ringlet::Task<T>& t, const Probe& p) {
    EXPECT_TRUE(t.join(10s));
    EXPECT_TRUE(t.done());
    EXPECT_TRUE(t.cancelled());
    EXPECT_FALSE(t.failed());
    EXPECT_TRUE(p.destroyed) << "a local object's destructor did not run";
    EXPECT_FALSE(p.after_wait) << "the blocking call returned instead of throwing Cancelled";
}

}  // namespace

// ---- cancelling each kind of wait ----------------------------------------------------

RINGLET_TEST(TaskCancelTest, CancelWhileSleeping) {
    Probe p;
    auto t = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        p.blocked = true;
        ringlet::sleep(1h);
        p.after_wait = true;
    });
    wait_blocked(p);
    EXPECT_FALSE(t.done());
    t.cancel();
    expect_cancelled(t, p);
    EXPECT_EQ(ringlet::stats().timers, 0u);  // its timer is gone
}

RINGLET_TEST(TaskCancelTest, CancelWhileJoining) {
    ringlet::Event release;
    auto target = ringlet::spawn([&] {
        release.wait();
        return 7;
    });
    Probe p;
    auto joiner = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        p.blocked = true;
        target.join();
        p.after_wait = true;
    });
    wait_blocked(p);
    joiner.cancel();
    expect_cancelled(joiner, p);
    // The target is untouched and can still be joined by others.
    EXPECT_FALSE(target.done());
    auto other = ringlet::spawn([&] { return target.get(); });
    ringlet::yield();
    release.set();
    EXPECT_EQ(other.get(), 7);
    EXPECT_EQ(target.get(), 7);
}

RINGLET_TEST(TaskCancelTest, CancelWhileInGet) {
    ringlet::Event release;
    auto target = ringlet::spawn([&] {
        release.wait();
        return 1;
    });
    Probe p;
    auto getter = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        p.blocked = true;
        int v = target.get();
        p.after_wait = true;
        return v;
    });
    wait_blocked(p);
    getter.cancel();
    expect_cancelled(getter, p);
    release.set();
    EXPECT_EQ(target.get(), 1);
}

RINGLET_TEST(TaskCancelTest, CancelWhileWaitingOnEvent) {
    ringlet::Event e;
    Probe p;
    auto t = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        p.blocked = true;
        e.wait();
        p.after_wait = true;
    });
    wait_blocked(p);
    t.cancel();
    expect_cancelled(t, p);
    EXPECT_FALSE(e.is_set());
    // The event still works for other waiters.
    auto other = ringlet::spawn([&] { return e.wait(10s); });
    ringlet::yield();
    e.set();
    EXPECT_TRUE(other.get());
}

RINGLET_TEST(TaskCancelTest, CancelWhileWaitingOnEventWithTimeoutThrowsRatherThanReturnsFalse) {
    ringlet::Event e;
    Probe p;
    auto t = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        p.blocked = true;
        (void)e.wait(1h);
        p.after_wait = true;
    });
    wait_blocked(p);
    t.cancel();
    expect_cancelled(t, p);
}

RINGLET_TEST(TaskCancelTest, CancelWhileAcquiringSemaphore) {
    ringlet::Semaphore sem(0);
    Probe p;
    auto t = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        p.blocked = true;
        sem.acquire();
        p.after_wait = true;
    });
    wait_blocked(p);
    t.cancel();
    expect_cancelled(t, p);
    EXPECT_EQ(sem.available(), 0u);
    // The cancelled waiter holds no place in the queue: a release is not lost on it.
    sem.release();
    EXPECT_EQ(sem.available(), 1u);
    EXPECT_TRUE(sem.try_acquire());
    EXPECT_EQ(sem.available(), 0u);
    EXPECT_FALSE(sem.try_acquire());
}

RINGLET_TEST(TaskCancelTest, CancelFirstOfTwoSemaphoreWaitersPassesPermitToSecond) {
    ringlet::Semaphore sem(0);
    Probe p;
    auto first = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        p.blocked = true;
        sem.acquire();
        p.after_wait = true;
    });
    wait_blocked(p);
    bool second_got = false;
    auto second = ringlet::spawn([&] {
        sem.acquire();
        second_got = true;
    });
    ringlet::yield();
    first.cancel();
    expect_cancelled(first, p);
    sem.release();
    EXPECT_TRUE(second.join(10s));
    EXPECT_TRUE(second_got);
    EXPECT_EQ(sem.available(), 0u);
}

RINGLET_TEST(TaskCancelTest, ReleaseAndCancelInTheSameTurnNeitherLoseNorDuplicateAPermit) {
    ringlet::Semaphore sem(0);
    bool blocked = false;
    bool acquired = false;
    auto t = ringlet::spawn([&] {
        blocked = true;
        sem.acquire();
        acquired = true;
        struct Give {
            ringlet::Semaphore& s;
            ~Give() { s.release(); }
        } give{sem};
        ringlet::sleep(1h);  // the cancel arrives here if acquire() won
    });
    for (int i = 0; i < 100 && !blocked; ++i) ringlet::yield();
    ASSERT_TRUE(blocked);
    // Both before the task runs again: "never both, never neither".
    sem.release();
    t.cancel();
    EXPECT_TRUE(t.join(10s));
    EXPECT_TRUE(t.cancelled());
    // Either acquire() won (and the guard gave the permit back) or it threw
    // (and the permit stayed): one permit either way.
    EXPECT_EQ(sem.available(), 1u) << "acquired=" << acquired;
}

RINGLET_TEST(TaskCancelTest, CancelWhileLockingMutex) {
    ringlet::Mutex m;
    m.lock();  // main holds it
    Probe p;
    auto t = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        p.blocked = true;
        std::lock_guard lock(m);
        p.after_wait = true;
    });
    wait_blocked(p);
    t.cancel();
    expect_cancelled(t, p);
    m.unlock();
    // Not owned by the cancelled task: free for anyone.
    EXPECT_TRUE(m.try_lock());
    m.unlock();
    auto other = ringlet::spawn([&] {
        std::lock_guard lock(m);
        return 1;
    });
    EXPECT_EQ(other.get(), 1);
    EXPECT_TRUE(m.try_lock());
    m.unlock();
}

RINGLET_TEST(TaskCancelTest, CancelFirstMutexWaiterPassesOwnershipToSecond) {
    ringlet::Mutex m;
    m.lock();
    Probe p;
    auto first = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        p.blocked = true;
        std::lock_guard lock(m);
        p.after_wait = true;
    });
    wait_blocked(p);
    bool second_locked = false;
    auto second = ringlet::spawn([&] {
        std::lock_guard lock(m);
        second_locked = true;
    });
    ringlet::yield();
    first.cancel();
    expect_cancelled(first, p);
    m.unlock();
    EXPECT_TRUE(second.join(10s));
    EXPECT_TRUE(second_locked);
    EXPECT_TRUE(m.try_lock());
    m.unlock();
}

RINGLET_TEST(TaskCancelTest, CancelWhileSendingOnFullChannel) {
    ringlet::Channel<int> ch(1);
    ch.send(1);  // now full
    Probe p;
    auto t = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        p.blocked = true;
        ch.send(2);
        p.after_wait = true;
    });
    wait_blocked(p);
    t.cancel();
    expect_cancelled(t, p);
    // The cancelled send delivered nothing; the buffered value is intact.
    EXPECT_EQ(ch.size(), 1u);
    EXPECT_EQ(ch.try_recv(), std::optional<int>(1));
    EXPECT_EQ(ch.try_recv(), std::nullopt);
    // And the channel works afterwards.
    ch.send(3);
    EXPECT_TRUE(ch.try_send(4) == false);
    EXPECT_EQ(ch.recv(), std::optional<int>(3));
    EXPECT_EQ(ch.size(), 0u);
}

RINGLET_TEST(TaskCancelTest, CancelWhileSendingOnRendezvousChannel) {
    ringlet::Channel<std::string> ch(0);
    Probe p;
    auto t = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        p.blocked = true;
        ch.send("lost");
        p.after_wait = true;
    });
    wait_blocked(p);
    t.cancel();
    expect_cancelled(t, p);
    // No sender is left waiting: a receiver finds nothing.
    EXPECT_EQ(ch.try_recv(), std::nullopt);
    auto receiver = ringlet::spawn([&] { return ch.recv(); });
    ringlet::yield();
    ch.send("kept");
    EXPECT_EQ(receiver.get(), std::optional<std::string>("kept"));
}

RINGLET_TEST(TaskCancelTest, CancelOneOfSeveralSendersLosesOnlyItsMessage) {
    ringlet::Channel<int> ch(1);
    ch.send(0);
    std::vector<ringlet::Task<void>> senders;
    std::vector<Probe> probes(3);
    for (int i = 0; i < 3; ++i) {
        senders.push_back(ringlet::spawn([&ch, &pr = probes[i], i] {
            SetOnDestroy guard{&pr.destroyed};
            pr.blocked = true;
            ch.send(i + 1);
            pr.after_wait = true;
        }));
    }
    for (auto& pr : probes) wait_blocked(pr);
    senders[1].cancel();  // the one carrying 2
    expect_cancelled(senders[1], probes[1]);
    std::vector<int> got;
    for (int i = 0; i < 3; ++i) got.push_back(*ch.recv());
    EXPECT_EQ(got, (std::vector<int>{0, 1, 3}));
    EXPECT_TRUE(senders[0].join(10s));
    EXPECT_TRUE(senders[2].join(10s));
    EXPECT_TRUE(probes[0].after_wait);
    EXPECT_TRUE(probes[2].after_wait);
    EXPECT_EQ(ch.try_recv(), std::nullopt);
}

RINGLET_TEST(TaskCancelTest, CancelWhileReceivingFromEmptyChannel) {
    ringlet::Channel<int> ch(1);
    Probe p;
    auto t = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        p.blocked = true;
        auto v = ch.recv();
        p.after_wait = true;
        return v;
    });
    wait_blocked(p);
    t.cancel();
    expect_cancelled(t, p);
    // The cancelled receiver does not swallow the next value.
    EXPECT_TRUE(ch.try_send(5));
    EXPECT_EQ(ch.size(), 1u);
    EXPECT_EQ(ch.try_recv(), std::optional<int>(5));
    EXPECT_EQ(ch.try_recv(), std::nullopt);
}

RINGLET_TEST(TaskCancelTest, CancelWhileReceivingFromRendezvousChannel) {
    ringlet::Channel<int> ch(0);
    Probe p;
    auto t = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        p.blocked = true;
        auto v = ch.recv();
        p.after_wait = true;
        return v;
    });
    wait_blocked(p);
    t.cancel();
    expect_cancelled(t, p);
    // No receiver is left waiting: a rendezvous send cannot complete now.
    int v = 9;
    EXPECT_FALSE(ch.try_send(v));
    EXPECT_EQ(v, 9);
    auto receiver = ringlet::spawn([&] { return ch.recv(); });
    ringlet::yield();
    EXPECT_TRUE(ch.try_send(v));
    EXPECT_EQ(receiver.get(), std::optional<int>(9));
}

RINGLET_TEST(TaskCancelTest, ChannelCountsAddUpAfterCancellingReceivers) {
    ringlet::Channel<int> ch(2);
    std::vector<ringlet::Task<std::optional<int>>> receivers;
    for (int i = 0; i < 4; ++i) receivers.push_back(ringlet::spawn([&] { return ch.recv(); }));
    ringlet::yield();
    receivers[0].cancel();
    receivers[2].cancel();
    ringlet::yield();
    for (int v = 1; v <= 4; ++v) ch.send(v);
    // Two live receivers took 1 and 2 in FIFO order; 3 and 4 are buffered.
    EXPECT_EQ(receivers[1].get(), std::optional<int>(1));
    EXPECT_EQ(receivers[3].get(), std::optional<int>(2));
    EXPECT_TRUE(receivers[0].cancelled());
    EXPECT_TRUE(receivers[2].cancelled());
    EXPECT_EQ(ch.size(), 2u);
    EXPECT_EQ(ch.recv(), std::optional<int>(3));
    EXPECT_EQ(ch.recv(), std::optional<int>(4));
}

// ---- when the cancel arrives ---------------------------------------------------------

RINGLET_TEST(TaskCancelTest, CancelBeforeFirstRunNeverRunsTheBody) {
    bool ran = false;
    bool captured_destroyed = false;
    std::shared_ptr<SetOnDestroy> guard(new SetOnDestroy{&captured_destroyed});
    auto t = ringlet::spawn([&ran, g = std::move(guard)] { ran = true; });
    t.cancel();
    EXPECT_TRUE(t.join(10s));
    EXPECT_FALSE(ran);
    EXPECT_TRUE(t.cancelled());
    EXPECT_FALSE(t.failed());
    EXPECT_THROW(t.get(), ringlet::Cancelled);
    EXPECT_TRUE(captured_destroyed);  // its callable was still destroyed
}

RINGLET_TEST(TaskCancelTest, CancelAnEndedTaskHasNoEffect) {
    auto t = ringlet::spawn([] { return 5; });
    t.join();
    t.cancel();
    t.cancel();
    EXPECT_TRUE(t.done());
    EXPECT_FALSE(t.cancelled());
    EXPECT_EQ(t.get(), 5);

    auto f = ringlet::spawn([] { throw std::runtime_error("f"); });
    f.join();
    f.cancel();
    EXPECT_TRUE(f.failed());
    EXPECT_FALSE(f.cancelled());
}

RINGLET_TEST(TaskCancelTest, CancelTwiceIsLikeOnce) {
    Probe p;
    int caught = 0;
    auto t = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        try {
            p.blocked = true;
            ringlet::sleep(1h);
        } catch (const ringlet::Cancelled&) {
            ++caught;
            throw;
        }
        p.after_wait = true;
    });
    wait_blocked(p);
    t.cancel();
    t.cancel();
    expect_cancelled(t, p);
    EXPECT_EQ(caught, 1);
}

RINGLET_TEST(TaskCancelTest, CancelOfAReadyTaskArrivesAtItsNextYield) {
    long rounds = 0;
    bool destroyed = false;
    auto t = ringlet::spawn([&] {
        SetOnDestroy guard{&destroyed};
        for (;;) {
            ++rounds;
            ringlet::yield();
        }
    });
    ringlet::yield();
    ringlet::yield();
    const long before = rounds;
    EXPECT_GE(before, 1);
    t.cancel();
    EXPECT_TRUE(t.join(10s));
    EXPECT_TRUE(t.cancelled());
    EXPECT_TRUE(destroyed);
    EXPECT_LE(rounds, before + 1);
}

RINGLET_TEST(TaskCancelTest, TaskCanCancelItselfAndItArrivesAtTheNextSuspensionPoint) {
    ringlet::Task<void> self;
    bool before_suspend = false;
    bool after_suspend = false;
    self = ringlet::spawn([&] {
        self.cancel();
        before_suspend = true;  // no suspension point yet: still running
        ringlet::yield();
        after_suspend = true;
    });
    EXPECT_TRUE(self.join(10s));
    EXPECT_TRUE(before_suspend);
    EXPECT_FALSE(after_suspend);
    EXPECT_TRUE(self.cancelled());
}

RINGLET_TEST(TaskCancelTest, CancelBeatsASleepWhoseTimerIsDueButNotFired) {
    Probe p;
    auto t = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        p.blocked = true;
        ringlet::sleep(1ms);
        p.after_wait = true;
    });
    wait_blocked(p);
    // Stay busy past the task's deadline without a suspension point: its timer
    // is due but cannot fire before the cancel claims the task.
    const auto until = std::chrono::steady_clock::now() + 5ms;
    while (std::chrono::steady_clock::now() < until) {
    }
    t.cancel();
    expect_cancelled(t, p);
}

RINGLET_TEST(TaskCancelTest, CancelWhileWaitingWithOwnTimeoutThrowsCancelled) {
    ringlet::Channel<int> nothing_to_recv(0);
    ringlet::Channel<int> nobody_receives(0);
    ringlet::Semaphore sem(0);
    bool blocked = false;
    auto recv = ringlet::spawn([&] {
        blocked = true;
        return nothing_to_recv.recv_for(1h);
    });
    auto acq = ringlet::spawn([&] { return sem.acquire_for(1h); });
    auto send = ringlet::spawn([&] {
        int v = 1;
        return nobody_receives.send_for(v, 1h);
    });
    for (int i = 0; i < 100 && !blocked; ++i) ringlet::yield();
    ringlet::yield();
    recv.cancel();
    acq.cancel();
    send.cancel();
    ringlet::joinall(recv, acq, send);
    EXPECT_TRUE(recv.cancelled());
    EXPECT_TRUE(acq.cancelled());
    EXPECT_TRUE(send.cancelled());
    EXPECT_EQ(sem.available(), 0u);
    EXPECT_EQ(nobody_receives.try_recv(), std::nullopt);
    int v = 2;
    EXPECT_FALSE(nothing_to_recv.try_send(v));
    EXPECT_EQ(ringlet::stats().timers, 0u);
}

// ---- Cancelled is not a std::exception -----------------------------------------------

RINGLET_TEST(TaskCancelTest, CancelledIsNotCaughtByStdExceptionHandler) {
    Probe p;
    bool caught_as_std = false;
    auto t = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        try {
            p.blocked = true;
            ringlet::sleep(1h);
        } catch (const std::exception&) {
            caught_as_std = true;
        }
        p.after_wait = true;
    });
    wait_blocked(p);
    t.cancel();
    expect_cancelled(t, p);
    EXPECT_FALSE(caught_as_std);
}

RINGLET_TEST(TaskCancelTest, CatchAllThatRethrowsStillCountsAsCancelled) {
    Probe p;
    bool saw = false;
    auto t = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        try {
            p.blocked = true;
            ringlet::sleep(1h);
        } catch (...) {
            saw = true;
            throw;
        }
        p.after_wait = true;
    });
    wait_blocked(p);
    t.cancel();
    expect_cancelled(t, p);
    EXPECT_TRUE(saw);
}

RINGLET_TEST(TaskCancelTest, CatchingCancelledAsItsOwnTypeWorks) {
    bool blocked = false;
    auto t = ringlet::spawn([&] {
        try {
            blocked = true;
            ringlet::sleep(1h);
        } catch (const ringlet::Cancelled& c) {
            EXPECT_STREQ(c.what(), "ringlet::Cancelled");
            throw;
        }
    });
    for (int i = 0; i < 100 && !blocked; ++i) ringlet::yield();
    t.cancel();
    t.join();
    EXPECT_TRUE(t.cancelled());
}

RINGLET_TEST(TaskCancelTest, SwallowedCancelLetsTheTaskEndNormally) {
    bool blocked = false;
    auto t = ringlet::spawn([&] {
        try {
            blocked = true;
            ringlet::sleep(1h);
        } catch (const ringlet::Cancelled&) {
        }
        // The cancel was consumed: later suspension points work.
        ringlet::sleep(1ms);
        return 3;
    });
    for (int i = 0; i < 100 && !blocked; ++i) ringlet::yield();
    t.cancel();
    EXPECT_EQ(t.get(), 3);
    EXPECT_FALSE(t.cancelled());
}

RINGLET_TEST(TaskCancelTest, ThrowingCancelledYourselfCountsAsCancelled) {
    auto t = ringlet::spawn([] { throw ringlet::Cancelled{}; });
    t.join();
    EXPECT_TRUE(t.cancelled());
    EXPECT_FALSE(t.failed());
}

// ---- cross-thread ----------------------------------------------------------------------

RINGLET_TEST(TaskCancelTest, CancelFromAPlainThreadWhileSleeping) {
    Probe p;
    auto t = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        p.blocked = true;
        ringlet::sleep(1h);
        p.after_wait = true;
    });
    wait_blocked(p);
    std::thread canceller([&] { t.cancel(); });
    expect_cancelled(t, p);  // the join suspends main; the thread's cancel wakes the task
    canceller.join();
}

RINGLET_TEST(TaskCancelTest, CancelFromAPlainThreadRacingWithEveryPhaseOfATask) {
    // The thread's cancel lands at a random moment: before the first run,
    // while running, while parked in a wait, while being woken by a timer.
    // Every task must end cancelled, and nothing may hang.
    constexpr int rounds = 300;
    int cancelled = 0;
    for (int i = 0; i < rounds; ++i) {
        ringlet::Event e;
        auto t = ringlet::spawn([&e] {
            for (;;) {
                (void)e.wait(std::chrono::microseconds(50));
                ringlet::yield();
            }
        });
        std::thread canceller([&t] { t.cancel(); });
        if (i % 2 == 0) ringlet::yield();
        EXPECT_TRUE(t.join(10s));
        canceller.join();
        if (t.cancelled()) ++cancelled;
    }
    EXPECT_EQ(cancelled, rounds);
}

RINGLET_TEST(TaskCancelTest, CancelFromAPlainThreadWhileEverythingIsIdle) {
    // Main itself waits on the cancelled task's completion with nothing else
    // ready, so the scheduler is asleep in the backend when the cancel comes.
    Probe p;
    ringlet::Event thread_may_cancel;
    auto t = ringlet::spawn([&] {
        SetOnDestroy guard{&p.destroyed};
        p.blocked = true;
        thread_may_cancel.set();
        ringlet::Event never;
        never.wait();
        p.after_wait = true;
    });
    std::thread canceller([&] {
        thread_may_cancel.wait();
        t.cancel();
    });
    expect_cancelled(t, p);
    canceller.join();
}
