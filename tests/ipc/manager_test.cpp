// tests/ipc/manager_test.cpp — ipc::Manager on its local (Unix socket) server:
// every proxy call of DictProxy, ListProxy, QueueProxy, LockProxy and
// ValueProxy; kind and type mismatches; forked children (the Python
// Manager dict/list scenario, fresh connections after fork, a child that
// cannot keep its parent's connection alive); proxies that cross processes
// as bytes; many tasks and a plain thread on one proxy; cancellation and
// Timeout (no item lost, no waiter left); a lock held by a killed child;
// frame limits; and a server that is SIGKILLed (ManagerError, no hang), shut
// down, or destroyed.
#include <ringlet/ipc/manager.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <ringlet/ipc/codec.hpp>
#include <ringlet/ipc/errors.hpp>
#include <ringlet/ipc/event.hpp>
#include <ringlet/ipc/pipe.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;
using ringlet::UsageError;
using ipc::CodecError;
using ipc::Manager;
using ipc::ManagerError;

namespace {

// Waits (without sleeping in steps) until process `pid` has exited: a pidfd
// becomes readable then, zombie or not.
bool wait_dead(pid_t pid, std::chrono::milliseconds timeout = 10s) {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) return errno == ESRCH;
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    ::close(fd);
    return n == 1;
}

// Runs `body` in a child process and returns its exit code (0 = body
// returned, 1 = it threw).
template <class F>
int in_child(F body) {
    ipc::Process p(std::move(body));
    p.start();
    p.join();
    return p.exitcode().value_or(-1000);
}

void check(bool condition, const char* what) {
    if (!condition) throw std::runtime_error(std::string("child check failed: ") + what);
}

}  // namespace

// ---- DictProxy ---------------------------------------------------------------

RINGLET_TEST(ManagerTest, DictSetGetContainsEraseSize) {
    Manager m;
    auto d = m.dict<std::string, int>("scores");
    EXPECT_EQ(d.name(), "scores");
    EXPECT_TRUE(d.empty());
    d.set("a", 1);
    d.set("b", 2);
    d.set("a", 10);  // assignment keeps one entry
    EXPECT_EQ(d.size(), 2u);
    EXPECT_FALSE(d.empty());
    EXPECT_EQ(d.get("a"), 10);
    EXPECT_EQ(d.get("zz"), std::nullopt);
    EXPECT_EQ(d.get("zz", -1), -1);
    EXPECT_EQ(d.get("b", -1), 2);
    EXPECT_TRUE(d.contains("b"));
    EXPECT_FALSE(d.contains("c"));
    EXPECT_TRUE(d.erase("b"));
    EXPECT_FALSE(d.erase("b"));
    EXPECT_EQ(d.size(), 1u);
    // The same name from the manager again: the same dict.
    auto again = m.dict<std::string, int>("scores");
    EXPECT_EQ(again.get("a"), 10);
}

RINGLET_TEST(ManagerTest, DictKeysValuesItemsComeInInsertionOrder) {
    Manager m;
    auto d = m.dict<int, std::string>();
    for (int k : {5, 1, 300, -7}) d.set(k, "v" + std::to_string(k));
    d.set(1, "one");  // reassignment keeps the position
    EXPECT_EQ(d.keys(), (std::vector<int>{5, 1, 300, -7}));
    EXPECT_EQ(d.values(), (std::vector<std::string>{"v5", "one", "v300", "v-7"}));
    const std::vector<std::pair<int, std::string>> items{
        {5, "v5"}, {1, "one"}, {300, "v300"}, {-7, "v-7"}};
    EXPECT_EQ(d.items(), items);
    const std::map<int, std::string> as_map{{-7, "v-7"}, {1, "one"}, {5, "v5"}, {300, "v300"}};
    EXPECT_EQ(d.to_map(), as_map);
    d.clear();
    EXPECT_EQ(d.size(), 0u);
    EXPECT_TRUE(d.keys().empty());
    EXPECT_TRUE(d.items().empty());
}

RINGLET_TEST(ManagerTest, DictSetdefaultAndPop) {
    Manager m;
    auto d = m.dict<std::string, std::vector<int>>();
    EXPECT_EQ(d.setdefault("k", {1, 2}), (std::vector<int>{1, 2}));
    EXPECT_EQ(d.setdefault("k", {9}), (std::vector<int>{1, 2}));  // present: unchanged
    EXPECT_EQ(d.get("k"), (std::vector<int>{1, 2}));
    EXPECT_EQ(d.pop("k"), (std::vector<int>{1, 2}));
    EXPECT_EQ(d.pop("k"), std::nullopt);
    EXPECT_FALSE(d.contains("k"));
}

