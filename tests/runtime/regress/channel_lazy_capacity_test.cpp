// Regression: Channel(1 << 28) allocated all slots up front; Channel(SIZE_MAX) threw length_error.
//
// tests/runtime/regress/channel_lazy_capacity_test.cpp — a channel's memory
// follows the values it holds: the buffer grows as it fills, up to capacity,
// and ringlet::unbounded is a queue whose send never waits.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unistd.h>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

namespace {

// Resident set size of this process, in bytes (second field of /proc/self/statm).
std::size_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t size = 0;
    std::size_t resident = 0;
    statm >> size >> resident;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

constexpr std::size_t mib = std::size_t{1} << 20;

}  // namespace

RINGLET_TEST(ChannelLazyCapacityTest, HugeCapacityCostsOnlyWhatItHolds) {
    const std::size_t before = resident_bytes();
    ringlet::Channel<int> ch(std::size_t{1} << 28);
    EXPECT_EQ(ch.capacity(), std::size_t{1} << 28);
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(ch.try_send(i));
    EXPECT_EQ(ch.size(), 1000u);
    const std::size_t after = resident_bytes();
    EXPECT_LT(after - std::min(after, before), 64 * mib)
        << "a channel holding 1000 ints should not cost its whole capacity";
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(ch.try_recv(), i);
    EXPECT_FALSE(ch.try_recv().has_value());
}

RINGLET_TEST(ChannelLazyCapacityTest, UnboundedSendNeverWaits) {
    static_assert(ringlet::unbounded == SIZE_MAX);
    ringlet::Channel<int> ch(ringlet::unbounded);  // used to throw std::length_error
    EXPECT_EQ(ch.capacity(), SIZE_MAX);
    constexpr int count = 100'000;
    for (int i = 0; i < count; ++i) {
        int v = i;
        ASSERT_TRUE(ch.try_send(v)) << "try_send on an unbounded channel refused value " << i;
    }
    // send() from a task: it must not wait either (nobody receives meanwhile).
    ch.send(count);
    EXPECT_EQ(ch.size(), static_cast<std::size_t>(count) + 1);
    for (int i = 0; i <= count; ++i) ASSERT_EQ(ch.recv(), i);
    EXPECT_EQ(ch.size(), 0u);
    ch.close();
    EXPECT_FALSE(ch.recv().has_value());
}

RINGLET_TEST(ChannelLazyCapacityTest, UnboundedSendFromPlainThreadNeverBlocks) {
    ringlet::Channel<std::string> ch(ringlet::unbounded);
    // A plain thread sends everything before the task receives anything: were
    // send to block on a full buffer, the join below would never return.
    std::thread sender([&] {
        for (int i = 0; i < 10'000; ++i) ch.send(std::to_string(i));
    });
    sender.join();  // blocks this scheduler's thread: no receiver runs meanwhile
    for (int i = 0; i < 10'000; ++i) ASSERT_EQ(ch.recv(), std::to_string(i));
}

RINGLET_TEST(ChannelLazyCapacityTest, GrowingKeepsFifoOrderAcrossTheWrap) {
    // The head moves before every growth, so the values to move wrap around
    // the end of the old ring.
    ringlet::Channel<std::string> ch(1000);
    int next_in = 0;
    int next_out = 0;
    for (int round = 0; round < 40; ++round) {
        for (int i = 0; i < round + 3; ++i) {
            ASSERT_TRUE(ch.try_send(std::string(40, 'x') + std::to_string(next_in++)));
        }
        for (int i = 0; i < 2; ++i) {
            ASSERT_EQ(ch.try_recv(), std::string(40, 'x') + std::to_string(next_out++));
        }
    }
    while (auto v = ch.try_recv()) ASSERT_EQ(*v, std::string(40, 'x') + std::to_string(next_out++));
    EXPECT_EQ(next_out, next_in);
}

RINGLET_TEST(ChannelLazyCapacityTest, CapacityStillBoundsAGrownBuffer) {
    ringlet::Channel<std::unique_ptr<int>> ch(20);  // not a power of two
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(ch.try_send(std::make_unique<int>(i)));
    auto extra = std::make_unique<int>(20);
    EXPECT_FALSE(ch.try_send(extra));
    ASSERT_NE(extra, nullptr);  // refused: still the caller's
    EXPECT_FALSE(ch.send_for(extra, std::chrono::milliseconds(1)));
    for (int i = 0; i < 20; ++i) {
        auto v = ch.try_recv();
        ASSERT_TRUE(v.has_value());
        ASSERT_EQ(**v, i);
    }
}

RINGLET_TEST(ChannelLazyCapacityTest, FullGrownChannelHandsWaitingSenderIntoFreedSlot) {
    ringlet::Channel<int> ch(17);
    for (int i = 0; i < 17; ++i) ASSERT_TRUE(ch.try_send(i));
    auto sender = ringlet::spawn([&] { ch.send(17); });  // waits: the channel is full
    ringlet::yield();
    for (int i = 0; i <= 17; ++i) ASSERT_EQ(ch.recv(), i);
    sender.join();
}
