// tests/redis/redis_pool_queue_test.cpp — ConnectionPool (bounded, shared by
// many tasks, broken connections replaced, reconnect after a server restart)
// and Queue<T> (reliable delivery, recover(), no acknowledged item lost when
// the server is killed and restarted).
#include <set>

#include <ringlet/event.hpp>
#include <ringlet/group.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/redis.hpp>

#include "redis_server.hpp"
#include "ringlet_test.hpp"

using namespace ringlet;
using namespace std::chrono_literals;

RINGLET_TEST(RedisPoolTest, ThousandTasksShareABoundedPool) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    redis::ConnectionPool pool("127.0.0.1", server.port(), {.max_connections = 8});
    std::size_t max_lent = 0;
    Group g;
    for (int i = 0; i < 1000; ++i) {
        g.spawn([&, i] {
            auto c = pool.get();
            max_lent = std::max(max_lent, pool.lent_count());
            const std::string key = "t" + std::to_string(i);
            c->set(key, std::to_string(i));
            EXPECT_GT(c->incr("total"), 0);
            EXPECT_GT(c->incrby("total", 1), 1);
            EXPECT_EQ(c->get(key), std::to_string(i));
        });
    }
    g.join();
    EXPECT_LE(max_lent, 8u);
    EXPECT_EQ(pool.lent_count(), 0u);
    EXPECT_LE(pool.connects(), 8u);
    EXPECT_EQ(pool.get()->get("total"), "2000");
    EXPECT_THROW(redis::ConnectionPool("127.0.0.1", 1, {.max_connections = 0}), UsageError);
}

RINGLET_TEST(RedisPoolTest, BrokenConnectionIsReplaced) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    redis::ConnectionPool pool("127.0.0.1", server.port(), {.max_connections = 1});
    {
        auto c = pool.get();
        c->set("k", "v");
        c->close();  // as after a failed call
    }
    EXPECT_EQ(pool.idle_count(), 0u);  // dropped, not kept
    EXPECT_EQ(pool.get()->get("k"), "v");
    EXPECT_EQ(pool.connects(), 2u);
    EXPECT_EQ(pool.idle_count(), 1u);
}

RINGLET_TEST(RedisPoolTest, ReconnectsWithBackoffAfterServerRestart) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    redis::ConnectionPool pool("127.0.0.1", server.port(), {.max_connections = 4});
    pool.get()->set("before", "1");
    server.kill();
    // The idle connection is stale: a clear ConnectionError.
    EXPECT_THROW(pool.get()->ping(), redis::ConnectionError);
    // While the server is down, get() retries with backoff; it comes back.
    Event retrying;
    auto restarter = spawn([&] {
        retrying.wait();
        EXPECT_TRUE(server.restart()) << server.error();
    });
    auto user = spawn([&] {
        retrying.set();
        return pool.get()->ping();
    });
    EXPECT_EQ(user.get(), "PONG");
    restarter.get();
    EXPECT_GE(pool.connects(), 2u);
    // Down for longer than reconnect_timeout: ConnectionError.
    server.kill();
    redis::ConnectionPool quick("127.0.0.1", server.port(), {.reconnect_timeout = 50ms});
    EXPECT_THROW(quick.get(), redis::ConnectionError);
}

RINGLET_TEST(RedisQueueTest, PutGetAckRecover) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    redis::ConnectionPool pool("127.0.0.1", server.port());
    using Job = std::pair<std::string, std::vector<int>>;
    redis::Queue<Job> producer(pool, "jobs", "producer");
    redis::Queue<Job> alice(pool, "jobs", "alice");
    redis::Queue<Job> bob(pool, "jobs", "bob");
    EXPECT_EQ(alice.consumer(), "alice");
    EXPECT_EQ(alice.name(), "jobs");
    for (int i = 0; i < 5; ++i) producer.put(Job{"job" + std::to_string(i), {i, i * i}});
    EXPECT_EQ(producer.size(), 5u);
    auto a0 = alice.get(1s);
    ASSERT_TRUE(a0);
    EXPECT_EQ(a0->value.first, "job0");  // FIFO
    EXPECT_EQ(a0->value.second, (std::vector<int>{0, 0}));
    EXPECT_EQ(alice.processing(), 1u);
    EXPECT_TRUE(alice.ack(*a0));
    EXPECT_FALSE(alice.ack(*a0));
    EXPECT_EQ(alice.processing(), 0u);
    // alice takes two and "dies"; bob recovers them, in order, at the head.
    auto a1 = alice.get(1s);
    auto a2 = alice.get(1s);
    ASSERT_TRUE(a1 && a2);
    EXPECT_EQ(bob.processing("alice"), 2u);
    EXPECT_EQ(bob.recover("alice"), 2u);
    EXPECT_EQ(bob.processing("alice"), 0u);
    std::vector<std::string> order;
    while (auto item = bob.get(10ms)) {
        order.push_back(item->value.first);
        bob.ack(*item);
    }
    EXPECT_EQ(order, (std::vector<std::string>{"job1", "job2", "job3", "job4"}));
    EXPECT_EQ(bob.get(10ms), std::nullopt);
    // recover() with no argument: this consumer's own list (a restart).
    producer.put(Job{"again", {}});
    ASSERT_TRUE(bob.get(1s));
    EXPECT_EQ(bob.recover(), 1u);
    EXPECT_EQ(bob.size(), 1u);
    auto again = bob.get(1s);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->value.first, "again");
    EXPECT_TRUE(bob.ack(*again));
    // Bytes that are not a Job: CodecError, and they stay in processing.
    pool.get()->lpush("jobs", "junk");
    EXPECT_THROW(bob.get(1s), ipc::CodecError);
    EXPECT_EQ(bob.processing(), 1u);
    EXPECT_NE(redis::default_consumer_name().find(std::to_string(::getpid())), std::string::npos);
}