RINGLET_TEST(ManagerTest, InitialContentsApplyOnlyWhenTheObjectIsCreated) {
    Manager m;
    // Python: m.dict({'count': 100}).
    auto d = m.dict<std::string, int>("counter", {{"count", 100}});
    EXPECT_EQ(d.get("count"), 100);
    d.set("count", 99);
    auto again = m.dict<std::string, int>("counter", {{"count", 100}});
    EXPECT_EQ(again.get("count"), 99);
    // Python: m.list(range(5)).
    auto l = m.list<int>("", {0, 1, 2, 3, 4});
    EXPECT_EQ(l.to_vector(), (std::vector<int>{0, 1, 2, 3, 4}));
    auto named = m.list<int>("l", {7});
    named.append(8);
    EXPECT_EQ(m.list<int>("l", {100}).to_vector(), (std::vector<int>{7, 8}));
    auto v = m.value<double>("pi", 3.14);
    EXPECT_EQ(v.get(), 3.14);
    EXPECT_EQ(m.value<double>("pi", 2.71).get(), 3.14);
    EXPECT_EQ(m.value<int>("zero").get(), 0);  // default initial: T{}
}

// ---- ListProxy ---------------------------------------------------------------

RINGLET_TEST(ManagerTest, ListAppendExtendAtSetPopClear) {
    Manager m;
    auto l = m.list<std::string>("names");
    EXPECT_TRUE(l.empty());
    l.append("a");
    l.extend({"b", "c", "d"});
    l.extend({});
    EXPECT_EQ(l.size(), 4u);
    EXPECT_EQ(l.at(0), "a");
    EXPECT_EQ(l.at(-1), "d");  // negative: from the end, as in Python
    EXPECT_EQ(l.at(-4), "a");
    l.set(1, "B");
    l.set(-2, "C");
    EXPECT_EQ(l.to_vector(), (std::vector<std::string>{"a", "B", "C", "d"}));
    EXPECT_EQ(l.pop(), "d");
    EXPECT_EQ(l.pop(0), "a");
    EXPECT_EQ(l.pop(-1), "C");
    EXPECT_EQ(l.to_vector(), (std::vector<std::string>{"B"}));
    l.clear();
    EXPECT_EQ(l.size(), 0u);
    EXPECT_TRUE(l.to_vector().empty());
}

RINGLET_TEST(ManagerTest, ListIndexOutOfRangeThrowsOutOfRangeAndTheProxyGoesOn) {
    Manager m;
    auto l = m.list<int>("", {1, 2, 3});
    EXPECT_THROW(l.at(3), std::out_of_range);
    EXPECT_THROW(l.at(-4), std::out_of_range);
    EXPECT_THROW(l.set(10, 0), std::out_of_range);
    EXPECT_THROW(l.pop(5), std::out_of_range);
    try {
        l.at(7);
        ADD_FAILURE() << "no exception";
    } catch (const std::out_of_range& e) {
        EXPECT_NE(std::string(e.what()).find("index 7 out of range"), std::string::npos)
            << e.what();
    }
    l.clear();
    EXPECT_THROW(l.pop(), std::out_of_range);
    l.append(5);  // the connection is still in step
    EXPECT_EQ(l.to_vector(), std::vector<int>{5});
}

// ---- QueueProxy --------------------------------------------------------------

RINGLET_TEST(ManagerTest, QueuePutGetInFifoOrder) {
    Manager m;
    auto q = m.queue<std::string>("jobs");
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.try_get(), std::nullopt);
    q.put("one");
    EXPECT_TRUE(q.try_put("two"));
    EXPECT_TRUE(q.put_for("three", 1s));
    EXPECT_EQ(q.size(), 3u);
    EXPECT_FALSE(q.empty());
    EXPECT_EQ(q.get(), "one");
    EXPECT_EQ(q.get_for(1s), "two");
    EXPECT_EQ(q.try_get(), "three");
    EXPECT_EQ(q.size(), 0u);
}

RINGLET_TEST(ManagerTest, QueueGetForTimesOutOnTheServer) {
    Manager m;
    auto q = m.queue<int>();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(q.get_for(100ms), std::nullopt);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, 95ms);
    EXPECT_LT(took, 5s);
    q.put(1);  // the timed-out waiter left nothing behind
    EXPECT_EQ(q.try_get(), 1);
}

