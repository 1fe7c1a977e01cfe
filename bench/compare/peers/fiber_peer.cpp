// bench/compare/peers/fiber_peer.cpp — the Boost.Fiber peer: one thread, one
// fiber per unit, for the io and spawn workloads.
//
//   compare_fiber --workload io|spawn --units N [--port P]
//
// Prints the same JSON object as `compare cell` (see compare.cpp). Boost.Fiber
// has no IO of its own, so this program carries the smallest integration that
// works: non-blocking sockets, and a poller fiber that waits in epoll_wait(0)
// while other fibers can run and in epoll_wait(-1) once every unit fiber is
// parked on a socket; a parked fiber sleeps on a fibers::condition_variable.
// Fibers get Boost's default stack (fixedsize_stack, 128 KiB, from malloc).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/fiber/all.hpp>

#include "../measure.hpp"

namespace {

using compare::Clock;

constexpr std::size_t message_size = 64;
constexpr std::uint64_t answer_key = 0x9E3779B97F4A7C15ull;  // as workloads.hpp

int g_epoll = -1;
std::size_t g_live = 0;     // unit fibers not yet finished
std::size_t g_parked = 0;   // unit fibers waiting in wait_fd

struct Waiter {
    boost::fibers::mutex m;
    boost::fibers::condition_variable cv;
    bool ready = false;
};

[[noreturn]] void fail(const char* what) {
    throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

// Parks the calling fiber until `fd` is ready for `events`.
void wait_fd(int fd, std::uint32_t events) {
    Waiter w;
    epoll_event ev{};
    ev.events = events | EPOLLONESHOT;
    ev.data.ptr = &w;
    if (::epoll_ctl(g_epoll, EPOLL_CTL_ADD, fd, &ev) != 0) fail("epoll_ctl");
    ++g_parked;
    {
        std::unique_lock<boost::fibers::mutex> lock(w.m);
        w.cv.wait(lock, [&] { return w.ready; });
    }
    ::epoll_ctl(g_epoll, EPOLL_CTL_DEL, fd, nullptr);
}

void poller() {
    std::array<epoll_event, 1024> events;
    while (g_live > 0) {
        // Block only when no unit fiber can run: all of them are parked here.
        const int timeout = g_parked == g_live ? -1 : 0;
        const int n = ::epoll_wait(g_epoll, events.data(), events.size(), timeout);
        for (int k = 0; k < n; ++k) {
            auto* w = static_cast<Waiter*>(events[k].data.ptr);
            {
                std::unique_lock<boost::fibers::mutex> lock(w->m);
                w->ready = true;
            }
            w->cv.notify_one();
            --g_parked;
        }
        boost::this_fiber::yield();
    }
}

std::uint64_t io_unit(std::uint64_t i, const sockaddr_in& server) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof server) != 0) {
        if (errno != EINPROGRESS) fail("connect");
        wait_fd(fd, EPOLLOUT);
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            errno = err;
            fail("connect");
        }
    }
    std::array<std::uint64_t, message_size / 8> words;
    for (std::uint64_t j = 0; j < words.size(); ++j) words[j] = i * 8 + j;
    auto* bytes = reinterpret_cast<char*>(words.data());
    for (std::size_t done = 0; done < message_size;) {
        const ssize_t n = ::send(fd, bytes + done, message_size - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
        } else if (n < 0 && errno == EAGAIN) {
            wait_fd(fd, EPOLLOUT);
        } else {
            fail("send");
        }
    }
    for (std::size_t done = 0; done < message_size;) {
        const ssize_t n = ::recv(fd, bytes + done, message_size - done, 0);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
        } else if (n < 0 && errno == EAGAIN) {
            wait_fd(fd, EPOLLIN);
        } else {
            if (n == 0) errno = ECONNRESET;
            fail("recv");
        }
    }
    std::uint64_t sum = 0;
    for (std::uint64_t w : words) sum += w;
    return sum;
}

