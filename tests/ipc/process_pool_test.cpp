// tests/ipc/process_pool_test.cpp — ipc::ProcessPool: apply, apply_async and
// callbacks, map/starmap/imap/imap_unordered, errors, close/join/terminate,
// initializer and maxtasksperchild, use from tasks and plain threads.
#include <ringlet/ipc/process_pool.hpp>

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <list>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;

namespace {

int square(int x) { return x * x; }
long add3(int a, long b, short c) { return a + b + c; }
std::string shout(const std::string& s) { return s + "!"; }
pid_t worker_pid() { return ::getpid(); }
void nothing(int) {}
int fail_with(int code) {
    if (code == 1) throw std::invalid_argument("bad argument " + std::to_string(code));
    if (code == 2) throw 42;  // not a std::exception
    return code;
}
std::vector<int> iota_of(int n) {
    std::vector<int> v(static_cast<std::size_t>(n));
    std::iota(v.begin(), v.end(), 0);
    return v;
}
int sleep_then(int ms) {
    ringlet::sleep(std::chrono::milliseconds(ms));
    return ms;
}
// Spawns tasks and does IO inside the worker: workers have a scheduler.
int tasks_in_worker(int n) {
    std::atomic<int> sum = 0;
    std::vector<ringlet::Task<void>> tasks;
    for (int i = 1; i <= n; ++i) {
        tasks.push_back(ringlet::spawn([&sum, i] {
            ringlet::sleep(1ms);
            sum += i;
        }));
    }
    ringlet::joinall(tasks);
    return sum;
}

int initialised = 0;
void initializer() { initialised = 7; }
int read_initialised(int) { return initialised; }
void bad_initializer() { throw std::runtime_error("no config"); }

// A flag in memory shared with the workers (mapped before any pool forks).
std::atomic<int>* release_flag = [] {
    void* p = ::mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    return new (p) std::atomic<int>(0);
}();
int wait_for_release(int) {
    while (release_flag->load() == 0) ringlet::sleep(1ms);
    return 1;
}

std::string big_result(int bytes) { return std::string(static_cast<std::size_t>(bytes), 'x'); }

// Waits for the given pids to be gone (reaped or never ours).
bool process_gone(pid_t pid) { return ::kill(pid, 0) != 0; }

}  // namespace

RINGLET_TEST(ProcessPool, ApplyReturnsResults) {
    ipc::ProcessPool pool(2);
    EXPECT_EQ(pool.apply(square, 7), 49);
    EXPECT_EQ(pool.apply(add3, 1, 2L, short{3}), 6);
    EXPECT_EQ(pool.apply(shout, std::string("hi")), "hi!");
    EXPECT_EQ(pool.apply(iota_of, 5), (std::vector<int>{0, 1, 2, 3, 4}));
    pool.apply(nothing, 1);
    const pid_t pid = pool.apply(worker_pid);
    EXPECT_NE(pid, ::getpid());
    EXPECT_EQ(pool.apply(tasks_in_worker, 10), 55);
    EXPECT_EQ(pool.processes(), 2u);
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPool, ArgumentsConvertToParameterTypes) {
    ipc::ProcessPool pool(1);
    EXPECT_EQ(pool.apply(square, short{3}), 9);           // short -> int
    EXPECT_EQ(pool.apply(shout, "literal"), "literal!");  // const char* -> std::string
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPool, ApplyAsyncResultInterface) {
    ipc::ProcessPool pool(2);
    auto r = pool.apply_async(sleep_then, 30);
    EXPECT_TRUE(r.valid());
    EXPECT_THROW((void)r.get(0ms), ringlet::TimeoutError);  // a 30 ms task is not done at once
    EXPECT_TRUE(r.wait());
    EXPECT_TRUE(r.ready());
    EXPECT_TRUE(r.successful());
    EXPECT_EQ(r.get(), 30);
    EXPECT_EQ(r.get(), 30);  // read again
    auto bad = pool.apply_async(fail_with, 1);
    bad.wait();
    EXPECT_FALSE(bad.successful());
    ipc::AsyncResult<int> empty;
    EXPECT_FALSE(empty.valid());
    EXPECT_THROW((void)empty.get(), ringlet::UsageError);
    auto slow = pool.apply_async(sleep_then, 200);
    EXPECT_THROW((void)slow.successful(), ringlet::UsageError);  // not ready yet
    EXPECT_FALSE(slow.wait(1ms));
    pool.close();
    pool.join();
    EXPECT_TRUE(slow.ready());
}

