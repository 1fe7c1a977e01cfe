// examples/threads/thread_per_core_echo.cpp — a gevent server serves many
// connections with coroutines in ONE thread; Python's threading module uses
// several threads. Thread-per-core combines them:
// run_threads(N) starts N schedulers, each binds its own listener on the same
// port with SO_REUSEPORT (TcpListener::bind(host, port, 1024, reuse_port =
// true)), and each runs net::serve() with an echo handler — one task per
// connection, on that thread. The kernel spreads incoming connections over
// the N listeners; no connection ever moves between threads.
//
// Stopping: every thread's main waits on one shared Event; when main sets it,
// each thread cancels its own serve() task (serve cancels and joins its
// connection tasks first), so every thread's main returns and run_threads()
// returns.
//
//   thread_per_core_echo            N = CPUs, 64 clients x 2000 round trips
//   thread_per_core_echo --smoke    N = 2, 8 clients x 50 round trips, verified
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <ringlet/net.hpp>
#include <ringlet/ringlet.hpp>

namespace {

using ringlet::net::TcpListener;
using ringlet::net::TcpStream;

// One connection: read what arrives, write it back, until EOF.
void echo(TcpStream stream) {
    std::array<std::byte, 4096> buf;
    for (;;) {
        const std::size_t n = stream.read(buf);
        if (n == 0) return;
        stream.write_all(std::span<const std::byte>(buf.data(), n));
    }
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";
    const std::size_t n_threads = smoke ? 2 : std::max(2u, std::thread::hardware_concurrency());
    const int clients = smoke ? 8 : 64;
    const int round_trips = smoke ? 50 : 2000;

    return ringlet::run([&] {
        ringlet::Event stop;                 // set by main: every server thread ends
        ringlet::Semaphore listening(0);     // one release per bound listener
        std::atomic<std::uint16_t> port{0};  // chosen by thread 0, shared by the others
        ringlet::Event port_known;
        std::vector<std::atomic<int>> accepted(n_threads);

        // The server: N threads, each with its own scheduler and listener.
        auto servers = ringlet::spawn([&] {
            ringlet::run_threads(n_threads, [&](std::size_t i) {
                // Thread 0 lets the kernel pick a free port; the others join it.
                if (i != 0) port_known.wait();
                TcpListener listener =
                    TcpListener::bind("127.0.0.1", port.load(), 1024, /*reuse_port=*/true);
                if (i == 0) {
                    port.store(listener.port());
                    port_known.set();
                }
                std::printf("thread %zu: listening on 127.0.0.1:%u (SO_REUSEPORT)\n", i,
                            unsigned(listener.port()));
                listening.release();
                auto server = ringlet::spawn([&] {
                    ringlet::net::serve(listener, [&](TcpStream s) {
                        accepted[i].fetch_add(1);
                        echo(std::move(s));
                    });
                });
                // The watcher: this thread's main waits for the shared stop
                // signal, then cancels its own serve() task.
                stop.wait();
                server.cancel();
                server.join();
            });
        });
        for (std::size_t i = 0; i < n_threads; ++i) listening.acquire();

        // Clients: tasks on the main thread, each its own connection.
        std::atomic<long> verified{0};
        std::atomic<long> mismatches{0};
        const auto start = std::chrono::steady_clock::now();
        ringlet::Group group;
        for (int c = 0; c < clients; ++c) {
            group.spawn([&, c] {
                TcpStream s = TcpStream::connect("127.0.0.1", port.load());
                s.set_nodelay();
                for (int r = 0; r < round_trips; ++r) {
                    const std::string msg =
                        "client " + std::to_string(c) + " says " + std::to_string(r) + "\n";
                    s.write_all(msg);
                    std::string back(msg.size(), '\0');
                    s.read_exact(std::as_writable_bytes(std::span(back)));
                    if (back == msg) {
                        verified.fetch_add(1);
                    } else {
                        mismatches.fetch_add(1);
                    }
                }
                s.shutdown_write();
            });
        }
        group.join();
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

        std::printf("%ld round trips verified, %ld mismatches, %.1f ms (%.0f round trips/s)\n",
                    verified.load(), mismatches.load(), seconds * 1e3, verified.load() / seconds);
        std::printf("connections per server thread:");
        for (std::size_t i = 0; i < n_threads; ++i) std::printf(" %d", accepted[i].load());
        std::printf("\n");

        std::printf("stopping: set the shared Event; each thread cancels its serve() task\n");
        stop.set();
        servers.get();
        std::printf("all %zu server threads have ended\n", n_threads);
        const bool ok = verified.load() == long{clients} * round_trips && mismatches.load() == 0;
        return ok ? 0 : 1;
    });
}
