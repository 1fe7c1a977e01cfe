// net/tls.cpp — TlsContext and TlsStream: OpenSSL driven over ringlet sockets.
//
// OpenSSL never touches the socket. Each SSL object talks to a custom BIO
// whose read side serves ciphertext from a buffer that this file fills with
// ringlet's recv, and whose write side appends to a staging buffer that this
// file sends with ringlet's send (the shape of Seastar's src/net/tls.cc). So
// OpenSSL calls never block and never suspend; the suspension points are the
// recv/send between them, where Cancelled and TimeoutError arrive with
// OpenSSL's state intact.
//
// Buffer ownership (DESIGN: never resume while the kernel may still use a
// buffer; never let memory move under an in-flight request): the kernel may
// be writing into `in` (a reader's recv) while another task's SSL_write
// runs, and may be reading `sending` (a writer's send) while a reader's
// SSL_read queues a KeyUpdate answer or an alert. So the BIO never moves
// `in`'s storage (only the reader compacts it, between requests) and writes
// only into `staging`, which the sender swaps with `sending` once `sending`
// has gone out.
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <ringlet/errors.hpp>
#include <ringlet/mutex.hpp>
#include <ringlet/net/tls.hpp>

#include "io_request.hpp"

namespace ringlet::net {

// ---------------------------------------------------------------------------
// Errors

TlsError::TlsError(std::string operation, std::string reason)
    : std::runtime_error(operation + ": " + reason), reason_(std::move(reason)) {}

namespace {

// The reason of the oldest error on OpenSSL's (thread-local) queue, which is
// the root cause; empties the queue. Verification failures say which check
// failed ("certificate verify failed (hostname mismatch)").
std::string take_reason(SSL* ssl, int ssl_error) {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    std::string reason;
    if (e == 0) {
        // SSL_ERROR_SYSCALL with an empty queue: the transport ended.
        if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_SSL) {
            return "unexpected eof while reading";
        }
        return "SSL error " + std::to_string(ssl_error);
    }
    const char* text = ERR_reason_error_string(e);
    if (text != nullptr) {
        reason = text;
    } else {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        reason = buf;
    }
    if (ERR_GET_LIB(e) == ERR_LIB_SSL) {
        switch (ERR_GET_REASON(e)) {
            case SSL_R_CERTIFICATE_VERIFY_FAILED:
                if (ssl != nullptr) {
                    const long v = SSL_get_verify_result(ssl);
                    if (v != X509_V_OK) {
                        reason += " (";
                        reason += X509_verify_cert_error_string(v);
                        reason += ")";
                    }
                }
                break;
            case SSL_R_HTTP_REQUEST:
            case SSL_R_HTTPS_PROXY_REQUEST:
                reason += " (plaintext HTTP sent to a TLS port)";
                break;
            default:
                break;
        }
    }
    return reason;
}

[[noreturn]] void throw_config_error(const std::string& what) {
    throw TlsError(what, take_reason(nullptr, SSL_ERROR_SSL));
}

bool is_ip_literal(const std::string& name) {
    unsigned char buf[16];
    return ::inet_pton(AF_INET, name.c_str(), buf) == 1 ||
           ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

constexpr std::size_t in_capacity = 16 * 1024 + 512;  // one full TLS record and then some
constexpr std::size_t write_chunk = 64 * 1024;        // plaintext encrypted per send round

}  // namespace

// ---------------------------------------------------------------------------
// Context

struct TlsContext::Impl {
    SSL_CTX* ctx = nullptr;
    bool server = false;
    std::vector<unsigned char> alpn_wire;  // length-prefixed names (RFC 7301)
    ~Impl() { SSL_CTX_free(ctx); }
};

namespace {

std::shared_ptr<TlsContext::Impl> new_context(bool server) {
    ERR_clear_error();
    auto impl = std::make_shared<TlsContext::Impl>();
    impl->server = server;
    impl->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (impl->ctx == nullptr) throw_config_error("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(impl->ctx, TLS1_2_VERSION);
    // No renegotiation (a TLS 1.2 peer's attempt is answered with a
    // no_renegotiation alert): it would make reads write and writes read.
    SSL_CTX_set_options(impl->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                       SSL_OP_CIPHER_SERVER_PREFERENCE);
    return impl;
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* arg) {
    auto* impl = static_cast<TlsContext::Impl*>(arg);
    if (impl->alpn_wire.empty()) return SSL_TLSEXT_ERR_NOACK;
    unsigned char* chosen = nullptr;
    // Server preference: the first of our names that the client offered.
    if (SSL_select_next_proto(&chosen, outlen, impl->alpn_wire.data(),
                              static_cast<unsigned>(impl->alpn_wire.size()), in,
                              inlen) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK;  // no common protocol: go on without ALPN
    }
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

}  // namespace

TlsContext TlsContext::client(std::string_view ca_file, bool verify) {
    auto impl = new_context(false);
    if (verify) {
        SSL_CTX_set_verify(impl->ctx, SSL_VERIFY_PEER, nullptr);
        const std::string ca(ca_file);
        const int ok = ca.empty() ? SSL_CTX_set_default_verify_paths(impl->ctx)
                                  : SSL_CTX_load_verify_locations(impl->ctx, ca.c_str(), nullptr);
        if (ok != 1) throw_config_error("TLS: loading CA " + (ca.empty() ? "(system store)" : ca));
    } else {
        SSL_CTX_set_verify(impl->ctx, SSL_VERIFY_NONE, nullptr);
    }
    return TlsContext(std::move(impl));
}

TlsContext TlsContext::server(std::string_view cert_file, std::string_view key_file) {
    auto impl = new_context(true);
    const std::string cert(cert_file), key(key_file);
    if (SSL_CTX_use_certificate_chain_file(impl->ctx, cert.c_str()) != 1) {
        throw_config_error("TLS: loading certificate " + cert);
    }
    if (SSL_CTX_use_PrivateKey_file(impl->ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
        throw_config_error("TLS: loading private key " + key);
    }
    if (SSL_CTX_check_private_key(impl->ctx) != 1) {
        throw_config_error("TLS: key " + key + " does not match certificate " + cert);
    }
    SSL_CTX_set_alpn_select_cb(impl->ctx, select_alpn, impl.get());
    return TlsContext(std::move(impl));
}

TlsContext& TlsContext::set_alpn(std::vector<std::string> protocols) {
    std::vector<unsigned char> wire;
    for (const std::string& p : protocols) {
        if (p.empty() || p.size() > 255) {
            throw UsageError("TlsContext::set_alpn: each protocol name must be 1 to 255 bytes");
        }
        wire.push_back(static_cast<unsigned char>(p.size()));
        wire.insert(wire.end(), p.begin(), p.end());
    }
    if (!impl_->server &&
        SSL_CTX_set_alpn_protos(impl_->ctx, wire.data(), static_cast<unsigned>(wire.size())) != 0) {
        throw_config_error("TLS: set_alpn");
    }
    impl_->alpn_wire = std::move(wire);
    return *this;
}

TlsContext& TlsContext::require_client_certificate(std::string_view ca_file) {
    if (!impl_->server) {
        throw UsageError("TlsContext::require_client_certificate is for a server context");
    }
    const std::string ca(ca_file);
    if (SSL_CTX_load_verify_locations(impl_->ctx, ca.c_str(), nullptr) != 1) {
        throw_config_error("TLS: loading CA " + ca);
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(impl_->ctx, names);
    SSL_CTX_set_verify(impl_->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    static const unsigned char sid[] = "ringlet";
    SSL_CTX_set_session_id_context(impl_->ctx, sid, sizeof sid - 1);
    return *this;
}

bool TlsContext::is_server() const noexcept { return impl_ && impl_->server; }

// ---------------------------------------------------------------------------
// The BIO between OpenSSL and ringlet's socket calls

struct TlsStream::Buffers {
    // Ciphertext received, not yet taken by OpenSSL: in[begin, end).
    std::vector<unsigned char> in = std::vector<unsigned char>(in_capacity);
    std::size_t begin = 0, end = 0;
    bool eof = false;  // the socket read EOF: OpenSSL sees it once `in` is drained
    // Ciphertext to send: `sending` from `sent` on is (possibly) in the
    // kernel's hands; OpenSSL appends only to `staging`.
    std::vector<unsigned char> sending, staging;
    std::size_t sent = 0;
    Mutex write_lock;     // one sender at a time (a writer, or a reader's flush)
    bool broken = false;  // a fatal TLS error: no close_notify any more
};

namespace {

using Buffers = TlsStream::Buffers;  // NOLINT: the BIO callbacks below need the name

int bio_write(BIO* bio, const char* data, int len) {
    auto* b = static_cast<Buffers*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    b->staging.insert(b->staging.end(), data, data + len);
    return len;
}

int bio_read(BIO* bio, char* out, int len) {
    auto* b = static_cast<Buffers*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    const std::size_t avail = b->end - b->begin;
    if (avail == 0) {
        if (b->eof) return 0;  // the transport ended
        BIO_set_retry_read(bio);
        return -1;
    }
    const std::size_t n = std::min(avail, static_cast<std::size_t>(len));
    std::memcpy(out, b->in.data() + b->begin, n);
    b->begin += n;
    return static_cast<int>(n);
}

long bio_ctrl(BIO* bio, int cmd, long, void*) {
    auto* b = static_cast<Buffers*>(BIO_get_data(bio));
    switch (cmd) {
        case BIO_CTRL_FLUSH:
            return 1;
        case BIO_CTRL_PENDING:
            return static_cast<long>(b->end - b->begin);
        case BIO_CTRL_WPENDING:
            return static_cast<long>(b->staging.size());
        case BIO_CTRL_EOF:
            return b->eof && b->begin == b->end ? 1 : 0;
        default:
            return 0;
    }
}

int bio_create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
}

int bio_destroy(BIO*) { return 1; }

BIO_METHOD* ringlet_bio_method() {
    static BIO_METHOD* method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ringlet socket");
        BIO_meth_set_write(m, bio_write);
        BIO_meth_set_read(m, bio_read);
        BIO_meth_set_ctrl(m, bio_ctrl);
        BIO_meth_set_create(m, bio_create);
        BIO_meth_set_destroy(m, bio_destroy);
        return m;
    }();
    return method;
}

[[noreturn]] void throw_timeout(const char* what) {
    throw TimeoutError(std::string(what) + ": timed out");
}

}  // namespace

// ---------------------------------------------------------------------------
// Stream

TlsStream::TlsStream() noexcept = default;
TlsStream::~TlsStream() { reset(); }

TlsStream::TlsStream(TlsStream&& o) noexcept
    : tcp_(std::move(o.tcp_)),
      ctx_(std::move(o.ctx_)),
      ssl_(std::exchange(o.ssl_, nullptr)),
      bufs_(std::move(o.bufs_)) {}

TlsStream& TlsStream::operator=(TlsStream&& o) noexcept {
    if (this != &o) {
        reset();
        tcp_ = std::move(o.tcp_);
        ctx_ = std::move(o.ctx_);
        ssl_ = std::exchange(o.ssl_, nullptr);
        bufs_ = std::move(o.bufs_);
    }
    return *this;
}

void TlsStream::reset() noexcept {
    if (ssl_ != nullptr) SSL_free(ssl_);  // frees the BIO too
    ssl_ = nullptr;
    bufs_.reset();
    ctx_.reset();
    tcp_ = TcpStream();  // closes the socket
}

TlsStream::TlsStream(TcpStream stream, const TlsContext& ctx)
    : tcp_(std::move(stream)), ctx_(ctx.impl_), bufs_(std::make_unique<Buffers>()) {
    if (!ctx_) throw UsageError("TlsStream: the TlsContext is empty (use client() or server())");
    ERR_clear_error();
    ssl_ = SSL_new(ctx_->ctx);
    if (ssl_ == nullptr) throw_config_error("SSL_new");
    BIO* bio = BIO_new(ringlet_bio_method());
    if (bio == nullptr) throw_config_error("BIO_new");
    BIO_set_data(bio, bufs_.get());
    SSL_set_bio(ssl_, bio, bio);  // one reference, owned by the SSL
}

bool TlsStream::is_open() const noexcept { return ssl_ != nullptr && tcp_.is_open(); }

// Receives more ciphertext into `in`. False at EOF (then OpenSSL sees it).
bool TlsStream::fill(TimePoint deadline) {
    Buffers& b = *bufs_;
    if (b.begin == b.end) {
        b.begin = b.end = 0;
    } else if (b.end == b.in.size()) {
        // Only here, between requests, may `in` move (see the file comment).
        std::memmove(b.in.data(), b.in.data() + b.begin, b.end - b.begin);
        b.end -= b.begin;
        b.begin = 0;
    }
    ringlet::detail::IoRequest r{ringlet::detail::IoOpcode::recv, tcp_.socket().fd()};
    r.buf = b.in.data() + b.end;
    r.len = b.in.size() - b.end;
    const long res = ringlet::detail::perform_io(r, deadline);
    if (res == -ETIMEDOUT && deadline != TimePoint::max()) throw_timeout("TLS recv");
    if (res < 0) throw_io_error(static_cast<int>(res), "recv");
    if (res == 0) {
        b.eof = true;
        return false;
    }
    b.end += static_cast<std::size_t>(res);
    return true;
}

// Sends `sending`, then whatever OpenSSL staged meanwhile, until both are
// empty. The caller holds write_lock.
void TlsStream::send_pending(TimePoint deadline) {
    Buffers& b = *bufs_;
    for (;;) {
        if (b.sent == b.sending.size()) {
            b.sending.clear();
            b.sent = 0;
            if (b.staging.empty()) return;
            std::swap(b.sending, b.staging);
        }
        ringlet::detail::IoRequest r{ringlet::detail::IoOpcode::send, tcp_.socket().fd()};
        r.buf = b.sending.data() + b.sent;
        r.len = b.sending.size() - b.sent;
        const long res = ringlet::detail::perform_io(r, deadline);
        if (res == -ETIMEDOUT && deadline != TimePoint::max()) throw_timeout("TLS send");
        if (res < 0) throw_io_error(static_cast<int>(res), "send");
        b.sent += static_cast<std::size_t>(res);
    }
}

// From a reader or the handshake: send what OpenSSL queued, unless a writer
// is sending right now (its loop picks the new bytes up).
void TlsStream::flush(TimePoint deadline) {
    Buffers& b = *bufs_;
    if (b.staging.empty() && b.sent == b.sending.size()) return;
    if (!b.write_lock.try_lock()) return;
    std::lock_guard<Mutex> held(b.write_lock, std::adopt_lock);
    send_pending(deadline);
}

void TlsStream::handshake(TimePoint deadline, const char* what) {
    for (;;) {
        ERR_clear_error();
        const int rc = SSL_do_handshake(ssl_);
        const int err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, rc);
        if (rc == 1 || err == SSL_ERROR_WANT_READ) {
            flush(deadline);
            if (rc == 1) return;
            if (!fill(deadline)) continue;  // EOF: OpenSSL now reports it
            continue;
        }
        bufs_->broken = true;
        std::string reason = take_reason(ssl_, err);
        try {
            flush(deadline);  // the alert that tells the peer why, if any
        } catch (const std::exception&) {
        }
        if (bufs_->eof && reason.find("unexpected eof") != std::string::npos) {
            reason = "the peer closed the connection during the handshake (" + reason + ")";
        }
        throw TlsError(what, reason);
    }
}

TlsStream TlsStream::client(TcpStream stream, const TlsContext& ctx, std::string_view server_name,
                            Duration timeout) {
    const TimePoint deadline = deadline_after(timeout);
    TlsStream s(std::move(stream), ctx);
    if (ctx.is_server()) throw UsageError("TlsStream::client needs a client TlsContext");
    const std::string name(server_name);
    if (!name.empty()) {
        if (is_ip_literal(name)) {
            // No SNI for an address (RFC 6066 §3); the certificate must list it.
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s.ssl_), name.c_str());
        } else {
            SSL_set_tlsext_host_name(s.ssl_, name.c_str());
            SSL_set_hostflags(s.ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (SSL_set1_host(s.ssl_, name.c_str()) != 1) throw_config_error("SSL_set1_host");
        }
    }
    SSL_set_connect_state(s.ssl_);
    s.handshake(deadline, "TLS handshake (client)");
    return s;
}

TlsStream TlsStream::connect(std::string_view host, std::uint16_t port, const TlsContext& ctx,
                             Duration timeout) {
    const TimePoint deadline = deadline_after(timeout);
    TcpStream tcp = TcpStream::connect(host, port, timeout);
    tcp.set_nodelay();
    const Duration left = deadline == TimePoint::max()
                              ? forever
                              : std::max(Duration::zero(), deadline - Clock::now());
    return client(std::move(tcp), ctx, host, left == Duration::zero() ? Duration(1) : left);
}

TlsStream TlsStream::accept(TcpStream stream, const TlsContext& ctx, Duration timeout) {
    const TimePoint deadline = deadline_after(timeout);
    TlsStream s(std::move(stream), ctx);
    if (!ctx.is_server()) throw UsageError("TlsStream::accept needs a server TlsContext");
    SSL_set_accept_state(s.ssl_);
    s.handshake(deadline, "TLS handshake (server)");
    return s;
}

std::size_t TlsStream::read(std::span<std::byte> buf) {
    if (ssl_ == nullptr) throw UsageError("TlsStream::read on a closed or empty stream");
    if (buf.empty()) return 0;
    const int len = static_cast<int>(std::min<std::size_t>(buf.size(), INT_MAX));
    for (;;) {
        ERR_clear_error();
        const int n = SSL_read(ssl_, buf.data(), len);
        if (n > 0) {
            flush(TimePoint::max());  // e.g. the answer to a KeyUpdate
            return static_cast<std::size_t>(n);
        }
        const int err = SSL_get_error(ssl_, n);
        if (err == SSL_ERROR_ZERO_RETURN) return 0;  // close_notify: a clean end
        if (err == SSL_ERROR_WANT_READ) {
            flush(TimePoint::max());
            fill(TimePoint::max());  // at EOF, the next SSL_read reports it
            continue;
        }
        bufs_->broken = true;
        throw TlsError("TLS read", take_reason(ssl_, err));
    }
}

void TlsStream::read_exact(std::span<std::byte> buf) {
    std::size_t done = 0;
    while (done < buf.size()) {
        const std::size_t n = read(buf.subspan(done));
        if (n == 0) {
            throw IoError(ENODATA, "TLS read_exact: the peer closed after " + std::to_string(done) +
                                       " of " + std::to_string(buf.size()) + " bytes");
        }
        done += n;
    }
}

void TlsStream::write_all(std::span<const std::byte> buf) {
    if (ssl_ == nullptr) throw UsageError("TlsStream::write_all on a closed or empty stream");
    Buffers& b = *bufs_;
    std::lock_guard<Mutex> held(b.write_lock);
    send_pending(TimePoint::max());  // what an interrupted write left queued
    while (!buf.empty()) {
        const std::size_t chunk = std::min(buf.size(), write_chunk);
        ERR_clear_error();
        // The BIO never refuses bytes, so SSL_write takes the whole chunk.
        const int n = SSL_write(ssl_, buf.data(), static_cast<int>(chunk));
        if (n <= 0) {
            const int err = SSL_get_error(ssl_, n);
            b.broken = true;
            throw TlsError("TLS write", take_reason(ssl_, err));
        }
        buf = buf.subspan(static_cast<std::size_t>(n));
        send_pending(TimePoint::max());
    }
}

void TlsStream::shutdown() {
    if (ssl_ == nullptr) throw UsageError("TlsStream::shutdown on a closed or empty stream");
    Buffers& b = *bufs_;
    std::lock_guard<Mutex> held(b.write_lock);
    if (!b.broken && (SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN) == 0) {
        ERR_clear_error();
        SSL_shutdown(ssl_);  // queues close_notify; we do not wait for the peer's
        ERR_clear_error();
    }
    send_pending(TimePoint::max());
    tcp_.shutdown_write();
}

void TlsStream::close() {
    if (ssl_ == nullptr) return;
    if (!bufs_->broken && tcp_.is_open()) {
        try {
            shutdown();
        } catch (const std::exception&) {
            // The peer is gone or the socket failed: closing is all that is left.
        }
    }
    reset();
}

std::string TlsStream::alpn() const {
    if (ssl_ == nullptr) return {};
    const unsigned char* data = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl_, &data, &len);
    return std::string(reinterpret_cast<const char*>(data), data == nullptr ? 0 : len);
}

std::string TlsStream::server_name() const {
    if (ssl_ == nullptr) return {};
    const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
    return name == nullptr ? std::string() : std::string(name);
}

std::string TlsStream::protocol() const {
    return ssl_ == nullptr ? std::string() : std::string(SSL_get_version(ssl_));
}

std::string TlsStream::peer_subject() const {
    if (ssl_ == nullptr) return {};
    X509* cert = SSL_get1_peer_certificate(ssl_);
    if (cert == nullptr) return {};
    std::string out;
    if (BIO* mem = BIO_new(BIO_s_mem())) {
        X509_NAME_print_ex(mem, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
        char* data = nullptr;
        const long len = BIO_get_mem_data(mem, &data);
        if (len > 0) out.assign(data, static_cast<std::size_t>(len));
        BIO_free(mem);
    }
    X509_free(cert);
    return out;
}

}  // namespace ringlet::net