RINGLET_TEST(ManagerTest, QueueMaxsizeBoundsPuts) {
    Manager m;
    auto q = m.queue<int>("bounded", 2);
    EXPECT_TRUE(q.try_put(1));
    EXPECT_TRUE(q.try_put(2));
    EXPECT_FALSE(q.try_put(3));
    EXPECT_FALSE(q.put_for(3, 50ms));
    // A put waiting for room is admitted by a get in another task.
    auto putter = ringlet::spawn([q]() mutable { q.put(3); });
    auto other = m.queue<int>("bounded");  // another proxy: its own connection
    EXPECT_EQ(other.get(), 1);
    putter.get();
    EXPECT_EQ(q.get(), 2);
    EXPECT_EQ(q.get(), 3);
    // maxsize applies only when created.
    auto same = m.queue<int>("bounded", 100);
    EXPECT_TRUE(same.try_put(1));
    EXPECT_TRUE(same.try_put(2));
    EXPECT_FALSE(same.try_put(3));
}

RINGLET_TEST(ManagerTest, QueueGetWaitsForAPutFromAChildProcess) {
    Manager m;
    auto q = m.queue<int>("from-child");
    ipc::Process child([q]() mutable { q.put(42); });
    auto getter = ringlet::spawn([q]() mutable { return q.get(); });
    ringlet::yield();  // the get is on its way before the child exists
    child.start();
    EXPECT_EQ(getter.get(), 42);
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
}

RINGLET_TEST(ManagerTest, AWaitingGetDoesNotBlockOtherTasksOnTheSameProxy) {
    Manager m;
    auto q = m.queue<int>();
    auto getter = ringlet::spawn([&q] { return q.get(); });
    ringlet::yield();
    q.put(7);  // same proxy object: this call takes a second connection
    EXPECT_EQ(getter.get(), 7);
}

RINGLET_TEST(ManagerTest, CancelledGetLosesNoItem) {
    Manager m;
    auto q = m.queue<int>("c");
    auto getter = ringlet::spawn([&q] { return q.get(); });
    ringlet::yield();
    ringlet::yield();
    getter.cancel();
    EXPECT_TRUE(getter.join(5s));
    EXPECT_TRUE(getter.cancelled());
    q.put(1);
    q.put(2);
    // The cancelled get closed its connection: the server dropped its waiter
    // (or put back an item it had sent), so both items are here, in order.
    EXPECT_EQ(q.get_for(5s), 1);
    EXPECT_EQ(q.get_for(5s), 2);
    EXPECT_EQ(q.try_get(), std::nullopt);
}

RINGLET_TEST(ManagerTest, GetUnderATimeoutScopeThrowsTimeoutErrorAndLosesNothing) {
    Manager m;
    auto q = m.queue<int>();
    EXPECT_THROW(ringlet::with_timeout(50ms, [&] { return q.get(); }), ringlet::TimeoutError);
    q.put(5);
    EXPECT_EQ(q.get_for(5s), 5);
}

// ---- LockProxy ---------------------------------------------------------------

RINGLET_TEST(ManagerTest, LockTryAcquireAcquireForAndRelease) {
    Manager m;
    auto lock = m.lock("l");
    EXPECT_FALSE(lock.held_by_me());
    EXPECT_TRUE(lock.try_acquire());
    EXPECT_TRUE(lock.held_by_me());
    EXPECT_THROW(lock.acquire(), UsageError);  // not recursive
    auto other = ringlet::spawn([lock]() mutable {
        EXPECT_FALSE(lock.held_by_me());  // held by the main task, not this one
        EXPECT_THROW(lock.release(), UsageError);
        EXPECT_FALSE(lock.try_acquire());
        EXPECT_FALSE(lock.acquire_for(50ms));
    });
    other.get();
    lock.release();
    EXPECT_FALSE(lock.held_by_me());
    EXPECT_THROW(lock.release(), UsageError);
    {
        std::unique_lock guard(lock, std::defer_lock);
        EXPECT_TRUE(guard.try_lock_for(1s));
        EXPECT_TRUE(lock.held_by_me());
    }
    EXPECT_FALSE(lock.held_by_me());
    EXPECT_TRUE(lock.try_lock_until(std::chrono::steady_clock::now() + 1s));
    lock.unlock();
    EXPECT_TRUE(lock.try_lock());
    lock.unlock();
}

