// tests/redis/redis_client_test.cpp — Client against a real redis-server:
// every typed helper, Reply kinds, pipelines, SELECT, AUTH, Unix sockets,
// pub/sub, and the failure modes (error replies, wrong password, a silent
// server, a reply cut by a proxy, cancellation mid-call).
#include <set>

#include <ringlet/event.hpp>
#include <ringlet/group.hpp>
#include <ringlet/net/tcp.hpp>
#include <ringlet/redis.hpp>

#include "redis_server.hpp"
#include "ringlet_test.hpp"

using namespace ringlet;
using namespace std::chrono_literals;
using redis::Client;

RINGLET_TEST(RedisClientTest, PingAndReplyKinds) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    Client c = Client::connect("127.0.0.1", server.port());
    EXPECT_TRUE(c.is_connected());
    EXPECT_EQ(c.ping(), "PONG");
    EXPECT_EQ(c.endpoint().port, server.port());

    redis::Reply status = c.command({"SET", "k", "v"});
    EXPECT_TRUE(status.is_status());
    EXPECT_EQ(status.as_string(), "OK");
    redis::Reply str = c.command({"GET", "k"});
    EXPECT_TRUE(str.is_string());
    EXPECT_EQ(str.as_string(), "v");
    redis::Reply nil = c.command({"GET", "missing"});
    EXPECT_TRUE(nil.is_nil());
    EXPECT_EQ(nil.as_optional_string(), std::nullopt);
    redis::Reply integer = c.command({"INCR", "n"});
    EXPECT_TRUE(integer.is_integer());
    EXPECT_EQ(integer.as_integer(), 1);
    redis::Reply array = c.command(std::vector<std::string>{"MGET", "k", "missing"});
    ASSERT_TRUE(array.is_array());
    ASSERT_EQ(array.size(), 2u);
    EXPECT_EQ(array[0].as_string(), "v");
    EXPECT_TRUE(array[1].is_nil());
    // Wrong kinds throw redis::Error naming them.
    EXPECT_THROW(str.as_integer(), redis::Error);
    EXPECT_THROW(integer.as_array(), redis::Error);
    // An error reply is returned by command(), thrown by as_* and the helpers.
    redis::Reply err = c.command({"NOSUCHCOMMAND"});
    EXPECT_TRUE(err.is_error());
    EXPECT_NE(err.error_text().find("unknown command"), std::string::npos);
    EXPECT_THROW(err.as_string(), redis::Error);
    c.set("list-key", "x");
    try {
        c.lpush("list-key", "y");
        FAIL() << "WRONGTYPE expected";
    } catch (const redis::Error& e) {
        EXPECT_NE(std::string(e.what()).find("WRONGTYPE"), std::string::npos);
    }
    EXPECT_EQ(c.ping(), "PONG");  // still in step after the error replies
    // Binary-safe values (NUL, CR LF inside).
    const std::string binary("a\0b\r\nc", 6);
    c.set("bin", binary);
    EXPECT_EQ(c.get("bin"), binary);
    EXPECT_EQ(redis::Reply::make_integer(5).describe(), "5");
}

RINGLET_TEST(RedisClientTest, StringHelpers) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    Client c = Client::connect("127.0.0.1", server.port());
    EXPECT_TRUE(c.set("a", "1"));
    EXPECT_FALSE(c.set("a", "2", {.nx = true}));
    EXPECT_TRUE(c.set("a", "3", {.xx = true}));
    EXPECT_FALSE(c.set("none", "3", {.xx = true}));
    EXPECT_EQ(c.get("a"), "3");
    EXPECT_EQ(c.get("none"), std::nullopt);
    EXPECT_TRUE(c.set("ttl", "x", {.ttl = 100s}));
    auto ttl = c.pttl("ttl");
    ASSERT_TRUE(ttl);
    EXPECT_GT(ttl->count(), 0);
    EXPECT_LE(ttl->count(), 100000);
    c.mset({{"m1", "x"}, {"m2", "y"}});
    const std::vector<std::string> keys = {"m1", "nope", "m2"};
    auto got = c.mget(keys);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], "x");
    EXPECT_EQ(got[1], std::nullopt);
    EXPECT_EQ(got[2], "y");
    EXPECT_EQ(c.incr("cnt"), 1);
    EXPECT_EQ(c.incrby("cnt", 10), 11);
    EXPECT_EQ(c.decr("cnt"), 10);
    EXPECT_EQ(c.append("s", "ab"), 2);
    EXPECT_EQ(c.append("s", "cd"), 4);
    EXPECT_EQ(c.strlen("s"), 4);
    EXPECT_EQ(c.getdel("s"), "abcd");
    EXPECT_EQ(c.getdel("s"), std::nullopt);
    c.set("notint", "abc");
    EXPECT_THROW(c.incr("notint"), redis::Error);
}

