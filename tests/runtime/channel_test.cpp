// tests/runtime/channel_test.cpp — ringlet::Channel<T>: bounded and rendezvous
// FIFO, try/for variants, close, iteration, move-only values, races, threads.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;

namespace {

// Yields until pred() holds; false if it never did within `limit`.
template <class Pred>
bool yield_until(Pred pred, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        ringlet::yield();
    }
    return true;
}

// Long enough to live on the heap, so a moved-from string is visibly empty.
const std::string long_text = "a string well beyond the small-string buffer of libstdc++";

}  // namespace

RINGLET_TEST(ChannelTest, BoundedKeepsFifoOrder) {
    ringlet::Channel<int> ch(3);
    EXPECT_EQ(ch.capacity(), 3u);
    EXPECT_EQ(ch.size(), 0u);
    EXPECT_FALSE(ch.closed());
    ch.send(1);
    ch.send(2);
    ch.send(3);
    EXPECT_EQ(ch.size(), 3u);
    EXPECT_EQ(ch.recv(), 1);
    ch.send(4);  // wraps around the ring buffer
    EXPECT_EQ(ch.recv(), 2);
    EXPECT_EQ(ch.recv(), 3);
    EXPECT_EQ(ch.recv(), 4);
    EXPECT_EQ(ch.size(), 0u);
}

RINGLET_TEST(ChannelTest, SendBlocksWhenFullUntilReceiverTakesOne) {
    ringlet::Channel<int> ch(2);
    ch.send(1);
    ch.send(2);
    bool sent = false;
    auto sender = ringlet::spawn([&] {
        ch.send(3);
        sent = true;
    });
    for (int i = 0; i < 5; ++i) ringlet::yield();
    EXPECT_FALSE(sent);
    EXPECT_EQ(ch.size(), 2u);
    EXPECT_EQ(ch.recv(), 1);
    // The waiting sender's value moved straight into the freed slot.
    EXPECT_EQ(ch.size(), 2u);
    EXPECT_TRUE(sender.join(10s));
    EXPECT_TRUE(sent);
    EXPECT_EQ(ch.recv(), 2);
    EXPECT_EQ(ch.recv(), 3);
}

RINGLET_TEST(ChannelTest, RecvBlocksUntilSend) {
    ringlet::Channel<int> ch(4);
    auto receiver = ringlet::spawn([&] { return ch.recv(); });
    for (int i = 0; i < 5; ++i) ringlet::yield();
    EXPECT_FALSE(receiver.done());
    ch.send(9);
    EXPECT_EQ(ch.size(), 0u);  // handed straight to the waiting receiver
    EXPECT_EQ(receiver.get(), 9);
}

RINGLET_TEST(ChannelTest, RendezvousSendCompletesOnlyWhenReceived) {
    ringlet::Channel<int> ch(0);
    EXPECT_EQ(ch.capacity(), 0u);
    bool sent = false;
    auto sender = ringlet::spawn([&] {
        ch.send(42);
        sent = true;
    });
    for (int i = 0; i < 5; ++i) ringlet::yield();
    EXPECT_FALSE(sent);
    EXPECT_EQ(ch.size(), 0u);
    EXPECT_EQ(ch.recv(), 42);
    EXPECT_TRUE(sender.join(10s));
    EXPECT_TRUE(sent);
}

RINGLET_TEST(ChannelTest, RendezvousTrySendNeedsWaitingReceiver) {
    ringlet::Channel<int> ch(0);
    int v = 5;
    EXPECT_FALSE(ch.try_send(v));
    EXPECT_EQ(ch.try_recv(), std::nullopt);
    auto receiver = ringlet::spawn([&] { return ch.recv(); });
    ringlet::yield();
    EXPECT_TRUE(ch.try_send(v));
    EXPECT_EQ(receiver.get(), 5);
    // And the other way round: try_recv takes a waiting sender's value.
    auto sender = ringlet::spawn([&] { ch.send(6); });
    ringlet::yield();
    EXPECT_FALSE(sender.done());
    EXPECT_EQ(ch.try_recv(), 6);
    EXPECT_TRUE(sender.join(10s));
    EXPECT_FALSE(sender.failed());
}

