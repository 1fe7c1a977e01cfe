// tests/ps/ps_system_test.cpp — the system-wide ringlet::ps calls against
// sysinfo(2), sysconf and traffic the test makes itself.
#include <atomic>
#include <chrono>
#include <cmath>
#include <string>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>

#include <ringlet/ps.hpp>

#include "ringlet_test.hpp"

namespace ps = ringlet::ps;
using namespace std::chrono_literals;

RINGLET_TEST(PsSystemTest, CpuCountMatchesSysconf) {
    EXPECT_EQ(ps::cpu_count(), static_cast<std::size_t>(::sysconf(_SC_NPROCESSORS_ONLN)));
    const std::size_t cores = ps::cpu_count(false);
    EXPECT_GE(cores, 1u);
    EXPECT_LE(cores, ps::cpu_count());
}

RINGLET_TEST(PsSystemTest, CpuPercentIsInRangeAndSuspends) {
    std::atomic<bool> other_ran{false};
    auto other = ringlet::spawn([&] { other_ran = true; });
    const double pct = ps::cpu_percent(50ms);
    EXPECT_TRUE(other_ran.load());
    EXPECT_GE(pct, 0.0);
    EXPECT_LE(pct, 100.0);
    other.join();
    const double since = ps::cpu_percent();  // against the sample just taken
    EXPECT_GE(since, 0.0);
    EXPECT_LE(since, 100.0);
}

RINGLET_TEST(PsSystemTest, VirtualMemoryMatchesSysinfo) {
    struct sysinfo si {};
    ASSERT_EQ(::sysinfo(&si), 0);
    const auto vm = ps::virtual_memory();
    EXPECT_EQ(vm.total, static_cast<std::uint64_t>(si.totalram) * si.mem_unit);
    EXPECT_LE(vm.available, vm.total);
    EXPECT_LE(vm.free, vm.total);
    EXPECT_LE(vm.used, vm.total);
    EXPECT_GT(vm.percent, 0.0);
    EXPECT_LT(vm.percent, 100.0);
    EXPECT_NEAR(
        vm.percent,
        100.0 * static_cast<double>(vm.total - vm.available) / static_cast<double>(vm.total), 1e-9);
    // sysinfo's freeram is MemFree; it moves, so allow some slack.
    EXPECT_NEAR(static_cast<double>(vm.free), static_cast<double>(si.freeram) * si.mem_unit,
                0.1 * static_cast<double>(vm.total));
}

RINGLET_TEST(PsSystemTest, SwapMemoryMatchesSysinfo) {
    struct sysinfo si {};
    ASSERT_EQ(::sysinfo(&si), 0);
    const auto sw = ps::swap_memory();
    EXPECT_EQ(sw.total, static_cast<std::uint64_t>(si.totalswap) * si.mem_unit);
    EXPECT_EQ(sw.used + sw.free, sw.total);
    if (sw.total == 0) {
        EXPECT_EQ(sw.percent, 0.0);
    }
}

RINGLET_TEST(PsSystemTest, BootTimeIsNowMinusUptime) {
    struct sysinfo si {};
    ASSERT_EQ(::sysinfo(&si), 0);
    const auto expected = std::chrono::system_clock::now() - std::chrono::seconds(si.uptime);
    const auto diff = ps::boot_time() - expected;
    EXPECT_LE(std::chrono::abs(diff), 3s);
    EXPECT_LE(ps::boot_time(), ps::Process().create_time());
}

RINGLET_TEST(PsSystemTest, DiskUsageOfRootAndAMissingPath) {
    struct statvfs st {};
    ASSERT_EQ(::statvfs("/", &st), 0);
    const auto du = ps::disk_usage("/");
    EXPECT_EQ(du.total, static_cast<std::uint64_t>(st.f_blocks) * st.f_frsize);
    EXPECT_LE(du.used, du.total);
    EXPECT_LE(du.free, du.total);
    EXPECT_GE(du.percent, 0.0);
    EXPECT_LE(du.percent, 100.0);
    try {
        ps::disk_usage("/no/such/path/ringlet");
        FAIL() << "no exception";
    } catch (const ringlet::IoError& e) {
        EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    }
}

RINGLET_TEST(PsSystemTest, LoopbackTrafficShowsInNetIoCounters) {
    const auto before = ps::net_io_counters_per_nic();
    ASSERT_TRUE(before.count("lo")) << "no loopback interface";
    const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(s, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    const std::string payload(1000, 'p');
    constexpr int packets = 20;
    for (int i = 0; i < packets; ++i) {
        ASSERT_EQ(
            ::sendto(s, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&addr), len),
            static_cast<ssize_t>(payload.size()));
    }
    ::close(s);
    const auto after = ps::net_io_counters_per_nic();
    const auto& a = before.at("lo");
    const auto& b = after.at("lo");
    EXPECT_GE(b.bytes_sent - a.bytes_sent, packets * payload.size());
    EXPECT_GE(b.packets_sent - a.packets_sent, static_cast<std::uint64_t>(packets));
    EXPECT_GE(b.bytes_recv - a.bytes_recv, packets * payload.size());
    const auto total = ps::net_io_counters();
    EXPECT_GE(total.bytes_sent, b.bytes_sent);
}