RINGLET_TEST(RedisClientTest, KeyHelpers) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    Client c = Client::connect("127.0.0.1", server.port());
    c.set("k1", "v");
    c.set("k2", "v");
    EXPECT_EQ(c.exists({"k1", "k2", "k3"}), 2);
    EXPECT_EQ(c.type("k1"), "string");
    EXPECT_EQ(c.type("k3"), "none");
    EXPECT_TRUE(c.expire("k1", 50s));
    EXPECT_FALSE(c.expire("k3", 50s));
    EXPECT_TRUE(c.pttl("k1").has_value());
    EXPECT_TRUE(c.persist("k1"));
    EXPECT_EQ(c.pttl("k1"), std::nullopt);
    c.rename("k2", "k4");
    EXPECT_EQ(c.get("k4"), "v");
    EXPECT_THROW(c.rename("nothing", "x"), redis::Error);
    auto ks = c.keys("k*");
    EXPECT_EQ(std::set<std::string>(ks.begin(), ks.end()), (std::set<std::string>{"k1", "k4"}));
    EXPECT_EQ(c.del({"k1", "k4", "k9"}), 2);
    EXPECT_EQ(c.exists({"k1"}), 0);
    c.set("x", "1");
    c.flushdb();
    EXPECT_EQ(c.exists({"x"}), 0);
}

RINGLET_TEST(RedisClientTest, ListHelpers) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    Client c = Client::connect("127.0.0.1", server.port());
    const std::vector<std::string> abc = {"a", "b", "c"};
    EXPECT_EQ(c.rpush("l", abc), 3);
    EXPECT_EQ(c.lpush("l", "z"), 4);
    EXPECT_EQ(c.rpush("l", "d"), 5);
    EXPECT_EQ(c.lpush("l", std::vector<std::string>{"y"}), 6);
    EXPECT_EQ(c.lrange("l", 0, -1), (std::vector<std::string>{"y", "z", "a", "b", "c", "d"}));
    EXPECT_EQ(c.llen("l"), 6);
    EXPECT_EQ(c.lpop("l"), "y");
    EXPECT_EQ(c.rpop("l"), "d");
    EXPECT_EQ(c.lpop("l", 2), (std::vector<std::string>{"z", "a"}));
    EXPECT_EQ(c.lpop("empty", 2), std::vector<std::string>{});
    EXPECT_EQ(c.lpop("empty"), std::nullopt);
    c.rpush("r", std::vector<std::string>{"x", "y", "x"});
    EXPECT_EQ(c.lrem("r", 0, "x"), 2);
    EXPECT_EQ(c.lmove("l", "m", redis::End::left, redis::End::right), "b");
    EXPECT_EQ(c.lrange("m", 0, -1), std::vector<std::string>{"b"});
    EXPECT_EQ(c.blmove("l", "m", redis::End::left, redis::End::left, 1s), "c");
    EXPECT_EQ(c.lrange("m", 0, -1), (std::vector<std::string>{"c", "b"}));
    // Empty source: the blocking forms time out with nullopt.
    EXPECT_EQ(c.blmove("l", "m", redis::End::left, redis::End::left, 50ms), std::nullopt);
    const std::vector<std::string> lists = {"q1", "q2"};
    EXPECT_EQ(c.blpop(lists, 50ms), std::nullopt);
    EXPECT_EQ(c.brpop(lists, 50ms), std::nullopt);
    c.rpush("q2", std::vector<std::string>{"first", "last"});
    auto popped = c.blpop(lists, 1s);
    ASSERT_TRUE(popped);
    EXPECT_EQ(popped->first, "q2");
    EXPECT_EQ(popped->second, "first");
    popped = c.brpop(lists, 1s);
    ASSERT_TRUE(popped);
    EXPECT_EQ(popped->second, "last");
    // A blocking pop is woken by a push from another connection (another task).
    Client other = Client::connect("127.0.0.1", server.port());
    auto pusher = spawn([&] { other.rpush("q1", "woken"); });
    popped = c.blpop(lists, forever);
    ASSERT_TRUE(popped);
    EXPECT_EQ(popped->second, "woken");
    pusher.get();
}