RINGLET_TEST(ChannelTest, RendezvousManyPairsInOrder) {
    ringlet::Channel<int> ch(0);
    auto sender = ringlet::spawn([&] {
        for (int i = 0; i < 100; ++i) ch.send(i);
        ch.close();
    });
    int expected = 0;
    while (auto v = ch.recv()) EXPECT_EQ(*v, expected++);
    EXPECT_EQ(expected, 100);
    sender.join();
}

RINGLET_TEST(ChannelTest, TrySendLeavesValueWithCallerOnFailure) {
    ringlet::Channel<std::string> ch(1);
    std::string first = long_text;
    EXPECT_TRUE(ch.try_send(first));
    std::string second = long_text + "!";
    EXPECT_FALSE(ch.try_send(second));
    EXPECT_EQ(second, long_text + "!");
    EXPECT_EQ(ch.size(), 1u);
    EXPECT_EQ(ch.try_recv(), long_text);
    EXPECT_TRUE(ch.try_send(std::string("temp")));  // the rvalue overload
    EXPECT_EQ(ch.recv(), "temp");

    ringlet::Channel<std::unique_ptr<int>> ptrs(0);
    auto p = std::make_unique<int>(5);
    EXPECT_FALSE(ptrs.try_send(p));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, 5);
}

RINGLET_TEST(ChannelTest, SendForTimesOutAndValueStaysWithCaller) {
    ringlet::Channel<std::string> ch(1);
    ch.send("x");
    std::string value = long_text;
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(ch.send_for(value, 20ms));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_GE(elapsed, 15ms);
    EXPECT_LT(elapsed, 5s);
    EXPECT_EQ(value, long_text);
    EXPECT_EQ(ch.size(), 1u);
    // The timed-out sender left the queue: the next recv does not pull its value.
    EXPECT_EQ(ch.recv(), "x");
    EXPECT_EQ(ch.try_recv(), std::nullopt);

    ringlet::Channel<std::unique_ptr<int>> rendezvous(0);
    auto p = std::make_unique<int>(3);
    EXPECT_FALSE(rendezvous.send_for(p, 10ms));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, 3);
}

RINGLET_TEST(ChannelTest, SendForSucceedsWhenReceiverArrives) {
    ringlet::Channel<std::string> ch(0);
    auto receiver = ringlet::spawn([&] { return ch.recv(); });
    std::string value = long_text;
    EXPECT_TRUE(ch.send_for(value, 10s));
    EXPECT_EQ(receiver.get(), long_text);
}

RINGLET_TEST(ChannelTest, TryRecvAndRecvFor) {
    ringlet::Channel<int> ch(2);
    EXPECT_EQ(ch.try_recv(), std::nullopt);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(ch.recv_for(20ms), std::nullopt);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_GE(elapsed, 15ms);
    EXPECT_LT(elapsed, 5s);
    ch.send(1);
    EXPECT_EQ(ch.try_recv(), 1);
    EXPECT_EQ(ch.try_recv(), std::nullopt);
    auto sender = ringlet::spawn([&] { ch.send(2); });
    EXPECT_EQ(ch.recv_for(10s), 2);
    sender.join();
    // A timed-out receiver left the queue: a later send is buffered, not lost.
    ch.send(3);
    EXPECT_EQ(ch.size(), 1u);
    EXPECT_EQ(ch.recv(), 3);
}

RINGLET_TEST(ChannelTest, CloseDrainsBufferedValuesThenNullopt) {
    ringlet::Channel<int> ch(4);
    ch.send(1);
    ch.send(2);
    ch.close();
    EXPECT_TRUE(ch.closed());
    EXPECT_EQ(ch.size(), 2u);
    EXPECT_EQ(ch.recv(), 1);
    EXPECT_EQ(ch.try_recv(), 2);
    EXPECT_EQ(ch.recv(), std::nullopt);
    EXPECT_EQ(ch.try_recv(), std::nullopt);
    EXPECT_EQ(ch.recv_for(10s), std::nullopt);  // returns at once
    ch.close();  // idempotent
    EXPECT_TRUE(ch.closed());
}

