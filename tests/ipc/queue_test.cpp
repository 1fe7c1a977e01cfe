// tests/ipc/queue_test.cpp — ipc::Queue between tasks, threads and processes.
#include <ringlet/ipc/queue.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <ringlet/ipc/process.hpp>
#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;

namespace {

std::string text_of_size(std::size_t n, char seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 7);
    return s;
}

}  // namespace

RINGLET_TEST(IpcQueueTest, PutThenGetInOrder) {
    ipc::Queue<int> q;
    EXPECT_TRUE(q.empty());
    for (int i = 0; i < 100; ++i) q.put(i);
    EXPECT_EQ(q.size(), 100u);
    EXPECT_FALSE(q.empty());
    for (int i = 0; i < 100; ++i) EXPECT_EQ(q.get(), i);
    EXPECT_TRUE(q.empty());
}

RINGLET_TEST(IpcQueueTest, VariableSizeMessagesRoundTrip) {
    ipc::Queue<std::string> q;
    std::vector<std::string> sent;
    for (std::size_t n : {0u, 1u, 7u, 8u, 9u, 100u, 4096u, 100000u}) {
        sent.push_back(text_of_size(n, char(n)));
        q.put(sent.back());
    }
    for (const auto& s : sent) EXPECT_EQ(q.get(), s);
}

RINGLET_TEST(IpcQueueTest, NestedTypesRoundTrip) {
    using Msg = std::pair<int, std::vector<std::string>>;
    ipc::Queue<Msg> q;
    q.put({7, {"a", "bc", ""}});
    EXPECT_EQ(q.get(), (Msg{7, {"a", "bc", ""}}));
}

RINGLET_TEST(IpcQueueTest, WrapsAroundASmallBuffer) {
    // 512 bytes of ring and messages of 1..120 bytes: every position of the
    // wrap is crossed, headers included.
    ipc::Queue<std::string> q(0, 512);
    std::size_t next_get = 0;
    std::vector<std::string> in_flight;
    for (std::size_t i = 0; i < 2000; ++i) {
        std::string m = text_of_size(1 + i % 120, char(i));
        while (!q.try_put(m)) {
            ASSERT_FALSE(in_flight.empty());
            EXPECT_EQ(q.get(), in_flight[next_get]);
            ++next_get;
        }
        in_flight.push_back(std::move(m));
    }
    while (next_get < in_flight.size()) EXPECT_EQ(q.get(), in_flight[next_get++]);
    EXPECT_TRUE(q.empty());
}

RINGLET_TEST(IpcQueueTest, MaxsizeBoundsTheCount) {
    ipc::Queue<int> q(2);
    EXPECT_EQ(q.maxsize(), 2u);
    EXPECT_TRUE(q.try_put(1));
    EXPECT_FALSE(q.full());
    EXPECT_TRUE(q.try_put(2));
    EXPECT_TRUE(q.full());
    EXPECT_FALSE(q.try_put(3));
    EXPECT_FALSE(q.put_for(3, 20ms));
    EXPECT_EQ(q.get(), 1);
    EXPECT_TRUE(q.put_for(3, 20ms));
    EXPECT_EQ(q.get(), 2);
    EXPECT_EQ(q.get(), 3);
}

RINGLET_TEST(IpcQueueTest, EmptyQueueTryGetAndGetForGiveNullopt) {
    ipc::Queue<int> q;
    EXPECT_EQ(q.try_get(), std::nullopt);
    EXPECT_EQ(q.get_for(20ms), std::nullopt);
    q.put(5);
    EXPECT_EQ(q.get_for(20ms), 5);
}

RINGLET_TEST(IpcQueueTest, OversizedMessageThrowsCodecErrorAndQueueStillWorks) {
    ipc::Queue<std::string> q(0, 1024);
    EXPECT_EQ(q.capacity_bytes(), 1024u);
    EXPECT_THROW(q.put(std::string(2000, 'x')), ipc::CodecError);
    q.put("fine");
    EXPECT_EQ(q.get(), "fine");
}