RINGLET_TEST(RedisClientTest, HashHelpers) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    Client c = Client::connect("127.0.0.1", server.port());
    EXPECT_EQ(c.hset("h", "f1", "v1"), 1);
    EXPECT_EQ(c.hset("h", "f1", "v1b"), 0);
    EXPECT_EQ(c.hset("h", redis::FieldValues{{"f2", "v2"}, {"f3", "v3"}}), 2);
    EXPECT_EQ(c.hget("h", "f1"), "v1b");
    EXPECT_EQ(c.hget("h", "nope"), std::nullopt);
    EXPECT_TRUE(c.hexists("h", "f2"));
    EXPECT_FALSE(c.hexists("h", "f9"));
    EXPECT_EQ(c.hlen("h"), 3);
    auto all = c.hgetall("h");
    EXPECT_EQ(all.size(), 3u);
    EXPECT_EQ(all["f3"], "v3");
    auto fields = c.hkeys("h");
    EXPECT_EQ(std::set<std::string>(fields.begin(), fields.end()),
              (std::set<std::string>{"f1", "f2", "f3"}));
    EXPECT_EQ(c.hincrby("h", "n", 5), 5);
    EXPECT_EQ(c.hincrby("h", "n", -2), 3);
    EXPECT_EQ(c.hdel("h", {"f1", "f2", "zz"}), 2);
    EXPECT_EQ(c.hlen("h"), 2);
    EXPECT_TRUE(c.hgetall("missing").empty());
}

