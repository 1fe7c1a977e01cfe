// tests/fuzz/manager_handshake.cpp — both halves of the Manager's handshake against hostile bytes.
//
// Input: one config byte, then what the peer sends. Bit 0 chooses the side:
// 0, the client's half (client_handshake) reads the bytes as a server's hello
// and verdict; 1, the server's half (server_handshake) reads them as a
// client's proof. Bit 1 chooses an empty authkey. Neither half may ever
// accept a peer that cannot know its random nonce — the bytes were written
// before the nonce existed — so: the client throws AuthenticationError or
// ManagerError, the server returns false, and nothing crashes or leaks.
// Runs on a plain thread (the wire's calls block there), over a socketpair.
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unistd.h>

#include <sys/socket.h>

#include <ringlet/ipc/errors.hpp>
#include <ringlet/net/unix.hpp>
#include <ringlet/time.hpp>

#include "manager_wire.hpp"

namespace {

namespace ipc = ringlet::ipc;
namespace wire = ringlet::ipc::detail;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "manager_handshake: %s\n", what);
    std::abort();
}

void send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t k = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR) continue;
            fail("send to the socketpair failed");
        }
        bytes.remove_prefix(static_cast<std::size_t>(k));
    }
}

// What the server half wrote: its hello, then at most the one-byte "rejected".
void check_server_output(int fd) {
    std::string out;
    char buf[256];
    for (;;) {
        const ssize_t k = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k <= 0) break;
        out.append(buf, static_cast<std::size_t>(k));
    }
    if (out.size() < wire::server_hello_size ||
        std::memcmp(out.data(), wire::handshake_magic, sizeof wire::handshake_magic) != 0) {
        fail("the server half did not send its hello first");
    }
    const std::string_view rest = std::string_view(out).substr(wire::server_hello_size);
    if (!(rest.empty() || rest == std::string_view("\0", 1))) {
        fail("the server half sent more than a rejection to a client it refused");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0 || size > 64 * 1024) return 0;  // the socketpair buffers it all
    const std::uint8_t config = data[0];
    const std::string_view peer_bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
    const std::string key = (config & 2) ? std::string() : std::string("fuzz-authkey");

    auto [ours, theirs] = ringlet::net::UnixStream::pair();
    const int our_fd = ours.socket().fd();
    const int their_fd = theirs.socket().fd();
    send_all(their_fd, peer_bytes);
    ::shutdown(their_fd, SHUT_WR);
    wire::WireStream io(our_fd);
    const ringlet::TimePoint deadline = ringlet::deadline_after(std::chrono::seconds(5));

    if ((config & 1) == 0) {
        try {
            wire::client_handshake(io, key, deadline, "fuzz-peer");
        } catch (const ipc::AuthenticationError&) {
            return 0;
        } catch (const ipc::ManagerError&) {
            return 0;
        }
        fail("the client half accepted a server that cannot know the authkey");
    }
    if (wire::server_handshake(io, key, deadline)) {
        fail("the server half accepted a client that cannot know its nonce");
    }
    check_server_output(their_fd);
    return 0;
}