RINGLET_TEST(ProcessPool, ExceptionsBecomeRemoteErrors) {
    ipc::ProcessPool pool(2);
    try {
        pool.apply(fail_with, 1);
        FAIL() << "no exception";
    } catch (const ipc::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "std::invalid_argument");
        EXPECT_EQ(e.message(), "bad argument 1");
        EXPECT_NE(std::string(e.what()).find("bad argument 1"), std::string::npos);
    }
    try {
        pool.apply(fail_with, 2);
        FAIL() << "no exception";
    } catch (const ipc::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "int");
    }
    // The pool keeps serving after a task failed.
    EXPECT_EQ(pool.apply(fail_with, 5), 5);
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPool, CallbacksRunOnTheSubmittersSchedulerOnce) {
    ipc::ProcessPool pool(2);
    const auto here = std::this_thread::get_id();
    int ok_calls = 0;
    int value_sum = 0;
    int error_calls = 0;
    bool wrong_thread = false;
    std::vector<ipc::AsyncResult<int>> all;
    for (int i = 0; i < 20; ++i) {
        all.push_back(pool.apply_async(
            fail_with, i,
            [&](int v) {
                wrong_thread |= std::this_thread::get_id() != here;
                ++ok_calls;
                value_sum += v;
            },
            [&](const std::exception& e) {
                wrong_thread |= std::this_thread::get_id() != here;
                if (std::string(e.what()).find("bad argument 1") != std::string::npos ||
                    dynamic_cast<const ipc::RemoteError*>(&e) != nullptr) {
                    ++error_calls;
                }
            }));
    }
    pool.close();
    pool.join();
    for (auto& r : all) r.wait();
    // Every result is in, so each callback task is ready or done.
    while (ok_calls + error_calls < 20) ringlet::yield();
    EXPECT_FALSE(wrong_thread);
    EXPECT_EQ(ok_calls, 18);  // i = 0 and 3..19
    EXPECT_EQ(value_sum, 0 + (3 + 19) * 17 / 2);
    EXPECT_EQ(error_calls, 2);  // i = 1 and 2
}

RINGLET_TEST(ProcessPool, ErrorCallbackTakesExceptionPtr) {
    ipc::ProcessPool pool(1);
    ringlet::Event got;
    std::string type;
    pool.apply_async(
        fail_with, 1, [](int) {},
        [&](std::exception_ptr e) {
            try {
                std::rethrow_exception(e);
            } catch (const ipc::RemoteError& r) {
                type = r.type_name();
            }
            got.set();
        });
    EXPECT_TRUE(got.wait(30s));
    EXPECT_EQ(type, "std::invalid_argument");
    pool.close();
    pool.join();
}

TEST(ProcessPoolThread, CallbacksFromAPlainThreadRunOnThePoolThread) {
    ipc::ProcessPool pool(2);
    std::atomic<int> calls = 0;
    std::atomic<bool> on_caller = false;
    const auto here = std::this_thread::get_id();
    std::vector<ipc::AsyncResult<int>> all;
    for (int i = 0; i < 50; ++i) {
        all.push_back(pool.apply_async(square, i, [&](int) {
            on_caller = on_caller || std::this_thread::get_id() == here;
            ++calls;
        }));
    }
    long sum = 0;
    for (auto& r : all) sum += r.get();
    pool.close();
    pool.join();  // blocks this plain thread; callbacks ran before results were released
    EXPECT_EQ(sum, 40425);
    EXPECT_EQ(calls.load(), 50);
    EXPECT_FALSE(on_caller.load());
}