std::uint64_t expected_io_value(std::uint64_t i) {
    std::uint64_t sum = 0;
    for (std::uint64_t j = 0; j < message_size / 8; ++j) sum += (i * 8 + j) ^ answer_key;
    return sum;
}

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr, "compare_fiber: %s\nusage: compare_fiber --workload io|spawn --units N [--port P]\n",
                 why);
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    std::string workload;
    std::size_t units = 0;
    unsigned port = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (i + 1 >= argc) usage("missing value");
        const std::string_view v = argv[++i];
        unsigned long long n = 0;
        if (arg == "--workload") {
            workload = v;
            continue;
        }
        if (std::from_chars(v.data(), v.data() + v.size(), n).ec != std::errc()) usage("bad number");
        if (arg == "--units") {
            units = n;
        } else if (arg == "--port") {
            port = static_cast<unsigned>(n);
        } else {
            usage("unknown argument");
        }
    }
    if (units == 0 || (workload != "io" && workload != "spawn")) usage("need --workload and --units");
    if (workload == "io" && port == 0) usage("io needs --port");
    compare::raise_fd_limit();

    std::vector<std::uint64_t> results(units, 0);
    std::size_t failed = 0;
    std::string first_error;
    double spawn_s = -1, mem_kib = -1, mem_per_unit = -1, kmem_per_unit = -1;
    Clock::duration excluded{};
    compare::Usage excluded_usage;

    const double base_pss = compare::tree_pss_kib(::getpid());
    const double base_kernel = compare::kernel_kib();
    const compare::Usage u0 = compare::Usage::now();
    const Clock::time_point t0 = Clock::now();
    {
        std::vector<boost::fibers::fiber> fibers;
        fibers.reserve(units);
        if (workload == "io") {
            g_epoll = ::epoll_create1(EPOLL_CLOEXEC);
            sockaddr_in server{};
            server.sin_family = AF_INET;
            server.sin_port = htons(static_cast<std::uint16_t>(port));
            server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            g_live = units;
            for (std::uint64_t i = 0; i < units; ++i) {
                fibers.emplace_back([&, i] {
                    try {
                        results[i] = io_unit(i, server);
                    } catch (const std::exception& e) {
                        if (failed++ == 0) first_error = e.what();
                    }
                    --g_live;
                });
            }
            boost::fibers::fiber poll_fiber(poller);
            for (auto& f : fibers) f.join();
            poll_fiber.join();
        } else {
            boost::fibers::mutex m;
            boost::fibers::condition_variable cv;
            bool go = false;
            std::size_t ready = 0;
            Clock::time_point all_ready{};
            for (std::uint64_t i = 0; i < units; ++i) {
                fibers.emplace_back([&, i] {
                    if (++ready == units) all_ready = Clock::now();
                    std::unique_lock<boost::fibers::mutex> lock(m);
                    cv.wait(lock, [&] { return go; });
                    results[i] = i;
                });
            }
            while (ready < units) boost::this_fiber::yield();
            const compare::Usage before = compare::Usage::now();
            spawn_s = std::chrono::duration<double>(all_ready - t0).count();
            mem_kib = compare::tree_pss_kib(::getpid());
            mem_per_unit = (mem_kib - base_pss) / static_cast<double>(units);
            kmem_per_unit = (compare::kernel_kib() - base_kernel) / static_cast<double>(units);
            excluded = Clock::now() - all_ready;
            excluded_usage = compare::Usage::now() - before;
            {
                std::unique_lock<boost::fibers::mutex> lock(m);
                go = true;
            }
            cv.notify_all();
            for (auto& f : fibers) f.join();
        }
    }
    const double wall = std::chrono::duration<double>(Clock::now() - t0 - excluded).count();
    const compare::Usage u = compare::Usage::now() - u0 - excluded_usage;

    std::uint64_t checksum = 0, expected = 0;
    for (std::size_t i = 0; i < units; ++i) {
        checksum += results[i];
        expected += workload == "io" ? expected_io_value(i) : i;
    }
    const bool ok = failed == 0 && checksum == expected;
    compare::Json j;
    j.add("model", "fiber").add("workload", workload).add("units", units).add("ok", ok)
        .add("wall_s", wall).add("units_per_s", static_cast<double>(units) / wall)
        .add("user_s", u.user_s).add("sys_s", u.sys_s).add("cpu_s", u.user_s + u.sys_s)
        .add("vcsw", u.vcsw).add("ivcsw", u.ivcsw).add("checksum", std::to_string(checksum))
        .add("peak_rss_kib", compare::peak_rss_kib());
    if (workload == "spawn") {
        j.add("spawn_s", spawn_s).add("mem_kib", mem_kib).add("mem_per_unit_kib", mem_per_unit)
            .add("kmem_per_unit_kib", kmem_per_unit);
    }
    if (failed > 0) {
        j.add("error", std::to_string(failed) + " units failed, first: " + first_error);
    } else if (!ok) {
        j.add("error", "wrong checksum");
    }
    std::printf("%s\n", j.str().c_str());
    return ok ? 0 : 3;
}