RINGLET_TEST(ChannelTest, SendAfterCloseThrowsChannelClosed) {
    ringlet::Channel<std::string> ch(4);
    ch.close();
    EXPECT_THROW(ch.send("a"), ringlet::ChannelClosed);
    std::string v = long_text;
    EXPECT_THROW(ch.try_send(v), ringlet::ChannelClosed);
    EXPECT_EQ(v, long_text);
    EXPECT_THROW(ch.send_for(v, 1s), ringlet::ChannelClosed);
    EXPECT_EQ(v, long_text);
    EXPECT_EQ(ch.size(), 0u);
}

RINGLET_TEST(ChannelTest, CloseWakesBlockedSendersWithChannelClosed) {
    ringlet::Channel<int> ch(1);
    ch.send(0);
    std::vector<ringlet::Task<void>> senders;
    for (int i = 1; i <= 3; ++i) senders.push_back(ringlet::spawn([&ch, i] { ch.send(i); }));
    ringlet::yield();
    for (auto& s : senders) ASSERT_FALSE(s.done());
    ch.close();
    EXPECT_TRUE(ringlet::joinall(senders, 10s));
    for (auto& s : senders) {
        EXPECT_TRUE(s.failed());
        EXPECT_THROW(s.get(), ringlet::ChannelClosed);
    }
    EXPECT_EQ(ch.recv(), 0);  // what was buffered before close is still there
    EXPECT_EQ(ch.recv(), std::nullopt);
}

RINGLET_TEST(ChannelTest, CloseWakesBlockedReceiversWithNullopt) {
    ringlet::Channel<int> ch(1);
    std::vector<ringlet::Task<std::optional<int>>> receivers;
    for (int i = 0; i < 3; ++i) receivers.push_back(ringlet::spawn([&] { return ch.recv(); }));
    ringlet::yield();
    for (auto& r : receivers) ASSERT_FALSE(r.done());
    ch.close();
    EXPECT_TRUE(ringlet::joinall(receivers, 10s));
    for (auto& r : receivers) EXPECT_EQ(r.get(), std::nullopt);
}

RINGLET_TEST(ChannelTest, CloseWakesBlockedPlainThreads) {
    ringlet::Channel<int> full(1);
    full.send(0);
    ringlet::Channel<int> empty(1);
    std::atomic<int> started{0};
    bool sender_got_closed = false;
    std::optional<int> received = 7;
    std::thread sender([&] {
        started++;
        try {
            full.send(1);
        } catch (const ringlet::ChannelClosed&) {
            sender_got_closed = true;
        }
    });
    std::thread receiver([&] {
        started++;
        received = empty.recv();
    });
    ASSERT_TRUE(yield_until([&] { return started.load() == 2; }));
    full.close();
    empty.close();
    sender.join();
    receiver.join();
    EXPECT_TRUE(sender_got_closed);
    EXPECT_EQ(received, std::nullopt);
}

RINGLET_TEST(ChannelTest, RangeForUntilClose) {
    ringlet::Channel<int> ch(3);
    auto producer = ringlet::spawn([&] {
        for (int i = 0; i < 100; ++i) ch.send(i);
        ch.close();
    });
    std::vector<int> got;
    for (int& v : ch) got.push_back(v);
    ASSERT_EQ(got.size(), 100u);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(got[i], i);
    producer.join();
    // Iterating a closed, drained channel ends at once.
    for (int& v : ch) ADD_FAILURE() << "unexpected value " << v;
}

RINGLET_TEST(ChannelTest, MoveOnlyValues) {
    ringlet::Channel<std::unique_ptr<int>> ch(2);
    ch.send(std::make_unique<int>(1));
    auto p = std::make_unique<int>(2);
    EXPECT_TRUE(ch.try_send(p));
    EXPECT_EQ(p, nullptr);  // moved into the channel on success
    auto consumer = ringlet::spawn([&] {
        int sum = 0;
        for (auto& v : ch) sum += *v;
        return sum;
    });
    ch.send(std::make_unique<int>(3));
    ch.close();
    EXPECT_EQ(consumer.get(), 6);

    ringlet::Channel<std::unique_ptr<int>> rendezvous(0);
    auto r = ringlet::spawn([&] { return rendezvous.recv(); });
    rendezvous.send(std::make_unique<int>(11));
    auto got = r.get();
    ASSERT_TRUE(got.has_value());
    ASSERT_NE(*got, nullptr);
    EXPECT_EQ(**got, 11);
}

