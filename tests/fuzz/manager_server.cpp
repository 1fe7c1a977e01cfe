// tests/fuzz/manager_server.cpp — the Manager server's connection: frames and requests.
//
// Input: one config byte, then the bytes a client sends. The server side is
// the real one (serve_manager_connection, a fresh object table per input) on
// one end of a socketpair, inside a scheduler. Config bit 0 = 0: this client
// first completes the handshake properly (client_handshake), so the bytes are
// request frames (u32 length, payload) that reach dispatch; bit 0 = 1: the
// bytes stand in for the handshake's answer. Bits 1-2 choose max_frame_size
// (64 B, 4 KiB, 1 MiB, 64 MiB).
// Checks: nothing crashes, leaks or hangs; the server ends when the client
// stops sending; every reply is a well-formed frame (status ok / ok_ack /
// error, and an error names a known kind and decodes as kind, type,
// message); no hostile request gets an "internal" error (which would mean a
// check missing before a standard library throw); a connection that did not
// authenticate gets only the hello and at most a rejection byte.
#include "manager_server.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <future>
#include <string>
#include <string_view>
#include <thread>
#include <unistd.h>

#include <sys/socket.h>

#include <ringlet/channel.hpp>
#include <ringlet/ipc/codec.hpp>
#include <ringlet/ipc/errors.hpp>
#include <ringlet/ipc/manager.hpp>
#include <ringlet/net/unix.hpp>
#include <ringlet/run.hpp>
#include <ringlet/task.hpp>
#include <ringlet/time.hpp>

#include "manager_wire.hpp"

namespace {

namespace ipc = ringlet::ipc;
namespace wire = ringlet::ipc::detail;
using namespace std::chrono_literals;

const std::string authkey = "fuzz-authkey";

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
    std::fprintf(stderr, "manager_server: %s %.*s\n", what, static_cast<int>(detail.size()),
                 detail.data());
    std::abort();
}

void check_reply(std::string_view payload) {
    if (payload.empty()) fail("an empty reply frame");
    const auto status = static_cast<std::uint8_t>(payload[0]);
    if (status == static_cast<std::uint8_t>(wire::ReplyStatus::ok) ||
        status == static_cast<std::uint8_t>(wire::ReplyStatus::ok_ack)) {
        return;
    }
    if (status != static_cast<std::uint8_t>(wire::ReplyStatus::error)) fail("unknown reply status");
    ipc::Reader r(payload.substr(1));
    try {
        const auto kind = r.read<std::uint8_t>();
        const auto type = r.read<std::string>();
        const auto message = r.read<std::string>();
        r.expect_end();
        if (kind < 1 || kind > 5) fail("an error reply of unknown kind");
        if (kind == static_cast<std::uint8_t>(wire::ErrorKind::internal)) {
            fail("a request got an internal error:", type + ": " + message);
        }
    } catch (const ipc::CodecError& e) {
        fail("an error reply that does not decode:", e.what());
    }
}

void session(std::uint8_t config, std::string_view bytes) {
    static constexpr std::size_t frame_limits[] = {64, 4096, 1 << 20, std::size_t{64} << 20};
    ipc::ManagerOptions options;
    options.max_frame_size = frame_limits[(config >> 1) & 3];
    options.handshake_timeout = 10s;
    options.frame_timeout = 10s;
    const bool authenticate = (config & 1) == 0;

    auto [server_end, client_end] = ringlet::net::UnixStream::pair();
    const int server_fd = server_end.socket().fd();
    const int client_fd = client_end.socket().fd();

    ringlet::Task<void> server = ringlet::spawn([&] {
        wire::serve_manager_connection(server_fd, authkey, options);
        ::shutdown(server_fd, SHUT_RDWR);  // the client's reader sees EOF
    });

    wire::WireStream io(client_fd);
    if (authenticate) {
        wire::client_handshake(io, authkey, ringlet::deadline_after(10s), "fuzz");
        if (io.buffered() != 0) fail("the server sent more than its verdict before a request");
    }
    ringlet::Task<void> reader = ringlet::spawn([&] {
        if (!authenticate) {
            std::string got(wire::server_hello_size + 2, '\0');
            std::size_t n = 0;
            wire::WireResult r =
                io.read_exact(got.data(), wire::server_hello_size, ringlet::TimePoint::max());
            if (r != wire::WireResult::ok) fail("no hello from the server");
            if (std::memcmp(got.data(), wire::handshake_magic, sizeof wire::handshake_magic) != 0) {
                fail("a hello without the magic");
            }
            char extra[2];
            while (n < 2 &&
                   io.read_exact(extra + n, 1, ringlet::TimePoint::max()) == wire::WireResult::ok) {
                ++n;
            }
            if (n > 1 || (n == 1 && extra[0] != 0)) {
                fail("an unauthenticated client got more than a rejection");
            }
            return;
        }
        std::string payload;
        for (;;) {
            const wire::WireResult r =
                io.read_frame(payload, std::size_t{1} << 30, ringlet::TimePoint::max(), 10s);
            if (r == wire::WireResult::eof) return;
            if (r != wire::WireResult::ok) fail("a reply frame was cut:", wire::describe(r));
            check_reply(payload);
        }
    });
    // The server may stop reading at any point (a bad frame closes the
    // connection): a failed send just ends the input.
    wire::WireStream out(client_fd);
    (void)out.write_all(bytes, ringlet::deadline_after(10s));
    ::shutdown(client_fd, SHUT_WR);
    server.get();  // rethrows whatever escaped the server (nothing should)
    reader.get();
}

// One scheduler for the whole run, on its own thread: a ringlet::run() per
// input would cost a millisecond under ASan (setting up and poisoning the
// stacks), more than the session itself. Each input is a job run as a task.
using Job = std::function<void()>;

ringlet::Channel<Job>& jobs() {
    static auto* channel = [] {
        auto* c = new ringlet::Channel<Job>(1);
        std::thread([c] {
            ringlet::run([c] {
                while (auto job = c->recv()) (*job)();
            });
        }).detach();  // lives until the process exits
        return c;
    }();
    return *channel;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t config = data[0];
    const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
    std::promise<void> done;
    jobs().send([&] {
        try {
            session(config, bytes);
            done.set_value();
        } catch (...) {
            done.set_exception(std::current_exception());
        }
    });
    done.get_future().get();  // rethrows: an escaped exception is a crash
    return 0;
}
