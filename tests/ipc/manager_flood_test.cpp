// tests/ipc/manager_flood_test.cpp — no lock-out by idle floods: a Manager
// server run at a low RLIMIT_NOFILE (in a forked child) gets 1 500 idle TCP
// connections that never handshake, and a good client must still connect and
// make calls, within its normal handshake timeout. Also: a client whose
// connection is dropped before the handshake (the server's startup limit)
// retries and gets in once there is room.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <gtest/gtest.h>
#include <memory>
#include <string>
#include <vector>

#include <sys/resource.h>

#include <ringlet/ipc/errors.hpp>
#include <ringlet/ipc/manager.hpp>
#include <ringlet/ipc/pipe.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/net/tcp.hpp>
#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;
namespace net = ringlet::net;
using ipc::Manager;
using ipc::ManagerOptions;

namespace {

constexpr std::string_view key = "flood-key";

void raise_own_nofile() {
    rlimit r{};
    ::getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
}

// Starts a Manager server (TCP, loopback) in a child process whose
// RLIMIT_NOFILE is `nofile`; the server process inherits that limit. The
// child keeps it until its pipe end reads a message (or closes).
struct FloodTarget {
    FloodTarget(rlim_t nofile, ManagerOptions options) {
        auto [mine, theirs] = ipc::pipe<int>();
        control = std::move(mine);
        child_end = std::move(theirs);
        owner = std::make_unique<ipc::Process>(
            ipc::ProcessOptions{.name = "flood-owner"},
            [nofile, options](ipc::Connection<int>& end) {
                rlimit r{};
                ::getrlimit(RLIMIT_NOFILE, &r);
                r.rlim_cur = nofile;
                if (::setrlimit(RLIMIT_NOFILE, &r) != 0) std::_Exit(3);
                Manager m = Manager::serve("127.0.0.1", 0, key, options);
                end.send(m.port());
                try {
                    (void)end.recv();
                } catch (const std::exception&) {
                }
            },
            std::ref(child_end));
        owner->start();
        port = static_cast<std::uint16_t>(control.recv().value_or(0));
    }
    ~FloodTarget() {
        try {
            control.send(0);
            owner->join(30s);
        } catch (const std::exception&) {
        }
    }
    ipc::Connection<int> control;
    ipc::Connection<int> child_end;
    std::unique_ptr<ipc::Process> owner;
    std::uint16_t port = 0;
};

std::vector<net::TcpStream> flood(std::uint16_t port, int n) {
    std::vector<net::TcpStream> idle;
    idle.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        try {
            idle.push_back(net::TcpStream::connect("127.0.0.1", port, 5s));
        } catch (const std::exception&) {
            // A SYN the full backlog dropped: the flood is big enough.
        }
    }
    return idle;
}

double seconds_since(ringlet::TimePoint t0) {
    return std::chrono::duration<double>(ringlet::Clock::now() - t0).count();
}

}  // namespace

RINGLET_TEST(ManagerFloodTest, GoodClientGetsInDuringAnIdleFloodAtTheFdLimit) {
#if defined(__SANITIZE_ADDRESS__)
    // The sanitizer runtimes need descriptors of their own (UBSan's vptr check
    // probes memory through a pipe) and report false errors without them.
    GTEST_SKIP() << "no descriptors are left for the sanitizer runtime in the server at EMFILE";
#endif
    raise_own_nofile();
    FloodTarget target(256, ManagerOptions{});  // the defaults are the defence
    std::vector<net::TcpStream> idle = flood(target.port, 1500);
    EXPECT_GT(idle.size(), 1000u);
    const auto t0 = ringlet::Clock::now();
    // Within its normal handshake timeout (10 s), retries included.
    Manager client = Manager::connect("127.0.0.1", target.port, key);
    auto d = client.dict<std::string, int>("flood");
    d.set("answer", 42);
    EXPECT_EQ(d.get("answer"), 42);
    std::printf("  good client in after %.3f s during a %zu-connection idle flood (nofile 256)\n",
                seconds_since(t0), idle.size());
    // A second client, while the flood's connections still hang around.
    Manager again = Manager::connect("127.0.0.1", target.port, key);
    auto d2 = again.dict<std::string, int>("flood");
    EXPECT_EQ(d2.get("answer"), 42);
}

RINGLET_TEST(ManagerFloodTest, GoodClientGetsInDuringAnIdleFloodWithRoomForEveryFd) {
    raise_own_nofile();
    // 1024 descriptors: the startup limit (256) is what holds the flood off.
    FloodTarget target(1024, ManagerOptions{});
    std::vector<net::TcpStream> idle = flood(target.port, 1500);
    const auto t0 = ringlet::Clock::now();
    Manager client = Manager::connect("127.0.0.1", target.port, key);
    auto v = client.list<int>("l");
    v.append(7);
    EXPECT_EQ(v.size(), 1u);
    std::printf("  good client in after %.3f s during a %zu-connection idle flood (nofile 1024)\n",
                seconds_since(t0), idle.size());
}

RINGLET_TEST(ManagerFloodTest, ClientDroppedBeforeTheHandshakeRetriesUntilThereIsRoom) {
    raise_own_nofile();
    // At most 4 unauthenticated connections, no random drops below that,
    // and a short handshake deadline: the 4 idle ones go after 300 ms.
    ManagerOptions options;
    options.max_startups_soft = 4;
    options.max_startups = 4;
    options.handshake_timeout = 300ms;
    FloodTarget target(1024, options);
    std::vector<net::TcpStream> idle = flood(target.port, 4);
    ASSERT_EQ(idle.size(), 4u);
    ManagerOptions client_options;  // the client's own 10 s
    Manager client = Manager::connect("127.0.0.1", target.port, key, client_options);
    auto d = client.dict<std::string, int>("d");
    d.set("k", 1);
    EXPECT_EQ(d.get("k"), 1);
}

RINGLET_TEST(ManagerFloodTest, ClientGivesUpWithAClearErrorWhenAlwaysDropped) {
    raise_own_nofile();
    ManagerOptions options;
    options.max_startups_soft = 0;
    options.max_startups = 0;  // every connection is dropped before the handshake
    FloodTarget target(1024, options);
    ManagerOptions client_options;
    client_options.handshake_timeout = 300ms;
    try {
        (void)Manager::connect("127.0.0.1", target.port, key, client_options);
        ADD_FAILURE() << "connected to a server that drops every connection";
    } catch (const ipc::ManagerError& e) {
        EXPECT_NE(std::string(e.what()).find("max_startups"), std::string::npos) << e.what();
    }
}