RINGLET_TEST(IpcQueueTest, UndecodableMessageThrowsCodecError) {
    ipc::Queue<std::string> q;
    q.core().put("\x01", ringlet::TimePoint::max());  // not a valid encoded string
    EXPECT_THROW(q.get(), ipc::CodecError);
    q.put("next");  // the bad message was consumed; the queue goes on
    EXPECT_EQ(q.get(), "next");
}

RINGLET_TEST(IpcQueueTest, CloseStopsPutsAndDrainsGets) {
    ipc::Queue<int> q;
    q.put(1);
    q.put(2);
    q.close();
    EXPECT_TRUE(q.closed());
    EXPECT_THROW(q.put(3), ipc::QueueClosed);
    EXPECT_THROW(q.try_put(3), ipc::QueueClosed);
    EXPECT_EQ(q.get(), 1);
    EXPECT_EQ(q.try_get(), 2);
    EXPECT_THROW(q.get(), ipc::QueueClosed);
    EXPECT_THROW(q.get_for(1s), ipc::QueueClosed);
    EXPECT_EQ(q.try_get(), std::nullopt);
}

RINGLET_TEST(IpcQueueTest, CloseWakesABlockedGetterAndPutter) {
    ipc::Queue<int> q(1);
    q.put(0);
    auto getter_q = ipc::Queue<int>(1);
    auto putter = ringlet::spawn([&] { q.put(1); });                // waits: full
    auto getter = ringlet::spawn([&] { return getter_q.get(); });  // waits: empty
    ringlet::yield();
    q.close();
    getter_q.close();
    EXPECT_THROW(putter.get(), ipc::QueueClosed);
    EXPECT_THROW(getter.get(), ipc::QueueClosed);
}

RINGLET_TEST(IpcQueueTest, CancelledGetTakesNothing) {
    ipc::Queue<int> q;
    auto waiter = ringlet::spawn([&] { return q.get(); });
    ringlet::yield();
    waiter.cancel();
    EXPECT_TRUE(waiter.join(10s));
    EXPECT_TRUE(waiter.cancelled());
    q.put(9);
    EXPECT_EQ(q.get(), 9);  // nobody else took it
}

RINGLET_TEST(IpcQueueTest, GetUnderTimeoutScopeThrowsTimeoutError) {
    ipc::Queue<int> q;
    ringlet::Timeout scope(30ms);
    EXPECT_THROW(q.get(), ringlet::TimeoutError);
}

RINGLET_TEST(IpcQueueTest, BlockedGetLetsOtherTasksRun) {
    ipc::Queue<int> q;
    int progress = 0;
    auto consumer = ringlet::spawn([&] { return q.get(); });
    auto other = ringlet::spawn([&] {
        for (int i = 0; i < 10; ++i) {
            ++progress;
            ringlet::yield();
        }
        q.put(progress);
    });
    EXPECT_EQ(consumer.get(), 10);
    other.get();
}

RINGLET_TEST(IpcQueueTest, PlainThreadAndTaskShareAQueue) {
    ipc::Queue<int> to_thread;
    ipc::Queue<int> from_thread;
    std::thread t([&] {
        while (true) {
            const int v = to_thread.get();  // blocks this thread
            if (v < 0) break;
            from_thread.put(v * 2);
        }
    });
    for (int i = 0; i < 1000; ++i) {
        to_thread.put(i);
        EXPECT_EQ(from_thread.get(), i * 2);
    }
    to_thread.put(-1);
    t.join();
}

RINGLET_TEST(IpcQueueTest, ChildProcessProducesParentConsumes) {
    ipc::Queue<int> q(100);  // bounded: the child waits for room now and then
    ipc::Process child([q]() mutable {
        for (int i = 0; i < 20000; ++i) q.put(i);
    });
    child.start();
    for (int i = 0; i < 20000; ++i) ASSERT_EQ(q.get(), i);
    EXPECT_TRUE(child.join(30s));
    EXPECT_EQ(child.exitcode(), 0);
}

