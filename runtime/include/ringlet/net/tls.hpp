// ringlet/net/tls.hpp — TLS (OpenSSL) over ringlet's own TCP sockets.
//
// A TlsContext holds the configuration shared by many connections (trusted
// CAs and verification for a client; certificate and key for a server; ALPN
// protocols). A TlsStream is one TLS connection with TcpStream's read/write
// API. OpenSSL only encrypts and decrypts in memory; every byte moves through
// ringlet's socket calls, so the handshake, each read, each write and the
// shutdown are suspension points like any other IO: other tasks run
// meanwhile, and Cancelled and TimeoutError (a ringlet::Timeout scope, or the
// `timeout` arguments below) arrive there.
//
// Security defaults: TLS 1.2 or newer; a client verifies the server's chain
// (the system store unless a CA file is given) and its host name or IP
// address; renegotiation is refused; a peer that closes without close_notify
// is reported (TlsError "unexpected eof"), not taken as a clean end.
//
// Concurrency: one task may read while another writes the same TlsStream (as
// with TcpStream); two readers or two writers at once are not supported.
// Contexts are cheap handles (copies share one OpenSSL SSL_CTX) and may be
// used from several threads once configured.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <ringlet/net/tcp.hpp>
#include <ringlet/time.hpp>

struct ssl_st;  // OpenSSL's SSL, kept out of this header

namespace ringlet::net {

// A TLS failure: verification (wrong CA, expired, host name mismatch), a
// protocol violation (plaintext on a TLS port, a bad record), a handshake cut
// short by the peer. what() is "<operation>: <OpenSSL's reason>" and names
// the certificate problem when verification failed; reason() is that reason.
class TlsError : public std::runtime_error {
  public:
    TlsError(std::string operation, std::string reason);
    const std::string& reason() const noexcept { return reason_; }

  private:
    std::string reason_;
};

class TlsContext {
  public:
    // A client context. `ca_file` (PEM) is the set of trusted CAs; empty
    // means the system's store (OpenSSL's default paths). With `verify`
    // false no certificate is checked (tests only: it admits any server).
    // Throws: TlsError if the CA file cannot be loaded.
    static TlsContext client(std::string_view ca_file = {}, bool verify = true);

    // A server context presenting `cert_file` (PEM, the leaf first, then any
    // intermediates) with its private key `key_file` (PEM).
    // Throws: TlsError if either cannot be loaded or they do not match.
    static TlsContext server(std::string_view cert_file, std::string_view key_file);

    // ALPN (RFC 7301), in order of preference, e.g. {"h2", "http/1.1"}. A
    // client offers them; a server picks the first of its own list that the
    // client offered, or none (the handshake goes on without ALPN).
    // Throws: UsageError for an empty or over-long (> 255 bytes) name.
    TlsContext& set_alpn(std::vector<std::string> protocols);

    // Server only: ask clients for a certificate and verify it against
    // `ca_file`; a client without one fails the handshake.
    // Throws: TlsError if the CA file cannot be loaded.
    TlsContext& require_client_certificate(std::string_view ca_file);

    bool is_server() const noexcept;

    struct Impl;  // the SSL_CTX and the ALPN list (tls.cpp)

  private:
    explicit TlsContext(std::shared_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
    friend class TlsStream;
    std::shared_ptr<Impl> impl_;
};

class TlsStream {
  public:
    TlsStream() noexcept;
    TlsStream(TlsStream&& other) noexcept;
    TlsStream& operator=(TlsStream&& other) noexcept;
    // Closes the socket without a close_notify (a destructor does not
    // suspend): call shutdown() first for a clean end.
    ~TlsStream();

    // Connects to `host`:`port` and completes the handshake, all within
    // `timeout`. `host` is also the name sent by SNI and the name (or IP
    // address) the server's certificate must carry.
    // Suspends. Throws: IoError (ECONNREFUSED …), TlsError (verification,
    // protocol), TimeoutError when `timeout` (or an enclosing scope) passes,
    // Cancelled.
    static TlsStream connect(std::string_view host, std::uint16_t port, const TlsContext& ctx,
                             Duration timeout = forever);