RINGLET_TEST(ManagerTest, ReleaseHandsTheLockToTheWaiter) {
    Manager m;
    auto lock = m.lock();
    std::vector<std::string> order;
    lock.acquire();
    auto waiter = ringlet::spawn([&] {
        std::lock_guard g(lock);
        order.push_back("waiter");
    });
    ringlet::yield();
    order.push_back("holder");
    lock.release();
    waiter.get();
    EXPECT_EQ(order, (std::vector<std::string>{"holder", "waiter"}));
}

RINGLET_TEST(ManagerTest, LockExcludesProcessesFromEachOther) {
    Manager m;
    auto lock = m.lock("counter-lock");
    auto counter = m.value<int>("counter", 0);
    constexpr int children = 4, rounds = 25;
    std::vector<std::unique_ptr<ipc::Process>> ps;
    for (int i = 0; i < children; ++i) {
        ps.push_back(std::make_unique<ipc::Process>([lock, counter]() mutable {
            for (int r = 0; r < rounds; ++r) {
                std::lock_guard g(lock);
                const int v = counter.get();  // read, yield, write: a race without the lock
                ringlet::yield();
                counter.set(v + 1);
            }
        }));
        ps.back()->start();
    }
    for (auto& p : ps) {
        p->join();
        EXPECT_EQ(p->exitcode(), 0);
    }
    EXPECT_EQ(counter.get(), children * rounds);
}

RINGLET_TEST(ManagerTest, ALockHeldByAKilledChildIsReleased) {
    Manager m;
    auto lock = m.lock("robust");
    ipc::Event locked;
    ipc::Process child([lock, &locked]() mutable {
        lock.acquire();
        locked.set();
        ringlet::sleep(1h);  // killed holding it
    });
    child.start();
    ASSERT_TRUE(locked.wait(10s));
    EXPECT_FALSE(lock.try_acquire());
    child.kill();
    child.join();
    EXPECT_TRUE(lock.acquire_for(10s));  // the server saw the connection end
    lock.release();
}

RINGLET_TEST(ManagerTest, AForkedChildCannotKeepItsParentsLockAlive) {
    Manager m;
    auto holder = std::make_unique<ipc::LockProxy>(m.lock("inherited"));
    holder->acquire();
    ipc::Event release_child;
    // The child inherits the parent's connection (and with it, the lock's).
    ipc::Process child([&holder, &release_child] {
        // The parent holds it, not the child: the child's copy knows.
        ipc::LockProxy copy = *holder;
        check(!copy.held_by_me(), "a forked copy does not hold its parent's lock");
        try {
            copy.release();
            check(false, "release() by a non-holder throws");
        } catch (const UsageError&) {
        }
        release_child.wait(30s);
    });
    child.start();
    holder.reset();  // the parent's last copy: its connection closes...
    auto other = m.lock("inherited");
    // ...and the server frees the lock although the child is alive with a
    // copy of that socket: the child's copy was detached at fork.
    EXPECT_TRUE(other.acquire_for(10s));
    other.release();
    release_child.set();
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
}

// ---- ValueProxy --------------------------------------------------------------

RINGLET_TEST(ManagerTest, ValueGetSetCompareExchange) {
    Manager m;
    auto v = m.value<std::string>("greeting", "hello");
    EXPECT_EQ(v.get(), "hello");
    v.set("hi");
    EXPECT_EQ(v.get(), "hi");
    EXPECT_FALSE(v.compare_exchange("hello", "nope"));
    EXPECT_EQ(v.get(), "hi");
    EXPECT_TRUE(v.compare_exchange("hi", "bye"));
    EXPECT_EQ(v.get(), "bye");
}

// ---- Names, kinds and types ----------------------------------------------------

RINGLET_TEST(ManagerTest, AnotherKindOrOtherTypesForAnExistingNameThrowUsageError) {
    Manager m;
    (void)m.dict<int, int>("x");
    try {
        (void)m.list<int>("x");
        ADD_FAILURE() << "no exception";
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("\"x\" is a dict, not a list"), std::string::npos)
            << e.what();
    }
    EXPECT_THROW(((void)m.dict<int, std::string>("x")), UsageError);
    EXPECT_THROW((void)m.queue<int>("x"), UsageError);
    EXPECT_THROW((void)m.lock("x"), UsageError);
    EXPECT_THROW((void)m.value<int>("x"), UsageError);
    (void)m.dict<int, int>("x");  // the right kind and types: fine
}