RINGLET_TEST(ProcessPool, ManyTasksApplyConcurrently) {
    ipc::ProcessPool pool(4);
    constexpr int n = 1000;
    std::vector<int> got(n, -1);
    std::vector<ringlet::Task<void>> tasks;
    for (int i = 0; i < n; ++i) {
        tasks.push_back(ringlet::spawn([&, i] { got[static_cast<std::size_t>(i)] = pool.apply(square, i); }));
    }
    ringlet::joinall(tasks);
    for (int i = 0; i < n; ++i) ASSERT_EQ(got[static_cast<std::size_t>(i)], i * i) << i;
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPool, TenThousandCallbacksRunExactlyOnce) {
    ipc::ProcessPool pool(2);
#if defined(__SANITIZE_THREAD__)
    constexpr int n = 4000;  // TSan counts every task as a thread (at most 8128)
#else
    constexpr int n = 10000;
#endif
    std::vector<int> calls(n, 0);
    for (int i = 0; i < n; ++i) {
        pool.apply_async(square, i, [&calls, i](int v) {
            if (v == i * i) ++calls[static_cast<std::size_t>(i)];
        });
    }
    pool.close();
    pool.join();
    // Every result is in; its callback task is ready or done.
    for (int spins = 0; std::count(calls.begin(), calls.end(), 1) < n && spins < 100000; ++spins) {
        ringlet::yield();
    }
    for (int i = 0; i < n; ++i) ASSERT_EQ(calls[static_cast<std::size_t>(i)], 1) << i;
}

