#include "manager_wire.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <ringlet/ipc/errors.hpp>

#include "io_request.hpp"
#include "read_buffer.hpp"

namespace ringlet::ipc::detail {

namespace {

using ringlet::detail::IoOpcode;
using ringlet::detail::IoRequest;
using ringlet::detail::perform_io;

constexpr std::size_t read_chunk = std::size_t{64} << 10;
// An empty buffer larger than this (left by a big frame) is given back.
constexpr std::size_t max_idle_buffer = std::size_t{1} << 20;

long send_some(int fd, const char* data, std::size_t n, TimePoint deadline) {
    IoRequest r{IoOpcode::send, fd};
    r.buf = const_cast<char*>(data);
    r.len = n;
    return perform_io(r, deadline);
}

}  // namespace

const char* describe(WireResult r) noexcept {
    switch (r) {
        case WireResult::ok: return "ok";
        case WireResult::eof: return "the peer closed the connection";
        case WireResult::truncated:
            return "the peer closed the connection in the middle of a message";
        case WireResult::too_large: return "the peer announced a frame over the size limit";
        case WireResult::timeout: return "timed out";
        case WireResult::error: return "socket error";
    }
    return "?";
}

WireResult WireStream::fail(long res) noexcept {
    if (res == -ETIMEDOUT) return WireResult::timeout;
    error_ = static_cast<int>(-res);
    return WireResult::error;
}

// Reads once, making room first so that `want` bytes (from begin_) fit.
// -ETIMEDOUT once `deadline` has passed, even if bytes are waiting: a peer
// that sends a trickle must still finish within the deadline.
long WireStream::fill(std::size_t want, TimePoint deadline) {
    if (deadline != TimePoint::max() && Clock::now() >= deadline) return -ETIMEDOUT;
    if (begin_ == end_) {
        begin_ = end_ = 0;
        if (capacity_ > max_idle_buffer && want <= max_idle_buffer) {
            buffer_.reset();
            capacity_ = 0;
        }
    }
    // Read ahead a chunk; for a big frame, grow by doubling with the bytes
    // that actually arrive, so that announcing a big frame costs the peer
    // as much memory as it costs us.
    const std::size_t room =
        want <= read_chunk ? read_chunk : std::min(want, std::max(read_chunk, 2 * buffered()));
    make_room(buffer_, capacity_, begin_, end_, room);
    IoRequest r{IoOpcode::recv, fd_};
    r.buf = buffer_.get() + end_;
    r.len = capacity_ - end_;
    // The kernel writes into buffer_ only during this call (DESIGN: never
    // resume while the kernel may still write the buffer).
    const long res = perform_io(r, deadline);
    if (res > 0) end_ += static_cast<std::size_t>(res);
    return res;
}

WireResult WireStream::read_exact(void* out, std::size_t n, TimePoint deadline) {
    while (buffered() < n) {
        const long res = fill(n, deadline);
        if (res == 0) return buffered() == 0 ? WireResult::eof : WireResult::truncated;
        if (res < 0) return fail(res);
    }
    std::memcpy(out, buffer_.get() + begin_, n);
    begin_ += n;
    return WireResult::ok;
}

WireResult WireStream::read_frame(std::string& payload, std::size_t max_size,
                                  TimePoint first_byte, Duration rest) {
    TimePoint deadline = first_byte;
    if (buffered() == 0) {
        const long res = fill(frame_length_size, first_byte);
        if (res == 0) return WireResult::eof;
        if (res < 0) return fail(res);
    }
    // The frame has begun: the rest gets its own deadline.
    deadline = deadline_after(rest);
    while (buffered() < frame_length_size) {
        const long res = fill(frame_length_size, deadline);
        if (res == 0) return WireResult::truncated;
        if (res < 0) return fail(res);
    }
    std::uint32_t length = 0;
    std::memcpy(&length, buffer_.get() + begin_, sizeof length);
    // Checked before any allocation: a hostile length costs nothing.
    if (length > max_size) return WireResult::too_large;
    const std::size_t total = frame_length_size + length;
    while (buffered() < total) {
        const long res = fill(total, deadline);
        if (res == 0) return WireResult::truncated;
        if (res < 0) return fail(res);
    }
    payload.assign(buffer_.get() + begin_ + frame_length_size, length);
    begin_ += total;
    return WireResult::ok;
}

long WireStream::write_all(std::string_view bytes, TimePoint deadline) {
    while (!bytes.empty()) {
        // An operation that can progress at once completes even past its
        // deadline: check it here, or a peer reading a trickle at a time
        // would keep a big write going for ever.
        if (deadline != TimePoint::max() && Clock::now() >= deadline) return -ETIMEDOUT;
        const long res = send_some(fd_, bytes.data(), bytes.size(), deadline);
        if (res < 0) return res;
        bytes.remove_prefix(static_cast<std::size_t>(res));
    }
    return 0;
}

long WireStream::write_all_eagerly(std::string_view bytes, TimePoint deadline) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -errno;
    if (n > 0) bytes.remove_prefix(static_cast<std::size_t>(n));
    return write_all(bytes, deadline);
}