RINGLET_TEST(ManagerTest, AnonymousObjectsAreDistinct) {
    Manager m;
    auto a = m.dict<int, int>();
    auto b = m.dict<int, int>();
    EXPECT_NE(a.name(), b.name());
    a.set(1, 1);
    EXPECT_EQ(b.size(), 0u);
    auto q1 = m.queue<int>();
    auto q2 = m.queue<int>();
    q1.put(1);
    EXPECT_EQ(q2.try_get(), std::nullopt);
}

RINGLET_TEST(ManagerTest, EmptyProxiesAndHandlesThrowUsageError) {
    ipc::DictProxy<int, int> d;
    ipc::ListProxy<int> l;
    ipc::QueueProxy<int> q;
    ipc::LockProxy lock;
    ipc::ValueProxy<int> v;
    EXPECT_FALSE(d.valid() || l.valid() || q.valid() || lock.valid() || v.valid());
    EXPECT_THROW(d.size(), UsageError);
    EXPECT_THROW(l.append(1), UsageError);
    EXPECT_THROW(q.try_get(), UsageError);
    EXPECT_THROW(lock.acquire(), UsageError);
    EXPECT_FALSE(lock.held_by_me());
    EXPECT_THROW(v.get(), UsageError);
    EXPECT_THROW((void)d.name(), UsageError);

    Manager m;
    Manager moved = std::move(m);
    EXPECT_FALSE(m.valid());  // NOLINT(bugprone-use-after-move): testing the moved-from state
    EXPECT_TRUE(moved.valid());
    EXPECT_THROW(((void)m.dict<int, int>()), UsageError);
    EXPECT_THROW(m.shutdown(), UsageError);
    EXPECT_THROW((void)m.address(), UsageError);
    EXPECT_EQ(m.server_pid(), 0);
    EXPECT_GT(moved.server_pid(), 0);
    EXPECT_EQ((moved.dict<int, int>().size()), 0u);
}

RINGLET_TEST(ManagerTest, TheHandleDescribesItsServer) {
    Manager m;
    EXPECT_TRUE(m.address().starts_with("@ringlet-manager-")) << m.address();
    EXPECT_EQ(m.port(), 0);
    EXPECT_EQ(m.authkey().size(), 32u);
    Manager other;
    EXPECT_NE(m.address(), other.address());
    EXPECT_NE(m.authkey(), other.authkey());
    EXPECT_NE(m.server_pid(), other.server_pid());
}

// ---- Processes -----------------------------------------------------------------

// The Manager program "九、进程间数据共享": ten children each set a random key and append
// their pid; the parent sees all of it.
RINGLET_TEST(ManagerTest, TenChildrenShareADictAndAList) {
    Manager m;
    auto d = m.dict<int, int>();
    auto l = m.list<int>("", {0, 1, 2, 3, 4});
    EXPECT_EQ(l.size(), 5u);  // the parent's connections exist before the forks
    std::vector<std::unique_ptr<ipc::Process>> ps;
    std::set<int> pids;
    for (int i = 0; i < 10; ++i) {
        ps.push_back(std::make_unique<ipc::Process>([d, l, i]() mutable {
            d.set(i, 100 + i);
            l.append(ipc::current_pid());
        }));
        ps.back()->start();
        pids.insert(ps.back()->pid());
    }
    for (auto& p : ps) {
        p->join();
        EXPECT_EQ(p->exitcode(), 0);
    }
    std::map<int, int> expected;
    for (int i = 0; i < 10; ++i) expected[i] = 100 + i;
    EXPECT_EQ(d.to_map(), expected);
    const std::vector<int> all = l.to_vector();
    ASSERT_EQ(all.size(), 15u);
    EXPECT_EQ(std::vector<int>(all.begin(), all.begin() + 5), (std::vector<int>{0, 1, 2, 3, 4}));
    EXPECT_EQ(std::set<int>(all.begin() + 5, all.end()), pids);
}

