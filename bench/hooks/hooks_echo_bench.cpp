// bench/hooks/hooks_echo_bench.cpp — what the hooks cost: blocking read/write vs TcpStream.
//
// One server thread runs two echo servers side by side on one scheduler:
//   native  TcpListener/TcpStream (ringlet's own IO path),
//   hooked  socket/accept/read/write on blocking fds, as a C library would
//           write them, made cooperative by ringlet-hooks.
// The same load (C connections, one 64-byte message in flight on each, a
// ringlet client on the main thread) runs against each in alternating
// rounds; the median round trips per second of each and their ratio are
// printed. DESIGN's budget: the hooked echo within 10 % of the native one.
//
//   hooks_echo_bench [--rounds N] [--seconds S] [--connections C]
//   hooks_echo_bench --smoke        one short round (the benchmark suite)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <ringlet/event.hpp>
#include <ringlet/hooks.hpp>
#include <ringlet/net/tcp.hpp>
#include <ringlet/ringlet.hpp>
#include <ringlet/thread.hpp>

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t message = 64;

// The hooked server's listener, made as a C library would make it (blocking).
int blocking_listener(std::uint16_t& port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 1024) != 0) {
        std::perror("hooked listener");
        std::exit(1);
    }
    socklen_t len = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    port = ntohs(sa.sin_port);
    return fd;
}

void hooked_echo(int fd) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);  // blocking, in the caller's view
        if (n <= 0) break;
        if (::write(fd, buf, static_cast<std::size_t>(n)) != n) break;
    }
    ::close(fd);
}

void native_echo(ringlet::net::TcpStream conn) {
    conn.set_nodelay();
    std::byte buf[4096];
    try {
        for (;;) {
            const std::size_t n = conn.read(buf);
            if (n == 0) break;
            conn.write_all(std::span<const std::byte>(buf, n));
        }
    } catch (const ringlet::IoError&) {
    }
}

// C connections each doing ping-pong for `seconds`; round trips per second.
double load(std::uint16_t port, int connections, double seconds) {
    std::vector<ringlet::Task<std::uint64_t>> clients;
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(seconds));
    for (int i = 0; i < connections; ++i) {
        clients.push_back(ringlet::spawn([port, end] {
            auto c = ringlet::net::TcpStream::connect("127.0.0.1", port);
            c.set_nodelay();
            std::byte out[message], in[message];
            std::memset(out, 'e', sizeof out);
            std::uint64_t trips = 0;
            while (Clock::now() < end) {
                c.write_all(out);
                c.read_exact(in);
                ++trips;
            }
            return trips;
        }));
    }
    const auto start = Clock::now();
    std::uint64_t total = 0;
    for (auto& t : clients) total += t.get();
    return double(total) / std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    int rounds = 7, connections = 16;
    double seconds = 0.5;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--smoke") {
            rounds = 1;
            seconds = 0.1;
        } else if (a == "--rounds" && i + 1 < argc) {
            rounds = std::atoi(argv[++i]);
        } else if (a == "--seconds" && i + 1 < argc) {
            seconds = std::atof(argv[++i]);
        } else if (a == "--connections" && i + 1 < argc) {
            connections = std::atoi(argv[++i]);
        }
    }

    auto native = ringlet::net::TcpListener::bind("127.0.0.1", 0);
    const std::uint16_t native_port = native.port();
    std::uint16_t hooked_port = 0;
    const int hooked = blocking_listener(hooked_port);
    ringlet::Event stop;
    ringlet::Thread server([&stop, hooked, native = std::move(native)]() mutable {
        auto a = ringlet::spawn([&] {
            for (;;) ringlet::spawn(native_echo, native.accept()).detach();
        });
        auto b = ringlet::spawn([&] {
            for (;;) {
                const int fd = ::accept(hooked, nullptr, nullptr);
                if (fd < 0) return;  // cancelled at the end (EINTR)
                ringlet::spawn(hooked_echo, fd).detach();
            }
        });
        stop.wait();
        a.cancel();  // before the listener, captured here, is closed
        b.cancel();
        a.join();
        b.join();
    });

    std::vector<double> native_rates, hooked_rates;
    ringlet::run([&] {
        if (!ringlet::hooks_installed()) {
            std::fprintf(stderr, "hooks_echo_bench: ringlet-hooks is not loaded\n");
            std::exit(1);
        }
        for (int r = 0; r < rounds; ++r) {  // alternate, so drift hits both alike
            native_rates.push_back(load(native_port, connections, seconds));
            hooked_rates.push_back(load(hooked_port, connections, seconds));
        }
    });
    stop.set();
    server.join();
    ::close(hooked);

    const double n = median(native_rates), h = median(hooked_rates);
    std::printf("echo, %d connections x 64 B ping-pong, median of %d rounds of %.1f s\n",
                connections, rounds, seconds);
    std::printf("  native TcpStream        %10.0f round trips/s\n", n);
    std::printf("  hooked read()/write()   %10.0f round trips/s\n", h);
    std::printf("  hooked / native         %10.3f  (hook cost %.1f %%)\n", h / n,
                100.0 * (1.0 - h / n));
    return 0;
}
