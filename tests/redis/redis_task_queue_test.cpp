// tests/redis/redis_task_queue_test.cpp — TaskQueue against a real server:
// results, RemoteError, unknown functions, dead letters, duplicate results
// ignored, and a worker process SIGKILLed mid-task 50 times in a row with
// every result arriving exactly once.
#include <set>
#include <stdexcept>

#include <ringlet/event.hpp>
#include <ringlet/group.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/redis.hpp>

#include "redis_server.hpp"
#include "ringlet_test.hpp"

using namespace ringlet;
using namespace std::chrono_literals;

namespace {

int add(int a, int b) { return a + b; }
std::string greet(const std::string& who) { return "hello " + who; }
std::vector<int> range_of(int n) {
    std::vector<int> v;
    for (int i = 0; i < n; ++i) v.push_back(i);
    return v;
}
void nothing() {}
int fails(int) { throw std::out_of_range("index 7 out of range"); }

std::uint16_t g_port = 0;  // the test server, for functions that talk to it

// Blocks on its first delivery (announcing itself), returns x*2 later.
int slow_first_time(int x) {
    redis::Client c = redis::Client::connect("127.0.0.1", g_port);
    const std::string key = "attempts:" + std::to_string(x);
    if (c.incr(key) == 1) {
        c.rpush("started", std::to_string(x));
        ringlet::sleep(1h);  // the worker is SIGKILLed here
    }
    c.incr("completions:" + std::to_string(x));
    return x * 2;
}

// Runs longer than the visibility timeout the first time, so that a second
// worker re-runs it: two results, one delivered.
int outlives_visibility(int x) {
    redis::Client c = redis::Client::connect("127.0.0.1", g_port);
    if (c.incr("runs") == 1) {
        // Finish only after the re-run's result has been delivered.
        auto go = c.blpop(std::vector<std::string>{"dup-go"}, 30s);
        (void)go;
        return x + 1000;  // the late duplicate
    }
    return x;
}

int never_finishes(int) {
    redis::Client c = redis::Client::connect("127.0.0.1", g_port);
    c.rpush("dl-started", "1");
    ringlet::sleep(1h);
    return 0;
}

void register_all(redis::TaskQueue& tq) {
    tq.register_function("add", &add);
    tq.register_function("greet", &greet);
    tq.register_function("range", &range_of);
    tq.register_function("nothing", &nothing);
    tq.register_function("fails", &fails);
    tq.register_function("slow_first_time", &slow_first_time);
    tq.register_function("outlives_visibility", &outlives_visibility);
    tq.register_function("never_finishes", &never_finishes);
}

redis::Client connect(std::uint16_t port) { return redis::Client::connect("127.0.0.1", port); }

}  // namespace

RINGLET_TEST(RedisTaskQueueTest, ResultsAndErrorsInOneThread) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    redis::TaskQueue submitter(connect(server.port()), "tq");
    redis::TaskQueue worker(connect(server.port()), "tq");
    register_all(worker);
    auto w = spawn([&] { worker.work(4); });
    auto sum = submitter.submit<int>("add", 2, 40);
    auto hi = submitter.submit<std::string>("greet", "world");
    auto r = submitter.submit<std::vector<int>>("range", 4);
    auto v = submitter.submit<void>("nothing");
    auto bad = submitter.submit<int>("fails", 1);
    auto unknown = submitter.submit<int>("no_such_function", 1);
    EXPECT_FALSE(sum.id().empty());
    EXPECT_EQ(sum.get(30s), 42);
    EXPECT_EQ(hi.get(30s), "hello world");
    EXPECT_EQ(r.get(30s), (std::vector<int>{0, 1, 2, 3}));
    v.get(30s);
    EXPECT_TRUE(v.ready());
    try {
        bad.get(30s);
        FAIL() << "RemoteError expected";
    } catch (const ipc::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "std::out_of_range");
        EXPECT_EQ(e.message(), "index 7 out of range");
    }
    EXPECT_THROW(unknown.get(30s), ipc::RemoteError);
    // get() again returns the same outcome.
    EXPECT_EQ(sum.get(), 42);
    // Wrong argument types decode badly on the worker: RemoteError (CodecError).
    auto mismatch = submitter.submit<int>("add", std::string("x"));
    EXPECT_THROW(mismatch.get(30s), ipc::RemoteError);
    EXPECT_EQ(worker.executed(), 7u);
    // Timing out a get() leaves the result to come later.
    redis::AsyncResult<int> empty;
    EXPECT_FALSE(empty.valid());
    EXPECT_THROW(empty.get(), UsageError);
    worker.stop();
    w.get();
    auto late = submitter.submit<int>("add", 1, 1);
    EXPECT_THROW(late.get(20ms), TimeoutError);
    EXPECT_FALSE(late.wait(1ms));
    auto w2 = spawn([&] { worker.work(1); });
    EXPECT_EQ(late.get(30s), 2);
    worker.stop();
    w2.get();
}

RINGLET_TEST(RedisTaskQueueTest, ThousandConcurrentSubmitsOnOneThread) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    redis::TaskQueue submitter(connect(server.port()), "many", {.max_connections = 8});
    redis::TaskQueue worker(connect(server.port()), "many");
    register_all(worker);
    auto w = spawn([&] { worker.work(8); });
    Group g;
    long long total = 0;
    for (int i = 0; i < 1000; ++i) {
        g.spawn([&, i] { total += submitter.submit<int>("add", i, 1).get(60s); });
    }
    g.join();
    EXPECT_EQ(total, 999LL * 1000 / 2 + 1000);
    worker.stop();
    w.get();
}