RINGLET_TEST(ManagerTest, AChildUsesTheInheritedHandle) {
    Manager m;
    auto seen = m.value<int>("seen", 0);
    EXPECT_EQ(in_child([&m] {
                  m.value<int>("seen").set(ipc::current_pid());
                  // Not the owner here: shutdown is refused, and destroying a
                  // copy of the handle leaves the server running.
                  try {
                      m.shutdown();
                      check(false, "shutdown in a child throws");
                  } catch (const UsageError&) {
                  }
                  Manager moved = std::move(m);
              }),
              0);
    EXPECT_GT(seen.get(), 0);
    EXPECT_NE(seen.get(), ipc::current_pid());
    EXPECT_EQ((m.dict<int, int>("still-serving").size()), 0u);
}

RINGLET_TEST(ManagerTest, ProxiesCrossProcessesAsBytes) {
    Manager m;
    auto q = m.queue<std::string>("q");
    auto [parent_end, child_end] = ipc::pipe<ipc::QueueProxy<std::string>>();
    ipc::Process child([&child_end] {
        std::optional<ipc::QueueProxy<std::string>> got = child_end.recv();
        check(got.has_value(), "a proxy arrives");
        got->put("sent through a proxy that came as bytes");
    });
    child.start();
    child_end.close();
    parent_end.send(q);
    EXPECT_EQ(q.get_for(10s), "sent through a proxy that came as bytes");
    child.join();
    EXPECT_EQ(child.exitcode(), 0);

    // Decoding as another kind or type is refused; an empty proxy stays empty.
    const std::string bytes = ipc::encode(q);
    EXPECT_EQ(ipc::decode<ipc::QueueProxy<std::string>>(bytes).name(), "q");
    EXPECT_THROW(ipc::decode<ipc::QueueProxy<int>>(bytes), CodecError);
    EXPECT_THROW(ipc::decode<ipc::ListProxy<std::string>>(bytes), CodecError);
    EXPECT_FALSE((ipc::decode<ipc::DictProxy<int, int>>(ipc::encode(ipc::DictProxy<int, int>()))
                      .valid()));
    auto l = ipc::decode<ipc::ListProxy<int>>(ipc::encode(m.list<int>("l", {1})));
    EXPECT_EQ(l.to_vector(), std::vector<int>{1});
    auto lock = ipc::decode<ipc::LockProxy>(ipc::encode(m.lock("lk")));
    EXPECT_TRUE(lock.try_acquire());
    lock.release();
    auto v = ipc::decode<ipc::ValueProxy<int>>(ipc::encode(m.value<int>("v", 3)));
    EXPECT_EQ(v.get(), 3);
    auto d = ipc::decode<ipc::DictProxy<int, int>>(ipc::encode(m.dict<int, int>("d", {{1, 2}})));
    EXPECT_EQ(d.get(1), 2);
}

// ---- Tasks and threads -----------------------------------------------------------

RINGLET_TEST(ManagerTest, ManyTasksShareOneProxy) {
    Manager m;
    auto l = m.list<int>();
    ringlet::Group g;
    for (int t = 0; t < 50; ++t) {
        g.spawn([&l, t] {
            for (int i = 0; i < 4; ++i) l.append(t * 10 + i);
        });
    }
    g.join();
    std::vector<int> all = l.to_vector();
    std::sort(all.begin(), all.end());
    std::vector<int> expected;
    for (int t = 0; t < 50; ++t) {
        for (int i = 0; i < 4; ++i) expected.push_back(t * 10 + i);
    }
    EXPECT_EQ(all, expected);
}

RINGLET_TEST(ManagerTest, PlainThreadsUseProxiesToo) {
    Manager m;
    auto to_thread = m.queue<int>();
    auto from_thread = m.queue<int>();
    auto d = m.dict<int, int>();
    std::thread t([to_thread, from_thread, d]() mutable {
        // No scheduler here: every call blocks the thread.
        const int n = to_thread.get();
        d.set(n, n * n);
        from_thread.put(-n);
    });
    to_thread.put(9);
    const std::optional<int> reply = from_thread.get_for(10s);  // suspends only this task
    t.join();
    EXPECT_EQ(reply, -9);
    EXPECT_EQ(d.get(9), 81);
}

// ---- Limits ----------------------------------------------------------------------