RINGLET_TEST(RedisClientTest, StreamHelpers) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    Client c = Client::connect("127.0.0.1", server.port());
    EXPECT_TRUE(c.xgroup_create("s", "g", "0"));
    EXPECT_FALSE(c.xgroup_create("s", "g", "0"));  // BUSYGROUP
    const std::string id1 = c.xadd("s", {{"k", "1"}});
    const std::string id2 = c.xadd("s", {{"k", "2"}, {"extra", "e"}});
    EXPECT_NE(id1, id2);
    EXPECT_EQ(c.xadd("s", {{"k", "3"}}, "*", 1000).empty(), false);
    EXPECT_EQ(c.xlen("s"), 3);
    auto range = c.xrange("s");
    ASSERT_EQ(range.size(), 3u);
    EXPECT_EQ(range[0].id, id1);
    EXPECT_EQ(range[1].field("extra"), "e");
    EXPECT_EQ(range[1].field("none"), std::nullopt);
    EXPECT_EQ(c.xrange("s", "-", "+", 1).size(), 1u);

    auto read = c.xreadgroup("g", "alice", "s", 2);
    ASSERT_EQ(read.size(), 2u);
    EXPECT_EQ(read[0].id, id1);
    EXPECT_EQ(read[0].field("k"), "1");
    auto summary = c.xpending("s", "g");
    EXPECT_EQ(summary.count, 2);
    EXPECT_EQ(summary.min_id, id1);
    EXPECT_EQ(summary.max_id, id2);
    ASSERT_EQ(summary.consumers.size(), 1u);
    EXPECT_EQ(summary.consumers[0].first, "alice");
    EXPECT_EQ(summary.consumers[0].second, 2);
    auto detail = c.xpending("s", "g", "-", "+", 10);
    ASSERT_EQ(detail.size(), 2u);
    EXPECT_EQ(detail[0].consumer, "alice");
    EXPECT_EQ(detail[0].deliveries, 1);
    EXPECT_EQ(c.xpending("s", "g", "-", "+", 10, "bob").size(), 0u);
    EXPECT_EQ(c.xack("s", "g", id1), 1);
    // bob takes alice's remaining entry over with XAUTOCLAIM (min idle 0).
    auto claim = c.xautoclaim("s", "g", "bob", 0ms);
    ASSERT_EQ(claim.entries.size(), 1u);
    EXPECT_EQ(claim.entries[0].id, id2);
    EXPECT_EQ(claim.next, "0-0");
    auto after = c.xpending("s", "g", "-", "+", 10);
    ASSERT_EQ(after.size(), 1u);
    EXPECT_EQ(after[0].consumer, "bob");
    EXPECT_EQ(after[0].deliveries, 2);
    EXPECT_EQ(c.xack("s", "g", std::vector<std::string>{id2}), 1);
    // Nothing new: a non-blocking read is empty; a blocking one times out empty.
    auto third = c.xreadgroup("g", "alice", "s", 10);
    EXPECT_EQ(third.size(), 1u);
    EXPECT_TRUE(c.xreadgroup("g", "alice", "s", 10).empty());
    EXPECT_TRUE(c.xreadgroup("g", "alice", "s", 10, 20ms).empty());
    // Re-reading one's own pending entries (id "0").
    EXPECT_EQ(c.xreadgroup("g", "alice", "s", 10, {}, "0").size(), 1u);
    EXPECT_EQ(c.xdel("s", {id1}), 1);
    EXPECT_EQ(c.xlen("s"), 2);
    EXPECT_THROW(c.xpending("s", "nogroup-here", "-", "+", 1), redis::Error);
}

RINGLET_TEST(RedisClientTest, EvalRunsAScript) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    Client c = Client::connect("127.0.0.1", server.port());
    const std::vector<std::string> keys = {"ek"}, args = {"41"};
    redis::Reply r = c.eval(
        "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[1])", keys, args);
    EXPECT_EQ(r.as_integer(), 42);
    EXPECT_THROW(c.eval("return redis.call('NOPE')", {}, {}), redis::Error);
}

RINGLET_TEST(RedisClientTest, PipelineOfTenThousandCommands) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    Client c = Client::connect("127.0.0.1", server.port());
    auto p = c.pipeline();
    for (int i = 0; i < 10000; ++i) {
        const std::string k = "p" + std::to_string(i);
        p.add({"SET", k, std::to_string(i * 3)});
    }
    p.add({"NOSUCHCOMMAND"});
    for (int i = 0; i < 10000; ++i) p.add(std::vector<std::string>{"GET", "p" + std::to_string(i)});
    EXPECT_EQ(p.size(), 20001u);
    auto replies = p.execute();
    ASSERT_EQ(replies.size(), 20001u);
    EXPECT_EQ(p.size(), 0u);
    for (int i = 0; i < 10000; ++i) EXPECT_EQ(replies[i].as_string(), "OK");
    EXPECT_TRUE(replies[10000].is_error());  // in place, not thrown
    for (int i = 0; i < 10000; ++i) {
        ASSERT_EQ(replies[10001 + i].as_string(), std::to_string(i * 3)) << i;
    }
    EXPECT_TRUE(p.execute().empty());
    EXPECT_EQ(c.ping(), "PONG");
}