RINGLET_TEST(RedisTaskQueueTest, DuplicateResultOfAReRunIsIgnored) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    g_port = server.port();
    const redis::TaskQueueOptions opts{.visibility_timeout = 200ms, .prefetch = 1};
    redis::TaskQueue submitter(connect(server.port()), "dup", opts);
    redis::TaskQueue w1(connect(server.port()), "dup", opts),
        w2(connect(server.port()), "dup", opts);
    register_all(w1);
    register_all(w2);
    auto t1 = spawn([&] { w1.work(1); });
    auto t2 = spawn([&] { w2.work(1); });
    auto r = submitter.submit<int>("outlives_visibility", 5);
    // The re-run finishes first (5); the original's late 1005 is dropped.
    EXPECT_EQ(r.get(30s), 5);
    redis::Client c = connect(server.port());
    c.rpush("dup-go", "1");  // now the first run finishes, with 1005
    // stop() lets each worker finish the entry it holds: both runs end.
    w1.stop();
    w2.stop();
    t1.get();
    t2.get();
    EXPECT_EQ(w1.executed() + w2.executed(), 2u);
    EXPECT_EQ(c.get("runs"), "2");
    EXPECT_TRUE(c.get("dup:result:" + r.id()).has_value());
    EXPECT_EQ(c.xpending("dup:tasks", "workers").count, 0);
    EXPECT_EQ(r.get(), 5);
}

RINGLET_TEST(RedisTaskQueueTest, MaxDeliveriesGivesDeadLetter) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    g_port = server.port();
    const std::uint16_t port = server.port();
    const redis::TaskQueueOptions opts{
        .visibility_timeout = 100ms, .max_deliveries = 2, .prefetch = 1};
    redis::TaskQueue submitter(connect(port), "dl", opts);
    auto r = submitter.submit<int>("never_finishes", 1);
    redis::Client c = connect(port);
    // Two deliveries, each to a worker process killed mid-task.
    for (int i = 0; i < 2; ++i) {
        ipc::Process worker([port, opts] {
            redis::TaskQueue tq(redis::Client::connect("127.0.0.1", port), "dl", opts);
            register_all(tq);
            tq.work(1);
        });
        worker.start();
        ASSERT_TRUE(c.blpop(std::vector<std::string>{"dl-started"}, 30s));
        worker.kill();
        worker.join();
    }
    // The third delivery goes to the dead-letter stream instead of running.
    redis::TaskQueue last(connect(port), "dl", opts);
    register_all(last);
    auto w = spawn([&] { last.work(1); });
    try {
        r.get(30s);
        FAIL() << "DeadLetter expected";
    } catch (const redis::DeadLetter& e) {
        EXPECT_NE(std::string(e.what()).find("never_finishes"), std::string::npos) << e.what();
    }
    EXPECT_EQ(last.dead_letter_count(), 1u);
    auto dead = c.xrange(last.dead_letter_stream());
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0].field("id"), r.id());
    EXPECT_EQ(dead[0].field("fn"), "never_finishes");
    EXPECT_EQ(c.llen("dl-started"), 0);  // it did not run a third time
    last.stop();
    w.get();
}

// The worker process is SIGKILLed mid-task 50 times in a row; every task's
// result arrives exactly once and none is lost.
RINGLET_TEST(RedisTaskQueueTest, WorkerKilledFiftyTimesLosesNothing) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    g_port = server.port();
    const std::uint16_t port = server.port();
    const redis::TaskQueueOptions opts{
        .visibility_timeout = 100ms, .max_deliveries = 5, .prefetch = 1};
    redis::TaskQueue submitter(connect(port), "kill50", opts);
    constexpr int tasks = 50;
    std::vector<redis::AsyncResult<int>> results;
    for (int i = 0; i < tasks; ++i) results.push_back(submitter.submit<int>("slow_first_time", i));
    redis::Client c = connect(port);
    std::set<std::string> killed_in;
    for (int round = 0; round < tasks; ++round) {
        ipc::Process worker([port, opts] {
            redis::TaskQueue tq(redis::Client::connect("127.0.0.1", port), "kill50", opts);
            register_all(tq);
            tq.work(1);
        });
        worker.start();
        auto started = c.blpop(std::vector<std::string>{"started"}, 60s);
        ASSERT_TRUE(started) << "round " << round;
        killed_in.insert(started->second);
        worker.kill();
        worker.join();
        EXPECT_EQ(worker.exitcode(), -SIGKILL);
    }
    EXPECT_EQ(killed_in.size(), static_cast<std::size_t>(tasks));  // each task died once
    // A healthy worker finishes everything that was reclaimed.
    redis::TaskQueue finisher(connect(port), "kill50", opts);
    register_all(finisher);
    auto w = spawn([&] { finisher.work(4); });
    for (int i = 0; i < tasks; ++i) EXPECT_EQ(results[i].get(60s), i * 2);
    finisher.stop();
    w.get();
    for (int i = 0; i < tasks; ++i) {
        EXPECT_EQ(c.get("completions:" + std::to_string(i)), "1") << i;  // ran to the end once
    }
    EXPECT_EQ(c.xpending("kill50:tasks", "workers").count, 0);
    EXPECT_EQ(c.xlen("kill50:tasks"), 0);
}