RINGLET_TEST(IpcQueueTest, ThreeProducersTwoConsumersWithSentinels) {
    // The Python Queue producer/consumer: 3 producer processes, 2 consumer
    // processes, one sentinel per consumer; every item arrives exactly once.
    ipc::Queue<int> items(10);
    ipc::Queue<std::vector<int>> results;
    constexpr int per_producer = 2000;
    std::vector<ipc::Process> producers;
    for (int p = 0; p < 3; ++p) {
        producers.emplace_back([items, p]() mutable {
            for (int i = 0; i < per_producer; ++i) items.put(p * per_producer + i);
        });
    }
    std::vector<ipc::Process> consumers;
    for (int c = 0; c < 2; ++c) {
        consumers.emplace_back([items, results]() mutable {
            std::vector<int> got;
            for (int v; (v = items.get()) >= 0;) got.push_back(v);
            results.put(got);
        });
    }
    for (auto& p : producers) p.start();
    for (auto& c : consumers) c.start();
    for (auto& p : producers) EXPECT_TRUE(p.join(60s));
    items.put(-1);
    items.put(-1);
    std::vector<int> all;
    for (int c = 0; c < 2; ++c) {
        auto got = results.get();
        all.insert(all.end(), got.begin(), got.end());
    }
    for (auto& c : consumers) EXPECT_TRUE(c.join(60s));
    std::sort(all.begin(), all.end());
    ASSERT_EQ(all.size(), std::size_t(3 * per_producer));
    for (int i = 0; i < 3 * per_producer; ++i) ASSERT_EQ(all[std::size_t(i)], i);
}

RINGLET_TEST(IpcQueueTest, ConsumerBlockedInAnotherProcessSeesTheEndOnClose) {
    ipc::Queue<int> q;
    ipc::Queue<int> done;
    ipc::Process consumer([q, done]() mutable {
        int n = 0;
        try {
            for (;;) {
                q.get();
                ++n;
            }
        } catch (const ipc::QueueClosed&) {
            done.put(n);
        }
    });
    consumer.start();
    ipc::Process producer([q]() mutable {
        for (int i = 0; i < 50; ++i) q.put(i);
    });
    producer.start();
    EXPECT_TRUE(producer.join(30s));
    q.close();  // every producer has exited
    EXPECT_EQ(done.get_for(30s), 50);
    EXPECT_TRUE(consumer.join(30s));
    EXPECT_EQ(consumer.exitcode(), 0);
}

RINGLET_TEST(IpcQueueTest, ThousandTasksInOneProcessFeedOneQueue) {
    ipc::Queue<std::pair<int, int>> q(64);
    ipc::Process feeder([q]() mutable {
        std::vector<ringlet::Task<void>> tasks;
        for (int t = 0; t < 1000; ++t) {
            tasks.push_back(ringlet::spawn([&q, t] {
                for (int i = 0; i < 5; ++i) q.put({t, i});
            }));
        }
        ringlet::joinall(tasks);
    });
    feeder.start();
    std::vector<int> next(1000, 0);
    for (int n = 0; n < 5000; ++n) {
        auto [t, i] = q.get();
        ASSERT_EQ(i, next[std::size_t(t)]) << "task " << t << " out of order";
        ++next[std::size_t(t)];
    }
    EXPECT_TRUE(feeder.join(30s));
    EXPECT_EQ(feeder.exitcode(), 0);
    EXPECT_TRUE(q.empty());
}

TEST(IpcQueuePlainTest, WorksWithoutAnyScheduler) {
    ipc::Queue<std::string> q(4);
    std::thread producer([&] {
        for (int i = 0; i < 200; ++i) q.put(std::to_string(i));
    });
    for (int i = 0; i < 200; ++i) EXPECT_EQ(q.get(), std::to_string(i));
    producer.join();
    EXPECT_EQ(q.get_for(10ms), std::nullopt);
}
