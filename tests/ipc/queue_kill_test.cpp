// tests/ipc/queue_kill_test.cpp — ipc::Queue when processes die at any instant.
//
// DESIGN: "A process that dies at any instant (SIGKILL) never corrupts a
// shared queue and never leaves other processes blocked forever." Producers
// and consumers are SIGKILLed at random moments while they put and get; the
// survivors check that every message is intact, none is duplicated, and
// every put that completed was delivered.
#include <ringlet/ipc/queue.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <ringlet/ipc/process.hpp>
#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"
#include "shm_region.hpp"

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;

namespace {

// A message that proves its own integrity: who, which, and a body whose
// every byte derives from both.
struct Stamp {
    std::uint32_t producer;
    std::uint32_t seq;
};

std::string make_message(std::uint32_t producer, std::uint32_t seq) {
    const std::size_t body = 1 + (producer * 131 + seq * 17) % 700;
    std::string m(sizeof(Stamp) + body, '\0');
    const Stamp s{producer, seq};
    std::memcpy(m.data(), &s, sizeof s);
    for (std::size_t i = 0; i < body; ++i) {
        m[sizeof s + i] = static_cast<char>(producer * 31 + seq * 7 + i);
    }
    return m;
}

// The stamp of an intact message; fails the test on a corrupt one.
Stamp check_message(const std::string& m) {
    Stamp s{};
    EXPECT_GE(m.size(), sizeof s);
    if (m.size() < sizeof s) return {~0u, ~0u};
    std::memcpy(&s, m.data(), sizeof s);
    EXPECT_EQ(m, make_message(s.producer, s.seq)) << "corrupt message " << s.producer << "/" << s.seq;
    return s;
}

// ThreadSanitizer makes every copy and check ~50x slower: fewer rounds there.
#if defined(__SANITIZE_THREAD__)
constexpr bool sanitized_thread = true;
#else
constexpr bool sanitized_thread = false;
#endif

// Per-producer count of completed puts, in memory shared with the children.
struct Completed {
    std::atomic<std::uint64_t> count[256];
};

}  // namespace

RINGLET_TEST(IpcQueueKillTest, ProducersKilledWhilePuttingLoseNothingCompleted) {
    constexpr int kills = sanitized_thread ? 10 : 200;
    ipc::Queue<std::string> q(0, sanitized_thread ? 32 * 1024 : 256 * 1024);
    auto shm = ipc::detail::ShmRegion::create(sizeof(Completed));
    auto* completed = static_cast<Completed*>(shm->data());
    std::mt19937 rng(12345);

    // The parent drains the queue in a task while producers come and go.
    std::map<std::uint32_t, std::vector<std::uint32_t>> received;
    bool stop = false;
    auto consumer = ringlet::spawn([&] {
        while (!stop || !q.empty()) {
            if (auto m = q.get_for(20ms)) {
                const Stamp s = check_message(*m);
                received[s.producer].push_back(s.seq);
            }
        }
    });

    for (std::uint32_t p = 0; p < kills; ++p) {
        ipc::Process producer([q, completed, p]() mutable {
            for (std::uint32_t seq = 0;; ++seq) {
                q.put(make_message(p, seq));
                completed->count[p % 256].store(seq + 1, std::memory_order_release);
            }
        });
        producer.start();
        // A random moment into its run: from before its first put to well
        // into it (the consumer keeps the queue from filling up).
        const auto spin = std::chrono::microseconds(rng() % 3000);
        const auto until = std::chrono::steady_clock::now() + spin;
        while (std::chrono::steady_clock::now() < until) ringlet::yield();
        producer.kill();
        ASSERT_TRUE(producer.join(30s));
        ASSERT_EQ(producer.exitcode(), -SIGKILL);
        // Every put that returned must arrive; at most one more may (killed
        // after its commit, before it counted itself).
        const std::uint64_t done = completed->count[p % 256].load(std::memory_order_acquire);
        completed->count[p % 256].store(0);
        // The consumer records a message in the same step as it takes it, so
        // once the queue is empty everything the producer put has been seen.
        const auto give_up = std::chrono::steady_clock::now() + 30s;
        while (!q.empty()) {
            ASSERT_LT(std::chrono::steady_clock::now(), give_up) << "the consumer is stuck";
            ASSERT_FALSE(consumer.done());
            ringlet::yield();
        }
        auto& seqs = received[p];
        EXPECT_GE(seqs.size(), done);
        EXPECT_LE(seqs.size(), done + 1) << "producer " << p;
        for (std::size_t i = 0; i < seqs.size(); ++i) {
            ASSERT_EQ(seqs[i], i) << "producer " << p << ": lost or duplicated message";
        }
    }
    stop = true;
    consumer.get();
    // The queue is still fully usable.
    q.put("after");
    EXPECT_EQ(q.get(), "after");
}