RINGLET_TEST(ChannelTest, ManyProducersManyConsumersEveryMessageOnce) {
    constexpr int producers = 10;
    constexpr int consumers = 10;
    constexpr int per_producer = 1000;
    constexpr int total = producers * per_producer;
    ringlet::Channel<int> ch(16);
    std::vector<int> seen(total, 0);
    std::vector<ringlet::Task<void>> consumer_tasks;
    for (int c = 0; c < consumers; ++c) {
        consumer_tasks.push_back(ringlet::spawn([&] {
            while (auto v = ch.recv()) {
                ++seen[*v];
                if (*v % 7 == 0) ringlet::yield();
            }
        }));
    }
    std::vector<ringlet::Task<void>> producer_tasks;
    for (int p = 0; p < producers; ++p) {
        producer_tasks.push_back(ringlet::spawn([&, p] {
            for (int i = 0; i < per_producer; ++i) {
                ch.send(p * per_producer + i);
                if (i % 13 == 0) ringlet::yield();
            }
        }));
    }
    EXPECT_TRUE(ringlet::joinall(producer_tasks, 60s));
    ch.close();
    EXPECT_TRUE(ringlet::joinall(consumer_tasks, 60s));
    int missing = 0;
    int duplicated = 0;
    for (int v : seen) {
        missing += v == 0;
        duplicated += v > 1;
    }
    EXPECT_EQ(missing, 0);
    EXPECT_EQ(duplicated, 0);
}

RINGLET_TEST(ChannelTest, SingleProducerOrderSurvivesManyConsumers) {
    // FIFO: with one producer, every consumer sees its values in send order
    // (consumers interleave, so only the per-consumer order is defined).
    ringlet::Channel<int> ch(4);
    std::vector<std::vector<int>> taken(4);
    std::vector<ringlet::Task<void>> consumers;
    for (int c = 0; c < 4; ++c) {
        consumers.push_back(ringlet::spawn([&, c] {
            while (auto v = ch.recv()) {
                taken[c].push_back(*v);
                if (*v % 3 == c % 3) ringlet::yield();
            }
        }));
    }
    for (int i = 0; i < 1000; ++i) ch.send(i);
    ch.close();
    EXPECT_TRUE(ringlet::joinall(consumers, 10s));
    std::vector<int> seen(1000, 0);
    for (auto& list : taken) {
        EXPECT_TRUE(std::is_sorted(list.begin(), list.end()));
        for (int v : list) ++seen[v];
    }
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(seen[i], 1) << "value " << i;
}

RINGLET_TEST(ChannelTest, CancelledReceiverRacingSenderLosesNoMessage) {
    // Each round: a receiver waits, then a send and a cancel land in the same
    // instant (both orders). The value must end up received or still
    // buffered, never dropped.
    for (int capacity : {0, 1}) {
        ringlet::Channel<int> ch(capacity);
        int sent = 0;
        int received = 0;
        for (int round = 0; round < 300; ++round) {
            auto receiver = ringlet::spawn([&] {
                if (ch.recv()) ++received;
                ringlet::yield();  // a cancel that lost the race lands here
            });
            ringlet::yield();
            ASSERT_FALSE(receiver.done());
            int v = round;
            switch (round % 3) {
                case 0:
                    receiver.cancel();
                    if (ch.try_send(v)) ++sent;
                    break;
                case 1:
                    if (ch.try_send(v)) ++sent;
                    receiver.cancel();
                    break;
                case 2:
                    receiver.cancel();
                    ringlet::yield();  // the receiver unwinds first
                    if (ch.try_send(v)) ++sent;
                    break;
            }
            ASSERT_TRUE(receiver.join(10s));
            EXPECT_TRUE(receiver.cancelled()) << "round " << round;
            while (ch.try_recv()) ++received;  // drain what stayed buffered
            ASSERT_EQ(sent, received) << "capacity " << capacity << " round " << round;
        }
    }
}

