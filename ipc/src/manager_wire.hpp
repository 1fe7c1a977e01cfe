// manager_wire.hpp — the Manager's wire protocol: handshake, frames, replies.
//
// A connection, server side first:
//   server -> client  server hello: magic (8 bytes) + server nonce (32)
//   client -> server  client proof: HMAC-SHA256(key, client_label || server nonce)
//                     (32) + client nonce (32)
//   server -> client  1 byte: 0 = rejected (then close), 1 = accepted, then
//                     HMAC-SHA256(key, server_label || client nonce) (32)
// Every message is fixed-size and nothing else is parsed before it checks
// out. Then frames, both ways: u32 payload length (host order), payload;
// a length above the limit closes the connection.
//
// Requests: u8 op (ManagerOp), length-prefixed object name, then the op's
// arguments, all in Codec layout. "value" below is a length-prefixed Codec
// byte string (detail::write_value), i64 timeouts are wire_timeout()'s.
//   attach          u8 kind, fingerprint, optional<string> initial, u64 maxsize
//                   -> bool created
//   dict_set        key, value                -> (nothing)
//   dict_get/pop    key                       -> bool present [, value]
//   dict_contains/erase  key                  -> bool
//   dict_size                                  -> u64
//   dict_keys/values                           -> u64 n, n values
//   dict_items                                 -> u64 n, n (key, value)
//   dict_clear                                 -> (nothing)
//   dict_setdefault key, value                -> value
//   list_append     value;  list_extend  u64 n, n values  -> (nothing)
//   list_at/pop     i64 index                 -> value
//   list_set        i64 index, value          -> (nothing)
//   list_size -> u64;  list_clear -> (nothing);  list_snapshot -> u64 n, n values
//   queue_put       i64 timeout, value        -> bool put
//   queue_get       i64 timeout               -> bool got [, value]  (ok_ack when got)
//   queue_size                                 -> u64
//   lock_acquire    i64 timeout               -> bool acquired
//   lock_release                               -> (nothing)
//   value_get -> value;  value_set  value;  value_cas  expected, desired -> bool
//   ack             (sent after an ok_ack reply; no name, no reply)
// Replies: u8 status; ok / ok_ack: the op's result; error: u8 ErrorKind,
// type name, message (strings).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <ringlet/time.hpp>

namespace ringlet::ipc::detail {

inline constexpr std::size_t frame_length_size = sizeof(std::uint32_t);
inline constexpr char handshake_magic[8] = {'R', 'L', 'M', 'G', 'R', 'v', '0', '1'};
inline constexpr std::size_t nonce_size = 32;
inline constexpr std::size_t proof_size = 32;  // HMAC-SHA256
inline constexpr std::size_t server_hello_size = sizeof handshake_magic + nonce_size;
inline constexpr std::size_t client_proof_size = proof_size + nonce_size;
inline constexpr std::size_t server_verdict_size = 1 + proof_size;
inline constexpr std::string_view client_label = "ringlet-manager client proof v1";
inline constexpr std::string_view server_label = "ringlet-manager server proof v1";

enum class ReplyStatus : std::uint8_t { ok = 0, error = 1, ok_ack = 2 };

enum class ErrorKind : std::uint8_t {
    usage = 1,         // -> UsageError
    out_of_range = 2,  // -> std::out_of_range
    bad_request = 3,   // -> CodecError: the server could not decode the request
    internal = 4,      // -> RemoteError: anything else the server threw
    too_large = 5,     // -> CodecError: the reply would exceed the frame limit
};

enum class WireResult {
    ok,
    eof,        // the peer closed before sending anything of this read
    truncated,  // the peer closed in the middle
    too_large,  // a frame length above the limit
    timeout,    // the call's own deadline passed
    error,      // a socket error: error() has the errno
};

const char* describe(WireResult r) noexcept;

// Buffered, deadline-aware reads and writes on a connected stream socket it
// does not own. Suspension points (perform_io); a plain thread blocks.
// Cancelled / TimeoutError of an enclosing scope propagate, with the kernel
// done with the buffer.
class WireStream {
public:
    explicit WireStream(int fd) noexcept : fd_(fd) {}

    // Exactly `n` bytes into `out`, before `deadline`.
    WireResult read_exact(void* out, std::size_t n, TimePoint deadline);
    // One frame's payload into `payload`: waits for its first byte until
    // `first_byte`, then for the rest until `rest` after that first byte.
    WireResult read_frame(std::string& payload, std::size_t max_size, TimePoint first_byte,
                          Duration rest);
    // All of `bytes`; 0, or -errno (-ETIMEDOUT when `deadline` passed).
    long write_all(std::string_view bytes, TimePoint deadline);
    // Writes without waiting if the socket takes all of `bytes` at once (no
    // suspension point, so no cancellation); else as write_all.
    long write_all_eagerly(std::string_view bytes, TimePoint deadline);

    int error() const noexcept { return error_; }
    int fd() const noexcept { return fd_; }
    std::size_t buffered() const noexcept { return end_ - begin_; }

private:
    long fill(std::size_t want, TimePoint deadline);  // > 0 bytes, 0 EOF, -errno
    WireResult fail(long res) noexcept;

    int fd_;
    std::unique_ptr<char[]> buffer_;
    std::size_t capacity_ = 0;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
    int error_ = 0;
};

// Fills in the u32 length at the front of `frame` (which starts with
// frame_length_size reserved bytes).
void finish_frame(std::string& frame) noexcept;

// HMAC-SHA256(key, label || nonce).
void handshake_proof(std::string_view key, std::string_view label, const unsigned char* nonce,
                     unsigned char* out);
// Cryptographically random bytes. Throws: ManagerError if the RNG fails.
void random_bytes(void* out, std::size_t n);

// The server's half of the handshake: true if the peer proved the key.
bool server_handshake(WireStream& io, std::string_view key, TimePoint deadline);
// The client's half. Throws: AuthenticationError (rejected, or the server
// did not prove the key, or is no manager), ManagerError (closed, timed out,
// socket error), naming `address`.
void client_handshake(WireStream& io, std::string_view key, TimePoint deadline,
                      const std::string& address);

}  // namespace ringlet::ipc::detail
