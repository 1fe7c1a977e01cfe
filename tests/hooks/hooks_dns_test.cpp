// tests/hooks/hooks_dns_test.cpp — getaddrinfo and gethostbyname on the blocking pool.
//
// The pool is limited to one worker and that worker is kept busy: a task's
// getaddrinfo must then wait behind it (suspended, the thread free), and
// completes once the worker is released. Names come from /etc/hosts only.
#include <cerrno>
#include <cstring>
#include <gtest/gtest.h>
#include <netdb.h>
#include <string>
#include <unistd.h>

#include <arpa/inet.h>

#include <ringlet/blocking.hpp>
#include <ringlet/hooks.hpp>
#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

namespace {

void let_others_run() {
    for (int i = 0; i < 4; ++i) ringlet::yield();
}

// Occupies the pool's only worker until release().
class BusyPool {
  public:
    BusyPool() {
        ringlet::set_blocking_pool_limit(1);
        EXPECT_EQ(::pipe(p_), 0);
        task_ = ringlet::spawn([this] {
            ringlet::blocking([this] {
                char c;
                return ::read(p_[0], &c, 1);  // a pool thread: the real, blocking read
            });
        });
        let_others_run();
    }
    void release() {
        ::write(p_[1], "x", 1);
        task_.join();
    }
    ~BusyPool() {
        ::close(p_[0]);
        ::close(p_[1]);
        ringlet::set_blocking_pool_limit(64);
    }

  private:
    int p_[2];
    ringlet::Task<void> task_;
};

}  // namespace

RINGLET_TEST(HooksDnsTest, GetaddrinfoRunsOnTheBlockingPool) {
    BusyPool busy;
    addrinfo* res = nullptr;
    auto lookup = ringlet::spawn([&] {
        addrinfo hints{};
        hints.ai_family = AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        return ::getaddrinfo("localhost", "80", &hints, &res);
    });
    let_others_run();
    EXPECT_FALSE(lookup.done());  // queued behind the busy worker, its thread free
    busy.release();
    ASSERT_EQ(lookup.get(), 0);
    ASSERT_NE(res, nullptr);
    const auto* sin = reinterpret_cast<const sockaddr_in*>(res->ai_addr);
    EXPECT_EQ(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
    EXPECT_EQ(ntohs(sin->sin_port), 80);
    ::freeaddrinfo(res);
    // Errors come back as getaddrinfo documents them.
    addrinfo hints{};
    hints.ai_flags = AI_NUMERICHOST;
    EXPECT_EQ(::getaddrinfo("not-a-number", nullptr, &hints, &res), EAI_NONAME);
}

RINGLET_TEST(HooksDnsTest, GethostbynameRunsOnTheBlockingPool) {
    BusyPool busy;
    auto lookup = ringlet::spawn([&] {
        hostent* h = ::gethostbyname("localhost");
        return h != nullptr && h->h_addrtype == AF_INET
                   ? ntohl(reinterpret_cast<in_addr*>(h->h_addr_list[0])->s_addr)
                   : 0u;
    });
    let_others_run();
    EXPECT_FALSE(lookup.done());
    busy.release();
    EXPECT_EQ(lookup.get(), INADDR_LOOPBACK);
}

RINGLET_TEST(HooksDnsTest, ACancelledLookupReturnsEaiSystemWithEintr) {
    BusyPool busy;
    int status = 0, err = 0;
    auto lookup = ringlet::spawn([&] {
        addrinfo* res = nullptr;
        status = ::getaddrinfo("localhost", nullptr, nullptr, &res);
        err = errno;
        ringlet::yield();  // Cancelled is thrown here
    });
    let_others_run();
    lookup.cancel();
    busy.release();  // the lookup itself cannot be interrupted: it runs, then is dropped
    lookup.join();
    EXPECT_EQ(status, EAI_SYSTEM);
    EXPECT_EQ(err, EINTR);
    EXPECT_TRUE(lookup.cancelled());
}
