// examples/net/echo_client.cpp — many concurrent connections, one task each.
//
// gevent's model: "gevent.spawn(function, args)" per job, then
// "gevent.joinall(spawnlist)". Here every connection is a task that
// ping-pongs M-byte messages with an echo server for D seconds, checking
// every byte that comes back; main joins them all and reports round trips
// per second and the p50/p99 round-trip latency. It is also the load
// generator of bench/echo/echo_compare.sh.
//
//   echo_client --port P [--host H] --connections N --size M --seconds D
//   echo_client --smoke    # in-process echo server task, 10 connections, ~0.5 s
//
// Output (one line, parsed by bench/echo/echo_compare.sh):
//   echo_client: 50 connections x 64 B for 5.00 s: 1234567 round trips, 246913 round trips/s,
//   p50 190 us, p99 420 us
#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <ringlet/errors.hpp>
#include <ringlet/event.hpp>
#include <ringlet/net/serve.hpp>
#include <ringlet/net/tcp.hpp>
#include <ringlet/run.hpp>
#include <ringlet/task.hpp>
#include <ringlet/time.hpp>

namespace {

using ringlet::Clock;
using ringlet::net::TcpListener;
using ringlet::net::TcpStream;

struct Args {
    std::string host = "127.0.0.1";
    unsigned port = 0;
    std::size_t connections = 50;
    std::size_t size = 64;
    double seconds = 5.0;
    bool smoke = false;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "echo_client: %s\n"
                 "usage: echo_client --port P [--host H] --connections N --size M --seconds D"
                 " | --smoke\n",
                 why);
    std::exit(2);
}

unsigned long parse_number(std::string_view text, const char* what) {
    unsigned long value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) {
        usage((std::string("bad number for ") + what).c_str());
    }
    return value;
}

Args parse_args(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage((std::string(arg) + " needs a value").c_str());
            return argv[++i];
        };
        if (arg == "--smoke") {
            a.smoke = true;
        } else if (arg == "--host") {
            a.host = value();
        } else if (arg == "--port") {
            a.port = static_cast<unsigned>(parse_number(value(), "--port"));
        } else if (arg == "--connections") {
            a.connections = parse_number(value(), "--connections");
        } else if (arg == "--size") {
            a.size = parse_number(value(), "--size");
        } else if (arg == "--seconds") {
            const std::string v = value();
            char* end = nullptr;
            a.seconds = std::strtod(v.c_str(), &end);
            if (end == v.c_str() || *end != '\0' || !(a.seconds > 0)) usage("bad --seconds");
        } else {
            usage(("unknown argument " + std::string(arg)).c_str());
        }
    }
    if (!a.smoke) {
        if (a.port == 0 || a.port > 65535) usage("--port is required (1-65535)");
        if (a.connections == 0) usage("--connections must be at least 1");
        if (a.size < 8) usage("--size must be at least 8 (each message carries a sequence number)");
    }
    return a;
}

// Latency histogram: exact below 64 ns, then 32 buckets per power of two
// (about 3% resolution) up to 2^40 ns. Fixed size: recording never allocates.
class Histogram {
  public:
    void record(std::uint64_t ns) noexcept {
        ++counts_[index(ns)];
        ++total_;
    }
    std::uint64_t total() const noexcept { return total_; }
    // Value (ns) below which `q` of the samples fall (bucket midpoint).
    double quantile(double q) const noexcept {
        if (total_ == 0) return 0;
        const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= rank) return midpoint(i);
        }
        return midpoint(counts_.size() - 1);
    }

  private:
    static constexpr std::size_t buckets = 64 + 36 * 32;
    static std::size_t index(std::uint64_t v) noexcept {
        if (v < 64) return static_cast<std::size_t>(v);
        const int e = 63 - std::countl_zero(v);  // v in [2^e, 2^(e+1))
        const int shift = std::min(e - 5, 35);
        const std::uint64_t mant = std::min<std::uint64_t>(v >> shift, 63);  // [32, 64)
        return static_cast<std::size_t>(shift) * 32 + static_cast<std::size_t>(mant);
    }
    static double midpoint(std::size_t i) noexcept {
        if (i < 64) return static_cast<double>(i);
        const std::size_t shift = i / 32 - 1;
        const std::size_t mant = i % 32 + 32;
        return static_cast<double>(mant << shift) + static_cast<double>(1ull << shift) / 2;
    }
    std::array<std::uint64_t, buckets> counts_{};
    std::uint64_t total_ = 0;
};