RINGLET_TEST(ChannelTest, CancelledSenderEitherSentOrNot) {
    // A sender blocked on a full channel is cancelled while a receiver frees a
    // slot: either the value went in (send returned) or it did not; the
    // channel never holds a value whose send threw.
    for (int round = 0; round < 200; ++round) {
        ringlet::Channel<int> ch(1);
        ch.send(-1);
        bool send_returned = false;
        auto sender = ringlet::spawn([&] {
            ch.send(round);
            send_returned = true;
            ringlet::yield();
        });
        ringlet::yield();
        ASSERT_FALSE(sender.done());
        if (round % 2 == 0) {
            sender.cancel();
            EXPECT_EQ(ch.recv(), -1);
        } else {
            EXPECT_EQ(ch.recv(), -1);
            sender.cancel();
        }
        ASSERT_TRUE(sender.join(10s));
        EXPECT_TRUE(sender.cancelled());
        const std::optional<int> left = ch.try_recv();
        EXPECT_EQ(left.has_value(), send_returned) << "round " << round;
        if (left) {
            EXPECT_EQ(*left, round);
        }
    }
}

RINGLET_TEST(ChannelTest, ReceiversRaceCancelsUnderLoadNoMessageLost) {
    // Several receivers, some cancelled mid-stream, a steady sender: every
    // value sent is received by someone or left in the buffer.
    ringlet::Channel<int> ch(2);
    constexpr int n = 3000;
    long received_sum = 0;
    int received = 0;
    auto receive_loop = [&] {
        while (auto v = ch.recv()) {
            received_sum += *v;
            ++received;
        }
    };
    std::vector<ringlet::Task<void>> receivers;
    for (int r = 0; r < 6; ++r) receivers.push_back(ringlet::spawn(receive_loop));
    long sent_sum = 0;
    for (int i = 0; i < n; ++i) {
        ch.send(i);
        sent_sum += i;
        if (i % 500 == 250) {
            // Replace one receiver by cancelling it and starting another.
            auto& victim = receivers[(i / 500) % receivers.size()];
            victim.cancel();
            victim.join();
            victim = ringlet::spawn(receive_loop);
        }
    }
    ch.close();
    EXPECT_TRUE(ringlet::joinall(receivers, 10s));
    EXPECT_EQ(received, n);
    EXPECT_EQ(received_sum, sent_sum);
}

RINGLET_TEST(ChannelTest, PlainThreadProducerTaskConsumer) {
    constexpr int n = 10000;
    ringlet::Channel<int> ch(8);
    std::thread producer([&] {
        for (int i = 0; i < n; ++i) ch.send(i);
        ch.close();
    });
    int expected = 0;
    for (int& v : ch) {
        if (v != expected) {
            ADD_FAILURE() << "got " << v << " expected " << expected;
            break;
        }
        ++expected;
    }
    producer.join();
    EXPECT_EQ(expected, n);
}

RINGLET_TEST(ChannelTest, TaskProducerPlainThreadConsumers) {
    constexpr int n = 10000;
    ringlet::Channel<int> ch(0);  // rendezvous across threads
    std::atomic<long> sum{0};
    std::atomic<int> count{0};
    std::vector<std::thread> consumers;
    for (int c = 0; c < 2; ++c) {
        consumers.emplace_back([&] {
            while (auto v = ch.recv()) {
                sum += *v;
                ++count;
            }
        });
    }
    for (int i = 0; i < n; ++i) ch.send(i);
    ch.close();
    for (auto& t : consumers) t.join();
    EXPECT_EQ(count.load(), n);
    EXPECT_EQ(sum.load(), long{n} * (n - 1) / 2);
}

