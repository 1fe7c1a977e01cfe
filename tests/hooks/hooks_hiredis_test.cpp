// tests/hooks/hooks_hiredis_test.cpp — hiredis's synchronous client, made cooperative.
//
// hiredis's blocking API (redisConnect, redisCommand) knows nothing of
// ringlet: with the hooks, its connect, poll, read and write suspend only the
// calling task. 200 tasks on one thread each BLPOP an empty key with a 0.2 s
// timeout; run one after another that would take 40 s. The bound asserted is
// generous (10 s); bench/hooks/hooks_bench records the real figure.
#include <chrono>
#include <cstdio>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <memory>
#include <string>
#include <vector>

#include <ringlet/hooks.hpp>
#include <ringlet/ringlet.hpp>

#include "servers.hpp"

namespace {

struct ContextFree {
    void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyFree {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;
using Reply = std::unique_ptr<redisReply, ReplyFree>;

}  // namespace

TEST(HooksHiredisTest, TwoHundredBlpopsOnOneThreadOverlap) {
    std::unique_ptr<hookstest::TempRedis> redis;
    try {
        redis = std::make_unique<hookstest::TempRedis>();
    } catch (const hookstest::ServerUnavailable& e) {
        GTEST_SKIP() << e.what();
    }
    const int port = redis->port();
    int nil_replies = 0;
    std::string first_error;
    const auto start = std::chrono::steady_clock::now();
    ringlet::run([&] {
        ASSERT_TRUE(ringlet::hooks_installed());
        std::vector<ringlet::Task<void>> tasks;
        for (int i = 0; i < 200; ++i) {
            tasks.push_back(ringlet::spawn([&, i] {
                Context c(redisConnect("127.0.0.1", port));
                if (!c || c->err) {
                    if (first_error.empty()) first_error = c ? c->errstr : "out of memory";
                    return;
                }
                const std::string key = "hooks:empty:" + std::to_string(i);
                Reply r(
                    static_cast<redisReply*>(redisCommand(c.get(), "BLPOP %s 0.2", key.c_str())));
                if (!r) {
                    if (first_error.empty()) first_error = c->errstr;
                    return;
                }
                if (r->type == REDIS_REPLY_NIL) ++nil_replies;
            }));
        }
        for (auto& t : tasks) t.join();
    });
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(first_error, "");
    EXPECT_EQ(nil_replies, 200);
    EXPECT_LT(took, std::chrono::seconds(10));  // in series it would be 40 s
    std::printf("200 x BLPOP 0.2 s on one thread: %.3f s\n",
                std::chrono::duration<double>(took).count());
}

TEST(HooksHiredisTest, CommandsAndAConnectionClosedByTheServer) {
    std::unique_ptr<hookstest::TempRedis> redis;
    try {
        redis = std::make_unique<hookstest::TempRedis>();
    } catch (const hookstest::ServerUnavailable& e) {
        GTEST_SKIP() << e.what();
    }
    const int port = redis->port();
    ringlet::run([&] {
        Context c(redisConnect("127.0.0.1", port));
        ASSERT_TRUE(c && !c->err);
        Reply set(static_cast<redisReply*>(redisCommand(c.get(), "SET k %s", "v")));
        ASSERT_TRUE(set);
        EXPECT_STREQ(set->str, "OK");
        // A BLPOP in one task, an RPUSH from another connection in a second task.
        auto waiter = ringlet::spawn([&] {
            Context w(redisConnect("127.0.0.1", port));
            Reply r(static_cast<redisReply*>(redisCommand(w.get(), "BLPOP q 0")));
            return r && r->type == REDIS_REPLY_ARRAY ? std::string(r->element[1]->str)
                                                     : std::string();
        });
        Reply push(static_cast<redisReply*>(redisCommand(c.get(), "RPUSH q item")));
        ASSERT_TRUE(push);
        EXPECT_EQ(waiter.get(), "item");
        // The server closes our connection: the blocking read sees EOF.
        Reply kill(static_cast<redisReply*>(redisCommand(c.get(), "CLIENT KILL SKIPME no")));
        Reply after(static_cast<redisReply*>(redisCommand(c.get(), "PING")));
        EXPECT_FALSE(after);
        EXPECT_NE(c->err, 0);
    });
}