RINGLET_TEST(ManagerTest, FramesOverTheLimitAreRefusedOnBothSides) {
    ipc::ManagerOptions options;
    options.max_frame_size = 4096;
    Manager m(options);
    auto l = m.list<std::string>();
    try {
        l.append(std::string(5000, 'x'));
        ADD_FAILURE() << "no exception";
    } catch (const CodecError& e) {
        EXPECT_NE(std::string(e.what()).find("nothing was sent"), std::string::npos) << e.what();
    }
    EXPECT_EQ(l.size(), 0u);
    // Each fits, but the whole list does not fit in one reply.
    for (int i = 0; i < 3; ++i) l.append(std::string(2000, 'y'));
    EXPECT_THROW(l.to_vector(), CodecError);
    EXPECT_EQ(l.size(), 3u);  // the connection is still in step
    auto q = m.queue<std::string>();
    q.put(std::string(2000, 'z'));
    EXPECT_EQ(q.get().size(), 2000u);
}

// ---- Server failures ---------------------------------------------------------------

RINGLET_TEST(ManagerTest, AKilledServerMakesCallsThrowManagerError) {
    Manager m;
    auto d = m.dict<int, int>();
    d.set(1, 1);  // a connection is open and idle
    const pid_t server = m.server_pid();
    ASSERT_GT(server, 0);
    ASSERT_EQ(::kill(server, SIGKILL), 0);
    ASSERT_TRUE(wait_dead(server));
    EXPECT_THROW(d.set(2, 2), ManagerError);
    EXPECT_THROW(d.size(), ManagerError);  // reconnecting fails too
    try {
        (void)m.list<int>();
        ADD_FAILURE() << "no exception";
    } catch (const ManagerError& e) {
        EXPECT_NE(std::string(e.what()).find(m.address()), std::string::npos) << e.what();
    }
    m.shutdown();  // the server is gone already: nothing to do
}

RINGLET_TEST(ManagerTest, AGetWaitingWhenTheServerDiesThrowsManagerError) {
    Manager m;
    auto q = m.queue<int>();
    auto lock = m.lock();
    auto holder = m.lock(lock.name());
    holder.acquire();
    auto getter = ringlet::spawn([q]() mutable { (void)q.get(); });
    auto acquirer = ringlet::spawn([lock]() mutable { lock.acquire(); });
    ringlet::yield();
    ringlet::yield();
    const pid_t server = m.server_pid();
    ASSERT_EQ(::kill(server, SIGKILL), 0);
    ASSERT_TRUE(getter.join(10s));
    ASSERT_TRUE(acquirer.join(10s));
    EXPECT_TRUE(getter.failed());
    EXPECT_THROW(getter.get(), ManagerError);
    EXPECT_THROW(acquirer.get(), ManagerError);
}

RINGLET_TEST(ManagerTest, ShutdownStopsTheServerAndIsIdempotent) {
    Manager m;
    auto d = m.dict<int, int>();
    d.set(1, 2);
    const pid_t server = m.server_pid();
    m.shutdown();
    EXPECT_EQ(m.server_pid(), 0);
    EXPECT_TRUE(wait_dead(server, 100ms));  // shutdown() waited for it
    EXPECT_THROW(d.get(1), ManagerError);
    EXPECT_THROW(((void)m.dict<int, int>()), ManagerError);
    m.shutdown();
}

RINGLET_TEST(ManagerTest, MoveAssigningAHandleStopsTheServerItHeld) {
    Manager a;
    Manager b;
    const pid_t first = a.server_pid();
    const pid_t second = b.server_pid();
    b.value<int>("who", 2);
    a = std::move(b);
    EXPECT_TRUE(wait_dead(first));
    EXPECT_EQ(a.server_pid(), second);
    EXPECT_EQ(a.value<int>("who").get(), 2);
}

// Not RINGLET_TEST: no scheduler at all on this thread; every call blocks it.
TEST(ManagerTest, AManagerWorksOutsideRun) {
    Manager m;
    auto q = m.queue<std::string>();
    auto d = m.dict<int, int>();
    d.set(1, 2);
    q.put("plain");
    EXPECT_EQ(q.get(), "plain");
    EXPECT_EQ(d.get(1), 2);
    auto lock = m.lock();
    {
        std::lock_guard g(lock);
        EXPECT_TRUE(lock.held_by_me());
    }
    const pid_t server = m.server_pid();
    m.shutdown();
    EXPECT_TRUE(wait_dead(server, 100ms));
}

RINGLET_TEST(ManagerTest, DestroyingTheHandleStopsTheServer) {
    pid_t server = 0;
    ipc::DictProxy<int, int> d;
    {
        Manager m;
        server = m.server_pid();
        d = m.dict<int, int>();
        d.set(1, 1);
    }
    EXPECT_TRUE(wait_dead(server));
    EXPECT_THROW(d.set(2, 2), ManagerError);
}