    // The client handshake over an already connected stream (STARTTLS, or a
    // name different from the address dialled). `server_name`: SNI and the
    // name checked against the certificate ("" = no SNI and no name check).
    // Suspends. Throws: as connect().
    static TlsStream client(TcpStream stream, const TlsContext& ctx, std::string_view server_name,
                            Duration timeout = forever);

    // The server handshake on an accepted connection (a serve() handler
    // calls this first), within `timeout` so that a client that never
    // finishes it cannot hold the connection.
    // Suspends. Throws: TlsError (plaintext or garbage from the client, no
    // common protocol, the client closed mid-handshake), IoError,
    // TimeoutError, Cancelled. The connection is closed on any failure.
    static TlsStream accept(TcpStream stream, const TlsContext& ctx, Duration timeout = forever);

    // Reads up to buf.size() decrypted bytes; 0 once the peer has sent
    // close_notify (a clean EOF).
    // Suspends. Throws: TlsError (a bad record; "unexpected eof" for a peer
    // that closed without close_notify), IoError, Cancelled, TimeoutError.
    // Cancellation: no data was lost; the stream stays usable (decrypted
    // bytes not yet returned are kept for the next read).
    std::size_t read(std::span<std::byte> buf);
    std::size_t read(void* buf, std::size_t len) {
        return read({static_cast<std::byte*>(buf), len});
    }
    // Reads exactly buf.size() bytes. Throws: IoError(ENODATA) if EOF comes
    // first, and as read(). Cancellation: some bytes may have been read.
    void read_exact(std::span<std::byte> buf);

    // Encrypts and sends everything.
    // Suspends. Throws: IoError (EPIPE/ECONNRESET for a closed peer),
    // TlsError, Cancelled, TimeoutError.
    // Cancellation: a prefix of the data was encrypted; what of it the socket
    // had not taken yet stays queued and goes out first on the next write or
    // shutdown(), so the records stay whole and the stream usable.
    void write_all(std::span<const std::byte> buf);
    void write_all(std::string_view text) {
        write_all(std::as_bytes(std::span(text.data(), text.size())));
    }

    // Sends close_notify (and whatever was queued), then FIN. The peer reads a
    // clean EOF; this side may still read what the peer sends.
    // Suspends. Throws: IoError, Cancelled, TimeoutError.
    void shutdown();
    // shutdown() when the stream is healthy (errors are ignored), then closes
    // the socket. Suspends. Throws: Cancelled, TimeoutError.
    void close();
    bool is_open() const noexcept;

    // The protocol chosen by ALPN, or "" if none.
    std::string alpn() const;
    // Server side: the host name the client sent by SNI ("" if none).
    // Client side: the name it sent.
    std::string server_name() const;
    // "TLSv1.3", "TLSv1.2".
    std::string protocol() const;
    // The peer's certificate subject ("CN=localhost"), or "" if it sent none.
    std::string peer_subject() const;

    TcpStream& tcp() noexcept { return tcp_; }
    // Ciphertext buffers between OpenSSL and the socket (tls.cpp).
    struct Buffers;
    SocketAddress local_address() const { return tcp_.local_address(); }
    SocketAddress peer_address() const { return tcp_.peer_address(); }

  private:
    TlsStream(TcpStream stream, const TlsContext& ctx);
    void handshake(TimePoint deadline, const char* what);
    void flush(TimePoint deadline);
    bool fill(TimePoint deadline);
    void send_pending(TimePoint deadline);
    void reset() noexcept;

    TcpStream tcp_;
    std::shared_ptr<TlsContext::Impl> ctx_;
    ssl_st* ssl_ = nullptr;
    std::unique_ptr<Buffers> bufs_;
};

}  // namespace ringlet::net