void finish_frame(std::string& frame) noexcept {
    const auto length = static_cast<std::uint32_t>(frame.size() - frame_length_size);
    std::memcpy(frame.data(), &length, sizeof length);
}

void handshake_proof(std::string_view key, std::string_view label, const unsigned char* nonce,
                     unsigned char* out) {
    unsigned char message[64 + nonce_size];
    static_assert(client_label.size() <= 64 && server_label.size() <= 64);
    std::memcpy(message, label.data(), label.size());
    std::memcpy(message + label.size(), nonce, nonce_size);
    unsigned int out_size = 0;
    // An empty key is allowed (HMAC pads it); OpenSSL wants a non-null pointer.
    static const unsigned char no_key = 0;
    const void* key_data = key.empty() ? &no_key : static_cast<const void*>(key.data());
    if (::HMAC(EVP_sha256(), key_data, static_cast<int>(key.size()), message,
               label.size() + nonce_size, out, &out_size) == nullptr ||
        out_size != proof_size) {
        throw ManagerError("ringlet::ipc::Manager: HMAC-SHA256 failed (libcrypto)");
    }
}

void random_bytes(void* out, std::size_t n) {
    if (::RAND_bytes(static_cast<unsigned char*>(out), static_cast<int>(n)) != 1) {
        throw ManagerError("ringlet::ipc::Manager: the random number generator failed (libcrypto)");
    }
}

bool server_handshake(WireStream& io, std::string_view key, TimePoint deadline) {
    unsigned char hello[server_hello_size];
    std::memcpy(hello, handshake_magic, sizeof handshake_magic);
    unsigned char* server_nonce = hello + sizeof handshake_magic;
    random_bytes(server_nonce, nonce_size);
    if (io.write_all({reinterpret_cast<const char*>(hello), sizeof hello}, deadline) < 0) {
        return false;
    }
    unsigned char answer[client_proof_size];
    if (io.read_exact(answer, sizeof answer, deadline) != WireResult::ok) return false;
    unsigned char expected[proof_size];
    handshake_proof(key, client_label, server_nonce, expected);
    // Constant time: the comparison must not tell how many bytes matched.
    if (CRYPTO_memcmp(expected, answer, proof_size) != 0) {
        const char rejected = 0;
        (void)io.write_all({&rejected, 1}, deadline);
        return false;
    }
    unsigned char verdict[server_verdict_size];
    verdict[0] = 1;
    handshake_proof(key, server_label, answer + proof_size, verdict + 1);
    return io.write_all({reinterpret_cast<const char*>(verdict), sizeof verdict}, deadline) == 0;
}

void client_handshake(WireStream& io, std::string_view key, TimePoint deadline,
                      const std::string& address) {
    const std::string where = " (manager at " + address + ")";
    auto lost = [&](WireResult r) -> ManagerError {
        std::string why = describe(r);
        if (r == WireResult::error) why += std::string(": ") + std::strerror(io.error());
        return ManagerError("ringlet::ipc::Manager: the handshake failed: " + why + where);
    };
    unsigned char hello[server_hello_size];
    if (const WireResult r = io.read_exact(hello, sizeof hello, deadline); r != WireResult::ok) {
        throw lost(r);
    }
    if (std::memcmp(hello, handshake_magic, sizeof handshake_magic) != 0) {
        throw AuthenticationError(
            "ringlet::ipc::Manager: the peer is not a ringlet manager (bad handshake magic)" +
            where);
    }
    unsigned char answer[client_proof_size];
    handshake_proof(key, client_label, hello + sizeof handshake_magic, answer);
    unsigned char* client_nonce = answer + proof_size;
    random_bytes(client_nonce, nonce_size);
    if (const long res = io.write_all({reinterpret_cast<const char*>(answer), sizeof answer},
                                      deadline);
        res < 0) {
        throw ManagerError("ringlet::ipc::Manager: the handshake failed: send: " +
                           std::string(res == -ETIMEDOUT ? "timed out"
                                                         : std::strerror(static_cast<int>(-res))) +
                           where);
    }
    unsigned char verdict[server_verdict_size];
    const WireResult r = io.read_exact(verdict, 1, deadline);
    if (r != WireResult::ok) throw lost(r);
    if (verdict[0] != 1) {
        throw AuthenticationError(
            "ringlet::ipc::Manager: the server rejected this process's authkey" + where);
    }
    if (const WireResult r2 = io.read_exact(verdict + 1, proof_size, deadline);
        r2 != WireResult::ok) {
        throw lost(r2);
    }
    unsigned char expected[proof_size];
    handshake_proof(key, server_label, client_nonce, expected);
    if (CRYPTO_memcmp(expected, verdict + 1, proof_size) != 0) {
        throw AuthenticationError(
            "ringlet::ipc::Manager: the server did not prove that it knows the authkey" + where);
    }
}

}  // namespace ringlet::ipc::detail
