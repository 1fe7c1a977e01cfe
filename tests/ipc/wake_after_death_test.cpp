// Regression: a producer killed after its Queue::put committed but before its
// futex wake left a consumer on a plain thread asleep for ever (size() == 1).
//
// Each test puts a waiter to sleep (a plain thread, or a task on its own
// scheduler thread), then forks a child that makes the change the waiter
// waits for and is SIGKILLed inside its FUTEX_WAKE system call: the change is
// committed, the wake never happens. The waiter must still see the change.
// This binary defines syscall(2) itself (an executable's definition wins over
// libc's for every call in the process), so the kill lands at exactly that
// instant rather than at a random one.
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <dlfcn.h>
#include <fstream>
#include <functional>
#include <future>
#include <gtest/gtest.h>
#include <signal.h>
#include <string>
#include <thread>
#include <unistd.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <ringlet/ipc.hpp>
#include <ringlet/ringlet.hpp>

namespace ipc = ringlet::ipc;
using namespace std::chrono_literals;

namespace {

std::atomic<bool> kill_at_futex_wake{false};

}  // namespace

extern "C" long syscall(long number, ...) {
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (long& x : a) x = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_futex && kill_at_futex_wake.load(std::memory_order_relaxed) &&
        (a[1] & FUTEX_CMD_MASK) == FUTEX_WAKE) {
        ::raise(SIGKILL);
    }
    using Real = long (*)(long, ...);
    static const Real real = reinterpret_cast<Real>(::dlsym(RTLD_NEXT, "syscall"));
    return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

namespace {

// The state letter of thread `tid` of this process ('S' while it sleeps).
char thread_state(pid_t tid) {
    std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = stat.rfind(')');
    return close == std::string::npos || close + 2 >= stat.size() ? '?' : stat[close + 2];
}

// Waits (by looking every 200 us, up to 10 s) until thread `tid` sleeps.
bool wait_until_asleep(pid_t tid) {
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < end) {
        if (thread_state(tid) == 'S') return true;
        std::this_thread::sleep_for(200us);
    }
    return false;
}

enum class Waiter { plain_thread, task };

// Runs `wait` on a new thread (inside ringlet::run for Waiter::task), waits
// until that thread sleeps, then forks a child that runs `commit` with the
// wake armed to kill it. Returns what `wait` returned; fails the test if the
// child was not killed in its wake or the waiter is still asleep after 10 s.
template <class R>
R run_scenario(Waiter kind, std::function<R()> wait, std::function<void()> commit) {
    std::atomic<pid_t> tid{0};
    std::packaged_task<R()> body([&] {
        tid.store(::gettid());
        if (kind == Waiter::task) return ringlet::run([&] { return wait(); });
        return wait();
    });
    std::future<R> result = body.get_future();
    std::thread waiter(std::move(body));
    while (tid.load() == 0) std::this_thread::yield();
    EXPECT_TRUE(wait_until_asleep(tid.load()));

    const pid_t child = ::fork();
    if (child == 0) {
        kill_at_futex_wake.store(true);
        commit();
        ::_exit(0);  // no wake was attempted: the test then fails on the status
    }
    int status = 0;
    EXPECT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the child was expected to die inside its futex wake; status " << status;

    const bool ready = result.wait_for(10s) == std::future_status::ready;
    EXPECT_TRUE(ready) << "the waiter is still asleep: the lost wake-up is back";
    if (!ready) {
        // Nothing will wake it: leave the process rather than hang in join().
        std::fflush(nullptr);
        ::_exit(1);
    }
    waiter.join();
    return result.get();
}

class WakeAfterDeathTest : public ::testing::TestWithParam<Waiter> {};

}  // namespace

TEST_P(WakeAfterDeathTest, QueueGetSeesAPutWhosePutterDiedBeforeWaking) {
    ipc::Queue<int> q;
    const int got = run_scenario<int>(
        GetParam(), [&] { return q.get(); }, [&] { q.put(42); });
    EXPECT_EQ(got, 42);
    EXPECT_TRUE(q.empty());
}

TEST_P(WakeAfterDeathTest, QueuePutSeesAGetWhoseGetterDiedBeforeWaking) {
    ipc::Queue<int> q(1);
    q.put(1);
    const bool put = run_scenario<bool>(
        GetParam(),
        [&] {
            q.put(2);
            return true;
        },
        [&] { (void)q.get(); });
    EXPECT_TRUE(put);
    EXPECT_EQ(q.get(), 2);
}

TEST_P(WakeAfterDeathTest, EventWaitSeesASetWhoseSetterDiedBeforeWaking) {
    ipc::Event e;
    const bool set = run_scenario<bool>(
        GetParam(), [&] { return e.wait(); }, [&] { e.set(); });
    EXPECT_TRUE(set);
}

TEST_P(WakeAfterDeathTest, SemaphoreAcquireSeesAReleaseWhoseReleaserDiedBeforeWaking) {
    ipc::Semaphore s(0);
    const bool acquired = run_scenario<bool>(
        GetParam(),
        [&] {
            s.acquire();
            return true;
        },
        [&] { s.release(); });
    EXPECT_TRUE(acquired);
    EXPECT_FALSE(s.try_acquire());
}

INSTANTIATE_TEST_SUITE_P(Waiters, WakeAfterDeathTest,
                         ::testing::Values(Waiter::plain_thread, Waiter::task),
                         [](const auto& param_info) {
                             return param_info.param == Waiter::task ? "Task" : "PlainThread";
                         });