RINGLET_TEST(RedisClientTest, SelectChoosesTheDatabase) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    Client c = Client::connect("127.0.0.1", server.port());
    c.set("where", "db0");
    c.select(3);
    EXPECT_EQ(c.get("where"), std::nullopt);
    c.set("where", "db3");
    Client three = Client::connect("127.0.0.1", server.port(), {.db = 3});
    EXPECT_EQ(three.get("where"), "db3");
    // The database is kept across a reconnect.
    three.close();
    EXPECT_FALSE(three.is_connected());
    EXPECT_EQ(three.get("where"), "db3");
    EXPECT_TRUE(three.is_connected());
    EXPECT_THROW(c.select(100000), redis::Error);
}

RINGLET_TEST(RedisClientTest, UnixSocket) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    Client c = Client::connect_unix(server.unix_path());
    EXPECT_EQ(c.ping(), "PONG");
    c.set("via", "unix");
    Client tcp = Client::connect("127.0.0.1", server.port());
    EXPECT_EQ(tcp.get("via"), "unix");
}

RINGLET_TEST(RedisClientTest, AuthWithPasswordAndAclUser) {
    test::RedisServer server;
    std::vector<std::string> args = {"--requirepass", "s3cret"};
    REDIS_SERVER_OR_SKIP(server, args);
    // No password: commands meet NOAUTH, reported as AuthError.
    Client anon = Client::connect("127.0.0.1", server.port());
    EXPECT_THROW(anon.get("x"), redis::AuthError);
    // Wrong password at connect.
    EXPECT_THROW(Client::connect("127.0.0.1", server.port(), {.password = "wrong"}),
                 redis::AuthError);
    Client ok = Client::connect("127.0.0.1", server.port(), {.password = "s3cret"});
    EXPECT_EQ(ok.ping(), "PONG");
    // An ACL user with its own password.
    ok.command({"ACL", "SETUSER", "worker", "on", ">wpass", "~*", "+@all"}).throw_if_error();
    Client user =
        Client::connect("127.0.0.1", server.port(), {.user = "worker", .password = "wpass"});
    EXPECT_EQ(user.ping(), "PONG");
    EXPECT_THROW(
        Client::connect("127.0.0.1", server.port(), {.user = "worker", .password = "nope"}),
        redis::AuthError);
    // auth() on a live connection.
    EXPECT_THROW(anon.auth("bad"), redis::AuthError);
    anon.auth("s3cret");
    EXPECT_EQ(anon.ping(), "PONG");
    anon.auth("worker", "wpass");
    anon.close();
    EXPECT_EQ(anon.ping(), "PONG");  // reconnects with the credentials auth() set
}

RINGLET_TEST(RedisClientTest, ConnectRefusedIsConnectionError) {
    std::uint16_t port;
    {
        auto l = net::TcpListener::bind("127.0.0.1", 0);
        port = l.port();
    }
    EXPECT_THROW(Client::connect("127.0.0.1", port), redis::ConnectionError);
    EXPECT_THROW(Client::connect_unix("/nonexistent/redis.sock"), redis::ConnectionError);
}

RINGLET_TEST(RedisClientTest, SilentServerTimesOut) {
    // A listening socket that accepts and never answers.
    auto listener = net::TcpListener::bind("127.0.0.1", 0);
    std::vector<net::TcpStream> held;
    auto acceptor = spawn([&] {
        for (;;) held.push_back(listener.accept());
    });
    Client c = Client::connect("127.0.0.1", listener.port(), {.timeout = 100ms});
    EXPECT_THROW(c.ping(), TimeoutError);
    EXPECT_FALSE(c.is_connected());  // closed: no late reply can be misread
    // An enclosing Timeout works the same on a client without its own.
    Client d = Client::connect("127.0.0.1", listener.port());
    EXPECT_THROW(with_timeout(50ms, [&] { return d.get("x"); }), TimeoutError);
    EXPECT_FALSE(d.is_connected());
    // AUTH during connect is bounded by connect_timeout.
    EXPECT_THROW(
        Client::connect("127.0.0.1", listener.port(), {.password = "pw", .connect_timeout = 100ms}),
        TimeoutError);
    acceptor.cancel();
    acceptor.join();
}