RINGLET_TEST(ProcessPool, ShortTasksAreNotStuckBehindALongOne) {
    // Tasks queued behind a long one on its worker's queue move to the idle
    // worker: the short ones all finish while the long one still runs.
    ipc::ProcessPool pool(2);
    release_flag->store(0);
    auto long_one = pool.apply_async(wait_for_release, 0);
    std::vector<ipc::AsyncResult<int>> short_ones;
    for (int i = 0; i < 40; ++i) short_ones.push_back(pool.apply_async(square, i));
    for (int i = 0; i < 40; ++i) {
        ASSERT_EQ(short_ones[static_cast<std::size_t>(i)].get(30s), i * i) << i;
    }
    EXPECT_FALSE(long_one.ready());
    release_flag->store(1);
    EXPECT_EQ(long_one.get(), 1);
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPool, MapKeepsOrderWithAnyChunking) {
    ipc::ProcessPool pool(3);
    std::vector<int> in(1001);
    std::iota(in.begin(), in.end(), -500);
    std::vector<int> want;
    for (int x : in) want.push_back(x * x);
    EXPECT_EQ(pool.map(square, in), want);
    EXPECT_EQ(pool.map(square, in, 1), want);
    EXPECT_EQ(pool.map(square, in, 7), want);
    EXPECT_EQ(pool.map(square, in, 5000), want);
    EXPECT_TRUE(pool.map(square, std::vector<int>{}).empty());
    // Any input range: a list, a view, a single-pass generator-like range.
    std::list<int> l{1, 2, 3};
    EXPECT_EQ(pool.map(square, l), (std::vector<int>{1, 4, 9}));
    EXPECT_EQ(pool.map(square, std::views::iota(0, 4)), (std::vector<int>{0, 1, 4, 9}));
    std::vector<std::string> words{"a", "b"};
    EXPECT_EQ(pool.map(shout, words), (std::vector<std::string>{"a!", "b!"}));
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPool, MapThrowsTheFirstFailure) {
    ipc::ProcessPool pool(2);
    std::vector<int> in{0, 3, 1, 4};
    EXPECT_THROW(pool.map(fail_with, in, 1), ipc::RemoteError);
    EXPECT_EQ(pool.map(fail_with, std::vector<int>{3, 4}), (std::vector<int>{3, 4}));
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPool, Starmap) {
    ipc::ProcessPool pool(2);
    std::vector<std::tuple<int, long, short>> in;
    for (int i = 0; i < 100; ++i) in.emplace_back(i, 10L * i, short{1});
    auto out = pool.starmap(add3, in, 9);
    ASSERT_EQ(out.size(), 100u);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(out[static_cast<std::size_t>(i)], 11L * i + 1);
    // Element types convert to the parameters (int, int, int -> int, long, short).
    std::vector<std::tuple<int, int, int>> loose{{1, 2, 3}};
    EXPECT_EQ(pool.starmap(add3, loose), (std::vector<long>{6}));
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPool, ImapIsOrderedAndLazy) {
    ipc::ProcessPool pool(2);
    std::vector<int> got;
    for (int v : pool.imap(square, std::views::iota(0, 300), 4)) got.push_back(v);
    ASSERT_EQ(got.size(), 300u);
    for (int i = 0; i < 300; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], i * i);
    // An unbounded input: only what is read is computed.
    auto stream = pool.imap(square, std::views::iota(0));
    for (int i = 0; i < 50; ++i) EXPECT_EQ(stream.next(), i * i);
    // An rvalue range is kept by the stream.
    auto owned = pool.imap(square, std::vector<int>{5, 6});
    EXPECT_EQ(owned.next(), 25);
    EXPECT_EQ(owned.next(), 36);
    EXPECT_EQ(owned.next(), std::nullopt);
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPool, AStreamLosesNothingToATimeout) {
    ipc::ProcessPool pool(2);
    for (bool ordered : {true, false}) {
        release_flag->store(0);
        auto s = ordered ? pool.imap(wait_for_release, std::vector<int>{0, 0})
                         : pool.imap_unordered(wait_for_release, std::vector<int>{0, 0});
        // The tasks wait for the flag: next() cannot finish inside the scope.
        EXPECT_THROW(ringlet::with_timeout(20ms, [&] { return s.next(); }), ringlet::TimeoutError);
        release_flag->store(1);
        EXPECT_EQ(s.next(), 1);
        EXPECT_EQ(s.next(), 1);
        EXPECT_EQ(s.next(), std::nullopt);
    }
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPool, ImapUnorderedYieldsEveryResultOnce) {
    ipc::ProcessPool pool(3);
    std::vector<int> delays;
    for (int i = 0; i < 30; ++i) delays.push_back((29 - i) % 7);  // varied durations
    std::multiset<int> got;
    for (int v : pool.imap_unordered(sleep_then, delays)) got.insert(v);
    EXPECT_EQ(got, std::multiset<int>(delays.begin(), delays.end()));
    // A failure surfaces once, and the rest still arrive.
    auto s = pool.imap_unordered(fail_with, std::vector<int>{3, 1, 4});
    int ok = 0, failed = 0;
    for (;;) {
        try {
            auto v = s.next();
            if (!v) break;
            ++ok;
        } catch (const ipc::RemoteError&) {
            ++failed;
        }
    }
    EXPECT_EQ(ok, 2);
    EXPECT_EQ(failed, 1);
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPool, ClosedPoolRejectsTasks) {
    ipc::ProcessPool pool(1);
    EXPECT_THROW(pool.join(), ringlet::UsageError);  // not closed yet
    auto r = pool.apply_async(sleep_then, 20);
    pool.close();
    EXPECT_THROW(pool.apply_async(square, 1), ringlet::UsageError);
    EXPECT_THROW(pool.map(square, std::vector<int>{1}), ringlet::UsageError);
    pool.join();
    EXPECT_EQ(r.get(), 20);  // queued before close: still ran
    pool.join();             // idempotent
    pool.terminate();        // after join: no effect
}