RINGLET_TEST(IpcQueueKillTest, ConsumersKilledWhileGettingNeverCorruptTheQueue) {
    constexpr int kills = sanitized_thread ? 10 : 60;
    constexpr std::uint32_t total = sanitized_thread ? 2000 : 20000;
    ipc::Queue<std::string> q(0, 16 * 1024 * 1024);  // room for all of them
    for (std::uint32_t i = 0; i < total; ++i) ASSERT_TRUE(q.try_put(make_message(0, i)));
    std::mt19937 rng(777);
    for (int k = 0; k < kills; ++k) {
        ipc::Process consumer([q]() mutable {
            for (;;) (void)q.get();
        });
        consumer.start();
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 500);
        while (std::chrono::steady_clock::now() < until) ringlet::yield();
        consumer.kill();
        ASSERT_TRUE(consumer.join(30s));
    }
    // What is left decodes, in order, with no gaps (killed consumers took a
    // prefix, each message whole or not at all).
    std::vector<std::uint32_t> rest;
    while (auto m = q.try_get()) rest.push_back(check_message(*m).seq);
    for (std::size_t i = 1; i < rest.size(); ++i) ASSERT_EQ(rest[i], rest[i - 1] + 1);
    if (!rest.empty()) {
        EXPECT_EQ(rest.back(), total - 1);
    }
    q.put("after");
    EXPECT_EQ(q.get(), "after");
}

RINGLET_TEST(IpcQueueKillTest, HolderKilledInsideTheLockIsRecovered) {
    // Big messages make the copy under the lock most of the producer's loop,
    // so a SIGKILL sent while it loops soon lands inside the lock; the next
    // locker must take over and repair the ring. The kill waits until the
    // child reports that it is looping (a slow or loaded machine may take a
    // while to run it at all), then comes at a random point of its loop.
    ipc::Queue<std::string> q(0, 32 * 1024 * 1024);
    const std::string big(2 * 1024 * 1024, 'b');
    auto shm = ipc::detail::ShmRegion::create(sizeof(std::atomic<std::uint64_t>));
    auto* loops = new (shm->data()) std::atomic<std::uint64_t>(0);
    std::mt19937 rng(4242);
    std::size_t tries = 0;
    while (q.core().recoveries() == 0 && tries < 300) {
        ++tries;
        loops->store(0);
        ipc::Process producer([q, &big, loops]() mutable {
            for (;;) {
                if (!q.try_put(big)) {
                    while (q.try_get()) {
                    }
                }
                loops->fetch_add(1);
            }
        });
        producer.start();
        const auto give_up = std::chrono::steady_clock::now() + 30s;
        while (loops->load() < 2 && std::chrono::steady_clock::now() < give_up) ringlet::yield();
        ASSERT_GE(loops->load(), 2u) << "the producer never ran";
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 300);
        while (std::chrono::steady_clock::now() < until) ringlet::yield();
        producer.kill();
        ASSERT_TRUE(producer.join(30s));
        // Any operation now goes through the lock (and repairs it if needed).
        (void)q.size();
    }
    EXPECT_GT(q.core().recoveries(), 0u) << "no kill landed inside the lock in " << tries << " tries";
    // Whatever is queued is whole.
    while (auto m = q.try_get()) EXPECT_EQ(*m, big);
    q.put("after");
    EXPECT_EQ(q.get(), "after");
}

RINGLET_TEST(IpcQueueKillTest, GetterKilledWhileWaitingDoesNotStopOthers) {
    ipc::Queue<int> q;
    ipc::Process waiter([q]() mutable { (void)q.get(); });
    waiter.start();
    ipc::Process other([q]() mutable { std::exit(q.get() == 5 ? 0 : 3); });
    other.start();
    waiter.kill();
    ASSERT_TRUE(waiter.join(30s));
    q.put(5);
    EXPECT_TRUE(other.join(30s));
    EXPECT_EQ(other.exitcode(), 0);
}