RINGLET_TEST(RedisClientTest, ReplyCutByAProxyIsConnectionError) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    Client setup = Client::connect("127.0.0.1", server.port());
    setup.set("big", std::string(100000, 'x'));
    // The proxy forwards the request, then only the first 1000 bytes of the
    // reply, then closes both sides.
    auto listener = net::TcpListener::bind("127.0.0.1", 0);
    auto proxy = spawn([&] {
        for (;;) {
            net::TcpStream down = listener.accept();
            net::TcpStream up = net::TcpStream::connect("127.0.0.1", server.port());
            char buf[65536];
            const std::size_t n = down.read(buf, sizeof buf);
            up.write_all(std::string_view(buf, n));
            std::size_t sent = 0;
            while (sent < 1000) {
                const std::size_t m = up.read(buf, std::min<std::size_t>(sizeof buf, 1000 - sent));
                if (m == 0) break;
                down.write_all(std::string_view(buf, m));
                sent += m;
            }
        }
    });
    Client c = Client::connect("127.0.0.1", listener.port());
    try {
        c.get("big");
        FAIL() << "a cut reply must fail";
    } catch (const redis::ConnectionError& e) {
        EXPECT_NE(std::string(e.what()).find("closed"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(c.is_connected());
    // The next call reconnects (through the proxy again, cut again).
    EXPECT_THROW(c.get("big"), redis::ConnectionError);
    proxy.cancel();
    proxy.join();
}

RINGLET_TEST(RedisClientTest, GarbageFromTheServerIsConnectionError) {
    auto listener = net::TcpListener::bind("127.0.0.1", 0);
    auto fake = spawn([&] {
        net::TcpStream s = listener.accept();
        char buf[256];
        (void)s.read(buf, sizeof buf);
        s.write_all("!not resp at all\r\n");
        (void)s.read(buf, sizeof buf);
    });
    Client c = Client::connect("127.0.0.1", listener.port());
    try {
        c.ping();
        FAIL() << "garbage must fail";
    } catch (const redis::ConnectionError& e) {
        EXPECT_NE(std::string(e.what()).find("protocol error"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(c.is_connected());
    fake.join();
}

// A restarted server answers LOADING until its dataset is read: the client
// sends the command again (it never ran) until loading_timeout.
RINGLET_TEST(RedisClientTest, LoadingServerIsWaitedFor) {
    auto listener = net::TcpListener::bind("127.0.0.1", 0);
    const std::string ping = "*1\r\n$4\r\nPING\r\n";
    int requests = 0;
    auto fake = spawn([&] {
        for (int conn = 0; conn < 2; ++conn) {
            net::TcpStream s = listener.accept();
            std::string in;
            char buf[256];
            for (;;) {
                while (in.size() < ping.size()) {
                    const std::size_t n = s.read(buf, sizeof buf);
                    if (n == 0) break;
                    in.append(buf, n);
                }
                if (in.size() < ping.size()) break;  // the client closed
                EXPECT_EQ(in.substr(0, ping.size()), ping);
                in.erase(0, ping.size());
                ++requests;
                // The first connection is let through on its fourth try.
                s.write_all(conn == 0 && requests == 4
                                ? std::string_view("+PONG\r\n")
                                : std::string_view("-LOADING Redis is loading the dataset in memory\r\n"));
            }
        }
    });
    {
        Client c = Client::connect("127.0.0.1", listener.port());
        EXPECT_EQ(c.ping(), "PONG");
        EXPECT_EQ(requests, 4);
        EXPECT_TRUE(c.is_connected());
    }
    // With loading_timeout zero the refusal is the reply, as redis::Error.
    Client d = Client::connect("127.0.0.1", listener.port(), {.loading_timeout = 0ms});
    try {
        d.ping();
        FAIL() << "LOADING must be an error once loading_timeout has passed";
    } catch (const redis::Error& e) {
        EXPECT_TRUE(std::string_view(e.what()).starts_with("LOADING")) << e.what();
    }
    EXPECT_EQ(requests, 5);
    EXPECT_TRUE(d.is_connected());  // an error reply keeps the connection
    d.close();
    fake.join();
}

RINGLET_TEST(RedisClientTest, CancelledCallLeavesTheClientInStep) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    Client c = Client::connect("127.0.0.1", server.port());
    c.set("k", "value");
    Event started;
    auto waiter = spawn([&] {
        started.set();
        return c.blpop(std::vector<std::string>{"never"}, forever);
    });
    started.wait();
    yield();
    waiter.cancel();
    EXPECT_TRUE(waiter.join(5s));
    EXPECT_TRUE(waiter.cancelled());
    // The BLPOP's reply (if any) can never reach the next command.
    Client pusher = Client::connect("127.0.0.1", server.port());
    pusher.rpush("never", "late");
    EXPECT_EQ(c.get("k"), "value");
    EXPECT_EQ(c.ping(), "PONG");
}

RINGLET_TEST(RedisClientTest, SecondTaskOnABusyClientIsUsageError) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    Client c = Client::connect("127.0.0.1", server.port());
    Event started;
    auto blocker = spawn([&] {
        started.set();
        return c.blpop(std::vector<std::string>{"l"}, 2s);
    });
    started.wait();
    yield();
    EXPECT_THROW(c.ping(), UsageError);
    Client other = Client::connect("127.0.0.1", server.port());
    other.rpush("l", "x");
    auto got = blocker.get();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->second, "x");
    EXPECT_EQ(c.ping(), "PONG");
}

RINGLET_TEST(RedisClientTest, PubSubWithThreeSubscribers) {
    test::RedisServer server;
    REDIS_SERVER_OR_SKIP(server);
    Client c = Client::connect("127.0.0.1", server.port());
    redis::Subscriber s1 = c.subscribe({"news"});
    redis::Subscriber s2 = c.subscribe({"news", "sport"});
    const std::vector<std::string> none, patterns = {"n*"};
    redis::Subscriber s3 = c.subscribe(none, patterns);
    EXPECT_EQ(c.publish("news", "hello"), 3);
    EXPECT_EQ(c.publish("sport", "goal"), 1);
    for (int i = 0; i < 100; ++i) c.publish("news", std::to_string(i));
    auto m1 = s1.recv();
    ASSERT_TRUE(m1);
    EXPECT_EQ(m1->channel, "news");
    EXPECT_EQ(m1->payload, "hello");
    auto m2 = s2.recv();
    ASSERT_TRUE(m2);
    EXPECT_EQ(m2->payload, "hello");
    auto m2b = s2.messages().recv();
    ASSERT_TRUE(m2b);
    EXPECT_EQ(m2b->channel, "sport");
    auto m3 = s3.recv();
    ASSERT_TRUE(m3);
    EXPECT_EQ(m3->pattern, "n*");
    EXPECT_EQ(m3->channel, "news");
    for (int i = 0; i < 100; ++i) {
        for (redis::Subscriber* s : {&s1, &s2, &s3}) {
            auto m = s->recv();
            ASSERT_TRUE(m);
            ASSERT_EQ(m->payload, std::to_string(i));
        }
    }
    EXPECT_EQ(s1.recv_for(10ms), std::nullopt);
    EXPECT_EQ(s1.error(), nullptr);
    // Killing the server closes every subscriber's channel with a ConnectionError.
    server.kill();
    EXPECT_EQ(s1.recv(), std::nullopt);
    EXPECT_NE(s1.error(), nullptr);
    EXPECT_THROW(std::rethrow_exception(s1.error()), redis::ConnectionError);
    EXPECT_THROW(c.subscribe({"x"}), redis::ConnectionError);
}

RINGLET_TEST(RedisClientTest, EmptyClientIsUsageError) {
    Client c;
    EXPECT_FALSE(c.is_connected());
    EXPECT_THROW(c.ping(), UsageError);
}