struct Result {
    std::uint64_t round_trips = 0;
    double seconds = 0;
    double p50_us = 0;
    double p99_us = 0;
};

// Runs `connections` tasks against host:port. Every task connects first; the
// clock starts when all are connected (an Event releases them together).
Result run_load(const std::string& host, std::uint16_t port, std::size_t connections,
                std::size_t size, ringlet::Duration duration) {
    Histogram latency;  // shared: every task runs on this one thread
    ringlet::Event go;
    Clock::time_point stop_at{};
    std::size_t connected = 0;
    ringlet::Event all_connected;

    auto connection = [&](std::size_t id) -> std::uint64_t {
        TcpStream s = TcpStream::connect(host, port);
        s.set_nodelay();
        if (++connected == connections) all_connected.set();
        std::vector<std::byte> out(size), in(size);
        for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::byte>('A' + (i + id) % 26);
        go.wait();
        std::uint64_t seq = 0;
        for (;;) {
            const auto t0 = Clock::now();
            if (t0 >= stop_at) break;
            std::memcpy(out.data(), &seq, sizeof seq);  // every message is different
            s.write_all(out);
            s.read_exact(in);
            const auto t1 = Clock::now();
            if (std::memcmp(in.data(), out.data(), size) != 0) {
                throw std::runtime_error("connection " + std::to_string(id) +
                                         ": echoed bytes differ from what was sent");
            }
            latency.record(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
            ++seq;
        }
        s.shutdown_write();
        return seq;
    };

    std::vector<ringlet::Task<std::uint64_t>> tasks;
    tasks.reserve(connections);
    for (std::size_t c = 0; c < connections; ++c) {
        tasks.push_back(ringlet::spawn(
            ringlet::SpawnOptions{.name = "conn", .stack_size = 64 * 1024}, connection, c));
    }
    // Wait for every connection (or the first failure), then start the clock.
    while (!all_connected.wait(std::chrono::milliseconds(50))) {
        for (auto& t : tasks) {
            if (t.done()) t.get();  // rethrows a failed connect
        }
    }
    const auto start = Clock::now();
    stop_at = start + duration;
    go.set();
    Result r;
    for (auto& t : tasks) r.round_trips += t.get();  // rethrows a mismatch
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    r.p50_us = latency.quantile(0.50) / 1000.0;
    r.p99_us = latency.quantile(0.99) / 1000.0;
    return r;
}

void print(const Result& r, std::size_t connections, std::size_t size) {
    std::printf(
        "echo_client: %zu connections x %zu B for %.2f s: %llu round trips, "
        "%.0f round trips/s, p50 %.0f us, p99 %.0f us\n",
        connections, size, r.seconds, static_cast<unsigned long long>(r.round_trips),
        static_cast<double>(r.round_trips) / r.seconds, r.p50_us, r.p99_us);
    std::fflush(stdout);
}

void echo(TcpStream stream) {
    stream.set_nodelay();
    std::array<std::byte, 16 * 1024> buf;
    while (const std::size_t n = stream.read(buf)) stream.write_all(std::span(buf.data(), n));
}

// --smoke: an echo server task and the load in the same thread.
int smoke() {
    return ringlet::run([] {
        TcpListener listener = TcpListener::bind("127.0.0.1", 0);
        auto server = ringlet::spawn([&] { ringlet::net::serve(listener, echo); });
        const Result r =
            run_load("127.0.0.1", listener.port(), 10, 100, std::chrono::milliseconds(500));
        print(r, 10, 100);
        server.cancel();
        server.join();
        if (r.round_trips == 0) {
            std::fprintf(stderr, "echo_client smoke: no round trip completed\n");
            return 1;
        }
        return 0;
    });
}

}  // namespace

int main(int argc, char** argv) {
    const Args args = parse_args(argc, argv);
    try {
        if (args.smoke) return smoke();
        return ringlet::run([&] {
            const auto duration = std::chrono::duration_cast<ringlet::Duration>(
                std::chrono::duration<double>(args.seconds));
            const Result r = run_load(args.host, static_cast<std::uint16_t>(args.port),
                                      args.connections, args.size, duration);
            print(r, args.connections, args.size);
            return 0;
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "echo_client: %s\n", e.what());
        return 1;
    }
}
