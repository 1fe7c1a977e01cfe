// tests/threads/destroy_with_waiters_death_test.cpp — destroying a Channel,
// Event, Semaphore or Mutex while a task on ANOTHER thread waits on it is a
// caller bug that the destructor diagnoses by aborting with a message, instead
// of letting the waiter wake into freed memory later.
//
// Each case makes sure the waiter is really parked: on its own scheduler it
// calls a blocking operation from a task W, while the thread's main task,
// queued right behind W, reports "parked" only after W has suspended (tasks of
// one thread run one at a time, in FIFO order).
#include <gtest/gtest.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include <ringlet/ringlet.hpp>

namespace {

constexpr const char* message = "destroyed while tasks or threads still wait";

// Runs `wait_on(object)` in a task of a new ringlet::Thread, waits until it has
// parked, then destroys `object` from this thread. Never returns normally.
template <class T, class Wait>
void destroy_while_other_thread_waits(T* object, Wait wait_on) {
    ringlet::run([&] {
        ringlet::Event parked;
        ringlet::Thread<void> other([&] {
            auto w = ringlet::spawn([&] { wait_on(*object); });
            ringlet::yield();  // W runs until it parks on `object`
            parked.set();
            w.join();
        });
        parked.wait();
        delete object;  // aborts here
        other.join();
    });
}

// Polls /proc until thread `tid` of this process is asleep in the kernel.
void wait_until_sleeping(pid_t tid) {
    const std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
    for (;;) {
        std::ifstream in(path);
        std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        // "tid (comm) S ...": the state follows the last ')'.
        const auto close = stat.rfind(')');
        if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'S') return;
        std::this_thread::yield();
    }
}

}  // namespace

TEST(DestroyWithWaitersDeathTest, ChannelWithReceiverOnAnotherThread) {
    EXPECT_DEATH(destroy_while_other_thread_waits(new ringlet::Channel<int>(4),
                                                  [](ringlet::Channel<int>& ch) { ch.recv(); }),
                 message);
}

TEST(DestroyWithWaitersDeathTest, ChannelWithSenderOnAnotherThread) {
    EXPECT_DEATH(destroy_while_other_thread_waits(new ringlet::Channel<int>(0),
                                                  [](ringlet::Channel<int>& ch) { ch.send(1); }),
                 message);
}

TEST(DestroyWithWaitersDeathTest, EventWithWaiterOnAnotherThread) {
    EXPECT_DEATH(destroy_while_other_thread_waits(new ringlet::Event,
                                                  [](ringlet::Event& e) { e.wait(); }),
                 message);
}

TEST(DestroyWithWaitersDeathTest, SemaphoreWithWaiterOnAnotherThread) {
    EXPECT_DEATH(destroy_while_other_thread_waits(new ringlet::Semaphore(0),
                                                  [](ringlet::Semaphore& s) { s.acquire(); }),
                 message);
}

TEST(DestroyWithWaitersDeathTest, MutexWithWaiterOnAnotherThread) {
    EXPECT_DEATH(
        {
            auto* m = new ringlet::Mutex;
            m->lock();
            destroy_while_other_thread_waits(m, [](ringlet::Mutex& mu) { mu.lock(); });
        },
        message);
}

TEST(DestroyWithWaitersDeathTest, EventWithPlainThreadWaiter) {
    // A plain thread links itself into the event's queue before it sleeps in
    // the kernel (FUTEX_WAIT), and that is its only way to sleep here: once
    // /proc shows it sleeping, it is parked on the event.
    EXPECT_DEATH(
        {
            auto* e = new ringlet::Event;
            std::atomic<pid_t> tid{0};
            std::thread plain([&] {
                tid.store(static_cast<pid_t>(::syscall(SYS_gettid)));
                e->wait();
            });
            while (tid.load() == 0) {
            }
            wait_until_sleeping(tid.load());
            // A zero-timeout wait takes the event's lock, which orders the
            // waiter's enqueue before the destructor's check (for TSan).
            (void)e->wait(std::chrono::nanoseconds(0));
            delete e;
            plain.join();
        },
        message);
}

TEST(DestroyWithWaitersDeathTest, DestroyingAfterWaitersLeftIsFine) {
    // The contrast case: once the waiter on the other thread is gone, the
    // object may be destroyed.
    auto* ch = new ringlet::Channel<int>(0);
    ringlet::run([&] {
        ringlet::Thread<int> other([&] { return ch->recv().value_or(-1); });
        ch->send(5);
        EXPECT_EQ(other.get(), 5);
    });
    delete ch;
}