RINGLET_TEST(RedisQueueTest, GetWaitsForAPut) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    redis::ConnectionPool pool("127.0.0.1", server.port());
    redis::Queue<int> q(pool, "ints", "c");
    auto consumer = spawn([&] { return q.get()->value; });
    yield();
    q.put(42);
    EXPECT_EQ(consumer.get(), 42);
}

// A consumer process SIGKILLed while holding an item: recover() gets it back.
RINGLET_TEST(RedisQueueTest, KilledConsumerItemIsRecovered) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    const std::uint16_t port = server.port();
    redis::ConnectionPool pool("127.0.0.1", port);
    redis::Queue<int> q(pool, "work", "parent");
    q.put(7);
    ipc::Process child([port] {
        redis::ConnectionPool p("127.0.0.1", port);
        redis::Queue<int> mine(p, "work", "doomed");
        auto item = mine.get(5s);
        if (!item) std::_Exit(3);
        p.get()->rpush("child-took", "yes");
        ringlet::sleep(1h);  // killed before ack
    });
    child.start();
    redis::Client watcher = redis::Client::connect("127.0.0.1", port);
    // Wait until the child holds the item (it pushes a flag after its get).
    auto flag = watcher.blpop(std::vector<std::string>{"child-took"}, 30s);
    ASSERT_TRUE(flag);
    child.kill();
    child.join();
    EXPECT_EQ(q.processing("doomed"), 1u);
    EXPECT_EQ(q.recover("doomed"), 1u);
    auto item = q.get(1s);
    ASSERT_TRUE(item);
    EXPECT_EQ(item->value, 7);
}

// redis-server SIGKILLed and restarted mid-run (with an fsync-always AOF so
// that what it acknowledged survives): producers and consumers see a clear
// ConnectionError, retry, and no acknowledged item is lost.
RINGLET_TEST(RedisQueueTest, ServerRestartLosesNoAcknowledgedItem) {
    test::RedisServer server;
    std::vector<std::string> aof = {"--appendonly", "yes", "--appendfsync", "always"};
    REDIS_SERVER_OR_SKIP(server, aof);
    redis::ConnectionPool pool("127.0.0.1", server.port(), {.max_connections = 4});
    redis::Queue<int> q(pool, "durable", "consumer");
    constexpr int total = 400;
    std::set<int> acknowledged;  // put() returned
    std::set<int> received;
    std::size_t producer_errors = 0, consumer_errors = 0;
    Event half_way, restarted;
    auto producer = spawn([&] {
        for (int i = 0; i < total; ++i) {
            if (i == total / 2) {
                half_way.set();
                restarted.wait();
            }
            for (;;) {
                try {
                    q.put(i);
                    acknowledged.insert(i);
                    break;
                } catch (const redis::ConnectionError&) {
                    ++producer_errors;  // unknown outcome: put again (at-least-once)
                } catch (const std::exception& e) {
                    ADD_FAILURE() << "producer stopped by: " << e.what();
                    throw;
                }
            }
        }
    });
    auto consumer = spawn([&] {
        while (received.size() < static_cast<std::size_t>(total)) {
            try {
                auto item = q.get(200ms);
                if (!item) continue;
                received.insert(item->value);
                q.ack(*item);
            } catch (const redis::ConnectionError&) {
                ++consumer_errors;
            } catch (const std::exception& e) {
                ADD_FAILURE() << "consumer stopped by: " << e.what();
                throw;
            }
        }
    });
    half_way.wait();
    server.kill();
    // A call now gets a clear ConnectionError.
    EXPECT_THROW(pool.get()->ping(), redis::ConnectionError);
    ASSERT_TRUE(server.restart()) << server.error();
    // Items a consumer had moved but not acked before the crash go back.
    q.recover();
    restarted.set();
    producer.get();
    ASSERT_TRUE(consumer.join(60s));
    EXPECT_EQ(acknowledged.size(), static_cast<std::size_t>(total));
    for (int i : acknowledged) EXPECT_TRUE(received.count(i)) << "lost item " << i;
    EXPECT_GE(consumer_errors + producer_errors + 1, 1u);
}
