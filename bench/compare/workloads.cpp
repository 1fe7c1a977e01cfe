#include "workloads.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <new>

#include <ringlet/net/address.hpp>
#include <ringlet/net/tcp.hpp>

namespace compare {

namespace {
Shared* g_shared = nullptr;
}  // namespace

bool parse_workload(std::string_view name, Workload& out) {
    if (name == "io") {
        out = Workload::io;
    } else if (name == "cpu") {
        out = Workload::cpu;
    } else if (name == "mixed") {
        out = Workload::mixed;
    } else if (name == "spawn") {
        out = Workload::spawn;
    } else {
        return false;
    }
    return true;
}

const char* workload_name(Workload w) {
    switch (w) {
        case Workload::io: return "io";
        case Workload::cpu: return "cpu";
        case Workload::mixed: return "mixed";
        case Workload::spawn: return "spawn";
    }
    return "?";
}

Params& params() {
    static Params p;
    return p;
}

std::uint64_t expected_io_value(std::uint64_t i) {
    std::uint64_t sum = 0;
    for (std::uint64_t j = 0; j < message_size / 8; ++j) sum += (i * 8 + j) ^ answer_key;
    return sum;
}

std::uint64_t io_unit(std::uint64_t i) {
    // Numeric address: no resolver, no helper thread, on every model.
    static const ringlet::net::SocketAddress server =
        ringlet::net::SocketAddress::ip("127.0.0.1", params().port);
    ringlet::net::TcpStream stream = ringlet::net::TcpStream::connect(server);
    stream.set_nodelay();
    std::array<std::uint64_t, message_size / 8> words;
    for (std::uint64_t j = 0; j < words.size(); ++j) words[j] = i * 8 + j;
    stream.write_all(std::as_bytes(std::span(words)));
    stream.read_exact(std::as_writable_bytes(std::span(words)));
    std::uint64_t sum = 0;
    for (std::uint64_t w : words) sum += w;
    return sum;
}

std::uint64_t cpu_unit(std::uint64_t i, std::uint64_t rounds) {
    std::uint64_t x = i * answer_key + 1;  // never 0: xorshift would stay there
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::uint64_t r = 0; r < rounds; ++r) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        h = (h ^ (x * 0x2545F4914F6CDD1Dull)) * 0x100000001b3ull;
    }
    return h;
}

std::uint64_t work_unit(std::uint64_t i) {
    const Params& p = params();
    switch (p.workload) {
        case Workload::io: return io_unit(i);
        case Workload::cpu: return cpu_unit(i, p.rounds);
        case Workload::mixed: return io_unit(i) + cpu_unit(i, p.rounds);
        case Workload::spawn: return i;
    }
    return 0;
}

void run_work_unit(std::uint64_t i) noexcept {
    try {
        shared().results()[i] = work_unit(i);
    } catch (const std::exception& e) {
        shared().failed.fetch_add(1);
        shared().record_error(e.what());
    }
}

Shared* Shared::create(std::size_t units) {
    const std::size_t bytes = sizeof(Shared) + units * sizeof(std::uint64_t);
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    g_shared = new (p) Shared;
    return g_shared;
}

void Shared::record_error(const char* what) noexcept {
    if (error_claimed.exchange(1) == 0) {
        std::strncpy(first_error, what, sizeof first_error - 1);
    }
}

void Shared::record_limit(const std::string& why) noexcept {
    if (limit_claimed.exchange(1) == 0) {
        std::strncpy(limit, why.c_str(), sizeof limit - 1);
    }
}

Shared& shared() { return *g_shared; }

}  // namespace compare