RINGLET_TEST(ChannelTest, ThreadAndTaskSendersTaskReceiversChecksum) {
    constexpr int per_sender = 2000;
    ringlet::Channel<std::string> ch(4);
    // std::thread::join would block this scheduler (and so the receivers):
    // the threads report completion through a semaphore a task can wait on.
    ringlet::Semaphore threads_done(0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < per_sender; ++i) ch.send(std::to_string(t * per_sender + i));
            threads_done.release();
        });
    }
    std::vector<ringlet::Task<void>> task_senders;
    for (int t = 2; t < 4; ++t) {
        task_senders.push_back(ringlet::spawn([&, t] {
            for (int i = 0; i < per_sender; ++i) ch.send(std::to_string(t * per_sender + i));
        }));
    }
    std::vector<int> seen(4 * per_sender, 0);
    std::vector<ringlet::Task<void>> receivers;
    for (int r = 0; r < 3; ++r) {
        receivers.push_back(ringlet::spawn([&] {
            while (auto v = ch.recv()) ++seen[std::stoi(*v)];
        }));
    }
    EXPECT_TRUE(ringlet::joinall(task_senders, 60s));
    for (std::size_t i = 0; i < threads.size(); ++i) ASSERT_TRUE(threads_done.acquire_for(60s));
    for (auto& t : threads) t.join();
    ch.close();
    EXPECT_TRUE(ringlet::joinall(receivers, 60s));
    for (int i = 0; i < 4 * per_sender; ++i) ASSERT_EQ(seen[i], 1) << "message " << i;
}

RINGLET_TEST(ChannelTest, RecvInTimeoutScopeThrowsAndLosesNothing) {
    ringlet::Channel<int> ch(1);
    EXPECT_THROW(ringlet::with_timeout(10ms, [&] { return ch.recv(); }), ringlet::TimeoutError);
    ch.send(1);  // buffered, not handed to the gone receiver
    EXPECT_EQ(ch.size(), 1u);
    EXPECT_THROW(ringlet::with_timeout(10ms, [&] { ch.send(2); }), ringlet::TimeoutError);
    EXPECT_EQ(ch.size(), 1u);
    EXPECT_EQ(ch.recv(), 1);
    EXPECT_EQ(ch.try_recv(), std::nullopt);
}

RINGLET_TEST(ChannelTest, TasksOnTwoSchedulers) {
    constexpr int senders = 4;
    constexpr int per_sender = 1000;
    ringlet::Channel<int> ch(2);
    std::thread other([&] {
        ringlet::run([&] {
            std::vector<ringlet::Task<void>> tasks;
            for (int k = 0; k < senders; ++k) {
                tasks.push_back(ringlet::spawn([&, k] {
                    for (int i = 0; i < per_sender; ++i) ch.send(k * per_sender + i);
                }));
            }
            ringlet::joinall(tasks);
            ch.close();
        });
    });
    std::vector<int> seen(senders * per_sender, 0);
    std::vector<int> last(senders, -1);
    bool ordered = true;
    for (int& v : ch) {
        ++seen[v];
        // Per sender, values arrive in the order sent.
        ordered = ordered && v % per_sender > last[v / per_sender];
        last[v / per_sender] = v % per_sender;
    }
    other.join();
    EXPECT_TRUE(ordered);
    for (int i = 0; i < senders * per_sender; ++i) ASSERT_EQ(seen[i], 1) << "message " << i;
}

// No scheduler anywhere: plain threads only.
TEST(ChannelTest, PlainThreadsWithoutScheduler) {
    ringlet::Channel<std::unique_ptr<int>> ch(0);
    long sum = 0;
    std::thread consumer([&] {
        while (auto v = ch.recv()) sum += **v;
    });
    for (int i = 1; i <= 1000; ++i) ch.send(std::make_unique<int>(i));
    ch.close();
    consumer.join();
    EXPECT_EQ(sum, 1000L * 1001 / 2);
    auto p = std::make_unique<int>(1);
    EXPECT_THROW(ch.try_send(p), ringlet::ChannelClosed);
    ASSERT_NE(p, nullptr);
    ringlet::Channel<int> empty(1);
    EXPECT_EQ(empty.recv_for(5ms), std::nullopt);
}
