// bench/echo/echo_load.cpp — a lean echo load generator on raw liburing.
//
// examples/net/echo_client measures the same thing with one ringlet task per
// connection, but on a 2-CPU machine the client gets one core, exactly as
// much as the server, and then it, not the server under test, can be what
// limits the rate. This generator spends as little as a client can per
// round trip: no tasks, one ring, every send/recv of a loop turn submitted in
// the one io_uring_submit_and_wait() that also reaps completions. It still
// checks every echoed byte and measures each round trip's latency.
//
//   echo_load --port P [--host 127.0.0.1] --connections N --size M --seconds D
//
// Output: the same line as echo_client, so bench/echo/echo_compare.sh can use
// either (CLIENT=...):
//   echo_load: 50 connections x 64 B for 3.00 s: 123 round trips, 41 round trips/s,
//   p50 12 us, p99 40 us
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <liburing.h>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what, int err) {
    std::fprintf(stderr, "echo_load: %s: %s\n", what, std::strerror(err));
    std::exit(1);
}

// Exact below 64 ns, then 32 buckets per power of two (~3%), as echo_client.
class Histogram {
public:
    void record(std::uint64_t ns) noexcept {
        ++counts_[index(ns)];
        ++total_;
    }
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
    static std::size_t index(std::uint64_t v) noexcept {
        if (v < 64) return static_cast<std::size_t>(v);
        const int e = 63 - std::countl_zero(v);
        const int shift = std::min(e - 5, 35);
        const std::uint64_t mant = std::min<std::uint64_t>(v >> shift, 63);
        return static_cast<std::size_t>(shift) * 32 + static_cast<std::size_t>(mant);
    }
    static double midpoint(std::size_t i) noexcept {
        if (i < 64) return static_cast<double>(i);
        const std::size_t shift = i / 32 - 1, mant = i % 32 + 32;
        return static_cast<double>(mant << shift) + static_cast<double>(1ull << shift) / 2;
    }
    std::array<std::uint64_t, 64 + 36 * 32> counts_{};
    std::uint64_t total_ = 0;
};

struct alignas(8) Conn {
    int fd = -1;
    std::size_t done = 0;  // bytes of the current send, or of the current echo received
    std::uint64_t seq = 0;
    Clock::time_point sent_at;
    std::vector<char> out, in;
};

enum : std::uint64_t { op_send = 1, op_recv = 2 };

io_uring ring;
std::size_t msg_size = 64;
Clock::time_point stop_at;
Histogram latency;
std::uint64_t round_trips = 0;
std::size_t finished = 0;

io_uring_sqe* sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    while (s == nullptr) {
        io_uring_submit(&ring);
        s = io_uring_get_sqe(&ring);
    }
    return s;
}

void send_rest(Conn* c) {
    io_uring_sqe* s = sqe();
    io_uring_prep_send(s, c->fd, c->out.data() + c->done, msg_size - c->done, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, reinterpret_cast<std::uint64_t>(c) | op_send);
}

void recv_rest(Conn* c) {
    io_uring_sqe* s = sqe();
    io_uring_prep_recv(s, c->fd, c->in.data() + c->done, msg_size - c->done, 0);
    io_uring_sqe_set_data64(s, reinterpret_cast<std::uint64_t>(c) | op_recv);
}

void start_round_trip(Conn* c, Clock::time_point now) {
    std::memcpy(c->out.data(), &c->seq, sizeof c->seq);  // every message differs
    c->done = 0;
    c->sent_at = now;
    send_rest(c);
}

void on_completion(const io_uring_cqe* cqe) {
    auto* c = reinterpret_cast<Conn*>(cqe->user_data & ~std::uint64_t{7});
    if (cqe->res <= 0) {
        die(cqe->user_data & op_send ? "send" : "recv (server closed?)",
            cqe->res == 0 ? ECONNRESET : -cqe->res);
    }
    c->done += static_cast<std::size_t>(cqe->res);
    if (cqe->user_data & op_send) {
        if (c->done < msg_size) return send_rest(c);
        c->done = 0;
        return recv_rest(c);
    }
    if (c->done < msg_size) return recv_rest(c);
    const auto now = Clock::now();
    if (std::memcmp(c->in.data(), c->out.data(), msg_size) != 0) {
        std::fprintf(stderr, "echo_load: echoed bytes differ from what was sent\n");
        std::exit(1);
    }
    latency.record(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - c->sent_at).count()));
    ++round_trips;
    ++c->seq;
    if (now >= stop_at) {
        ++finished;
        return;
    }
    start_round_trip(c, now);
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    unsigned port = 0;
    std::size_t connections = 50;
    double seconds = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string arg = argv[i];
        const char* v = argv[i + 1];
        if (arg == "--host") host = v;
        else if (arg == "--port") port = static_cast<unsigned>(std::atoi(v));
        else if (arg == "--connections") connections = std::strtoul(v, nullptr, 10);
        else if (arg == "--size") msg_size = std::strtoul(v, nullptr, 10);
        else if (arg == "--seconds") seconds = std::strtod(v, nullptr);
        else {
            port = 0;  // unknown argument: show the usage below
            break;
        }
    }
    if (argc % 2 == 0 || port == 0 || connections == 0 || msg_size < 8 || !(seconds > 0)) {
        std::fprintf(stderr, "usage: echo_load --port P [--host H] --connections N --size M"
                             " --seconds D   (M >= 8)\n");
        return 2;
    }

    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) die("--host must be IPv4", EINVAL);

    std::vector<Conn> conns(connections);
    for (std::size_t i = 0; i < connections; ++i) {
        Conn& c = conns[i];
        c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c.fd < 0) die("socket", errno);
        if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("connect", errno);
        const int one = 1;
        ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c.out.resize(msg_size);
        c.in.resize(msg_size);
        for (std::size_t b = 0; b < msg_size; ++b) c.out[b] = static_cast<char>('A' + (b + i) % 26);
    }

    static constexpr unsigned flag_sets[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN, 0};
    int res = -EINVAL;
    for (unsigned flags : flag_sets) {
        res = io_uring_queue_init(static_cast<unsigned>(std::min<std::size_t>(
                                      4096, std::bit_ceil(2 * connections + 8))),
                                  &ring, flags);
        if (res != -EINVAL) break;
    }
    if (res < 0) die("io_uring_queue_init", -res);
    io_uring_register_ring_fd(&ring);

    const auto start = Clock::now();
    stop_at = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    for (Conn& c : conns) start_round_trip(&c, start);
    while (finished < connections) {
        res = io_uring_submit_and_wait(&ring, 1);
        if (res < 0 && res != -EINTR && res != -EAGAIN && res != -EBUSY) die("io_uring_enter", -res);
        io_uring_cqe* cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            on_completion(cqe);
            ++seen;
        }
        io_uring_cq_advance(&ring, seen);
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    for (Conn& c : conns) ::close(c.fd);
    std::printf("echo_load: %zu connections x %zu B for %.2f s: %llu round trips, "
                "%.0f round trips/s, p50 %.0f us, p99 %.0f us\n",
                connections, msg_size, elapsed, static_cast<unsigned long long>(round_trips),
                static_cast<double>(round_trips) / elapsed, latency.quantile(0.5) / 1000,
                latency.quantile(0.99) / 1000);
    return 0;
}
