// tests/runtime/stats_test.cpp — stats() counters outside and inside run(), and
// dump_tasks() lines: id, name, state and what each waiting task waits on.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;

namespace {

std::vector<std::string> dump_lines() {
    std::ostringstream out;
    ringlet::dump_tasks(out);
    std::vector<std::string> lines;
    std::istringstream in(out.str());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// The dump line of task `id`, or "" if it is not listed.
std::string line_of(ringlet::TaskId id) {
    const std::string prefix = std::to_string(id) + " ";
    for (const auto& line : dump_lines()) {
        if (line.rfind(prefix, 0) == 0) return line;
    }
    return {};
}

void expect_all_zero(const ringlet::Stats& s) {
    EXPECT_STREQ(s.backend, "none");
    EXPECT_EQ(s.ring_flags, 0u);
    EXPECT_FALSE(s.guard_pages_by_madvise);
    EXPECT_EQ(s.tasks_spawned, 0u);
    EXPECT_EQ(s.tasks_live, 0u);
    EXPECT_EQ(s.context_switches, 0u);
    EXPECT_EQ(s.polls, 0u);
    EXPECT_EQ(s.remote_wakeups, 0u);
    EXPECT_EQ(s.timers, 0u);
    EXPECT_EQ(s.stacks_in_use, 0u);
    EXPECT_EQ(s.stacks_free, 0u);
    EXPECT_EQ(s.stack_bytes_mapped, 0u);
}

}  // namespace

// ---- stats() ---------------------------------------------------------------------------

TEST(StatsTest, OutsideRunEverythingIsZero) {
    expect_all_zero(ringlet::stats());
    std::ostringstream out;
    ringlet::dump_tasks(out);
    EXPECT_EQ(out.str(), "");
}

TEST(StatsTest, AfterRunEverythingIsZeroAgain) {
    ringlet::run([] { ringlet::sleep(1ms); });
    expect_all_zero(ringlet::stats());
}

RINGLET_TEST(StatsTest, PlainThreadBesideASchedulerSeesZero) {
    ringlet::Stats seen;
    seen.tasks_live = 99;
    std::string dumped = "x";
    std::thread th([&] {
        seen = ringlet::stats();
        std::ostringstream out;
        ringlet::dump_tasks(out);
        dumped = out.str();
    });
    th.join();
    expect_all_zero(seen);
    EXPECT_EQ(dumped, "");
}

RINGLET_TEST(StatsTest, BackendInsideRun) {
    const ringlet::Stats s = ringlet::stats();
    const std::string backend = s.backend;
    EXPECT_TRUE(backend == "io_uring" || backend == "epoll") << backend;
    const char* env = std::getenv("RINGLET_BACKEND");
    if (env != nullptr && std::strcmp(env, "epoll") == 0) {
        EXPECT_EQ(backend, "epoll");
    }
    if (backend == "epoll") {
        EXPECT_EQ(s.ring_flags, 0u);
    }
}

TEST(StatsTest, EpollBackendIsReported) {
    const std::string backend = ringlet::run([] { return std::string(ringlet::stats().backend); },
                                             ringlet::Options{.backend = "epoll"});
    EXPECT_EQ(backend, "epoll");
}

RINGLET_TEST(StatsTest, MainIsTheFirstTask) {
    const ringlet::Stats s = ringlet::stats();
    EXPECT_EQ(s.tasks_spawned, 1u);
    EXPECT_EQ(s.tasks_live, 1u);
    EXPECT_GE(s.stacks_in_use, 1u);
    EXPECT_GT(s.stack_bytes_mapped, 0u);
}

TEST(StatsTest, CountersArePerScheduler) {
    for (int round = 0; round < 2; ++round) {
        const ringlet::Stats s = ringlet::run([] {
            auto t = ringlet::spawn([] {});
            t.join();
            return ringlet::stats();
        });
        EXPECT_EQ(s.tasks_spawned, 2u) << "round " << round;
        EXPECT_EQ(s.tasks_live, 1u) << "round " << round;
    }
}

RINGLET_TEST(StatsTest, SpawnedAndLiveFollowTheTasks) {
    const ringlet::Stats s0 = ringlet::stats();
    ringlet::Event release;
    std::vector<ringlet::Task<void>> tasks;
    for (int i = 0; i < 5; ++i) tasks.push_back(ringlet::spawn([&] { release.wait(); }));
    const ringlet::Stats s1 = ringlet::stats();
    EXPECT_EQ(s1.tasks_spawned, s0.tasks_spawned + 5);
    EXPECT_EQ(s1.tasks_live, s0.tasks_live + 5);  // live from spawn, before they first run
    EXPECT_GE(s1.stacks_in_use, s0.stacks_in_use + 5);
    ringlet::yield();
    EXPECT_EQ(ringlet::stats().tasks_live, s0.tasks_live + 5);  // waiting tasks are live
    release.set();
    ringlet::joinall(tasks);
    const ringlet::Stats s2 = ringlet::stats();
    EXPECT_EQ(s2.tasks_spawned, s0.tasks_spawned + 5);
    EXPECT_EQ(s2.tasks_live, s0.tasks_live);
    tasks.clear();  // last handles gone: stacks go back to the pool
    ringlet::yield();
    const ringlet::Stats s3 = ringlet::stats();
    EXPECT_EQ(s3.stacks_in_use, s0.stacks_in_use);
    EXPECT_GE(s3.stacks_free, 1u);
}

RINGLET_TEST(StatsTest, ContextSwitchesGrowWithYields) {
    const std::uint64_t before = ringlet::stats().context_switches;
    auto ping = ringlet::spawn([] {
        for (int i = 0; i < 10; ++i) ringlet::yield();
    });
    auto pong = ringlet::spawn([] {
        for (int i = 0; i < 10; ++i) ringlet::yield();
    });
    ringlet::joinall(ping, pong);
    const std::uint64_t after = ringlet::stats().context_switches;
    EXPECT_GE(after - before, 20u);
}

RINGLET_TEST(StatsTest, TimersCountArmedTimers) {
    EXPECT_EQ(ringlet::stats().timers, 0u);
    auto a = ringlet::spawn([] { ringlet::sleep(1h); });
    auto b = ringlet::spawn([] { ringlet::sleep(1h); });
    ringlet::yield();
    EXPECT_EQ(ringlet::stats().timers, 2u);
    a.cancel();
    b.cancel();
    ringlet::joinall(a, b);
    EXPECT_EQ(ringlet::stats().timers, 0u);
}

RINGLET_TEST(StatsTest, PollsGrowWhenTheSchedulerWaits) {
    const std::uint64_t before = ringlet::stats().polls;
    ringlet::sleep(1ms);  // nothing else is ready: the loop waits in the backend
    EXPECT_GT(ringlet::stats().polls, before);
}

RINGLET_TEST(StatsTest, RemoteWakeupsCountWakeupsFromOtherThreads) {
    const std::uint64_t before = ringlet::stats().remote_wakeups;
    ringlet::Event main_parked;
    ringlet::Event wake_main;
    // Runs only once main is suspended in wake_main.wait() below.
    auto helper = ringlet::spawn([&] { main_parked.set(); });
    std::thread th([&] {
        main_parked.wait();
        wake_main.set();  // main is parked: this is a cross-thread wake-up
    });
    EXPECT_TRUE(wake_main.wait(10s));
    th.join();
    helper.join();
    EXPECT_GE(ringlet::stats().remote_wakeups, before + 1);
}

// ---- dump_tasks() ----------------------------------------------------------------------

RINGLET_TEST(StatsTest, DumpListsASleepingTaskWithItsName) {
    auto t = ringlet::spawn(ringlet::SpawnOptions{.name = "sleeper"}, [] { ringlet::sleep(1h); });
    ringlet::yield();
    const std::string line = line_of(t.id());
    EXPECT_EQ(line.rfind(std::to_string(t.id()) + " sleeper waiting on sleep, deadline in 3", 0),
              0u)
        << line;
    t.cancel();
    t.join();
}

RINGLET_TEST(StatsTest, DumpListsAnEventWaiter) {
    ringlet::Event e;
    auto t = ringlet::spawn(ringlet::SpawnOptions{.name = "ev-waiter"}, [&] { e.wait(); });
    ringlet::yield();
    const std::string line = line_of(t.id());
    EXPECT_NE(line.find("ev-waiter"), std::string::npos) << line;
    EXPECT_NE(line.find("waiting on Event::wait"), std::string::npos) << line;
    e.set();
    t.join();
    EXPECT_EQ(line_of(t.id()), "");  // ended tasks are not listed
}

RINGLET_TEST(StatsTest, DumpNamesWhatEachTaskWaitsOn) {
    ringlet::Semaphore sem(0);
    ringlet::Mutex m;
    ringlet::Channel<int> full(0);
    ringlet::Channel<int> empty(1);
    ringlet::Event never;
    m.lock();
    auto blocked = ringlet::spawn([&] { never.wait(); });
    auto on_sem = ringlet::spawn([&] { sem.acquire(); });
    auto on_mutex = ringlet::spawn([&] { m.lock(); });
    auto on_send = ringlet::spawn([&] { full.send(1); });
    auto on_recv = ringlet::spawn([&] { (void)empty.recv(); });
    auto on_join = ringlet::spawn([&] { blocked.join(); });
    ringlet::yield();
    EXPECT_NE(line_of(on_sem.id()).find("waiting on Semaphore::acquire"), std::string::npos)
        << line_of(on_sem.id());
    EXPECT_NE(line_of(on_mutex.id()).find("waiting on Mutex::lock"), std::string::npos)
        << line_of(on_mutex.id());
    EXPECT_NE(line_of(on_send.id()).find("waiting on Channel::send"), std::string::npos)
        << line_of(on_send.id());
    EXPECT_NE(line_of(on_recv.id()).find("waiting on Channel::recv"), std::string::npos)
        << line_of(on_recv.id());
    EXPECT_NE(line_of(on_join.id()).find("waiting on join"), std::string::npos)
        << line_of(on_join.id());
    for (auto* t : {&blocked, &on_sem, &on_mutex, &on_send, &on_recv, &on_join}) t->cancel();
    ringlet::joinall(blocked, on_sem, on_mutex, on_send, on_recv, on_join);
    m.unlock();
}

RINGLET_TEST(StatsTest, DumpShowsRunningAndReadyTasks) {
    auto t = ringlet::spawn([] {});  // ready, not yet run
    const std::string mine = line_of(ringlet::current_task());
    EXPECT_EQ(mine, std::to_string(ringlet::current_task()) + " main running");
    EXPECT_EQ(line_of(t.id()), std::to_string(t.id()) + " - ready");
    t.join();
}

RINGLET_TEST(StatsTest, DumpHasOneLinePerLiveTask) {
    ringlet::Event release;
    std::vector<ringlet::Task<void>> tasks;
    for (int i = 0; i < 7; ++i) tasks.push_back(ringlet::spawn([&] { release.wait(); }));
    ringlet::yield();
    EXPECT_EQ(dump_lines().size(), ringlet::stats().tasks_live);
    EXPECT_EQ(dump_lines().size(), 8u);
    release.set();
    ringlet::joinall(tasks);
    EXPECT_EQ(dump_lines().size(), 1u);
}