RINGLET_TEST(ProcessPool, TerminateFailsUnfinishedTasksAndLeavesNoProcess) {
    ipc::ProcessPool pool(2);
    std::vector<pid_t> pids;
    while (pids.size() < 2) {  // both workers up: each reports its pid
        pids = pool.worker_pids();
        if (pids.size() < 2) pool.apply(square, 1);
    }
    std::vector<ipc::AsyncResult<int>> results;
    for (int i = 0; i < 10; ++i) results.push_back(pool.apply_async(sleep_then, 10000));
    pool.terminate();
    for (auto& r : results) EXPECT_THROW((void)r.get(), ipc::PoolTerminated);
    for (pid_t pid : pids) EXPECT_TRUE(process_gone(pid)) << pid;  // killed and reaped
    EXPECT_THROW(pool.apply(square, 1), ringlet::UsageError);
    pool.terminate();  // idempotent
    pool.join();       // allowed after terminate
}

RINGLET_TEST(ProcessPool, DestructorTerminates) {
    std::vector<pid_t> pids;
    ipc::AsyncResult<int> r;
    {
        ipc::ProcessPool pool(1);
        pids.push_back(pool.apply(worker_pid));
        r = pool.apply_async(sleep_then, 10000);
    }
    EXPECT_THROW((void)r.get(), ipc::PoolTerminated);
    EXPECT_TRUE(process_gone(pids[0]));
}

RINGLET_TEST(ProcessPool, InitializerRunsInEveryWorker) {
    ipc::ProcessPool pool(2, ipc::PoolOptions{.initializer = initializer});
    EXPECT_EQ(initialised, 0);  // not here
    EXPECT_EQ(pool.map(read_initialised, std::vector<int>(20, 0), 1), std::vector<int>(20, 7));
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPool, FailingInitializerBreaksThePoolClearly) {
    ipc::ProcessPool pool(2, ipc::PoolOptions{.initializer = bad_initializer});
    try {
        pool.apply(square, 1);
        FAIL() << "no exception";
    } catch (const ipc::RemoteError& e) {
        EXPECT_NE(std::string(e.what()).find("no config"), std::string::npos) << e.what();
    }
    EXPECT_THROW(pool.apply(square, 1), ringlet::UsageError);
    pool.terminate();
}

RINGLET_TEST(ProcessPool, MaxTasksPerChildReplacesWorkers) {
    ipc::ProcessPool pool(1, ipc::PoolOptions{.maxtasksperchild = 3});
    std::set<pid_t> pids;
    for (int i = 0; i < 9; ++i) pids.insert(pool.apply(worker_pid));
    EXPECT_EQ(pids.size(), 3u);
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPool, OversizedMessagesAreRejected) {
    ipc::ProcessPool pool(1, ipc::PoolOptions{.max_message_size = 1024});
    EXPECT_THROW(pool.apply(shout, std::string(2000, 'a')), ipc::CodecError);
    try {
        pool.apply(big_result, 5000);
        FAIL() << "no exception";
    } catch (const ipc::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "ringlet::ipc::CodecError");
    }
    EXPECT_EQ(pool.apply(big_result, 100), std::string(100, 'x'));
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPool, UsageErrors) {
    EXPECT_THROW(ipc::ProcessPool(0), ringlet::UsageError);
}

RINGLET_TEST(ProcessPool, SharedByTasksOfSeveralThreads) {
    ipc::ProcessPool pool(2);
    std::atomic<long> sum = 0;
    ringlet::run_threads(2, [&](std::size_t t) {
        std::vector<ringlet::Task<void>> tasks;
        for (int i = 0; i < 100; ++i) {
            tasks.push_back(ringlet::spawn([&, t, i] { sum += pool.apply(square, static_cast<int>(t) * 100 + i); }));
        }
        ringlet::joinall(tasks);
    });
    long want = 0;
    for (int i = 0; i < 200; ++i) want += static_cast<long>(i) * i;
    EXPECT_EQ(sum.load(), want);
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPool, AForkedChildCannotUseTheParentsPool) {
    ipc::ProcessPool pool(1);
    ipc::Process child([&pool] {
        try {
            pool.apply(square, 2);
        } catch (const ringlet::UsageError&) {
            ::_exit(3);
        }
        ::_exit(4);
    });
    child.start();
    child.join();
    EXPECT_EQ(child.exitcode(), 3);
    EXPECT_EQ(pool.apply(square, 2), 4);
    pool.close();
    pool.join();
}
