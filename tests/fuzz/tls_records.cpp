// tests/fuzz/tls_records.cpp — net::TlsStream's server side against a hostile peer.
//
// Input: a mode byte, then a script. Mode even: the script's bytes are all
// the "client" sends, in pieces whose sizes come from the script, before it
// closes: TlsStream::accept must end in TlsError or IoError (random bytes
// cannot finish a handshake), never crash, leak or hang. Mode odd: a real
// OpenSSL client (blocking, on a plain thread) completes the handshake and
// then plays the script: steps that send application data with SSL_write
// (sizes up to 64 KiB, so records are cut across reads) and steps that write
// raw bytes into the stream; it ends with close_notify or a bare close. The
// server reads until EOF or an error. Oracle: the server received exactly the
// data written before the first raw step (a prefix of it if the server's own
// sends failed with IoError, the peer being gone); after a raw step it must fail with
// TlsError (it cannot read a forged record), and with no raw step it ends with
// EOF after close_notify or TlsError ("unexpected eof") after a bare close.
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <sys/socket.h>

#include <ringlet/errors.hpp>
#include <ringlet/net/tls.hpp>
#include <ringlet/run.hpp>
#include <ringlet/time.hpp>

#include "../net/tls_test_certs.hpp"

namespace {

using namespace std::chrono_literals;
using ringlet::net::Socket;
using ringlet::net::TcpStream;
using ringlet::net::TlsContext;
using ringlet::net::TlsError;
using ringlet::net::TlsStream;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "tls_records: %s\n", what);
    std::abort();
}

const tlstest::Pki& pki() {
    static tlstest::Pki p;
    return p;
}

struct Reader {
    const std::uint8_t* p;
    std::size_t n;
    bool empty() const { return n == 0; }
    std::uint8_t byte() {
        if (n == 0) return 0;
        --n;
        return *p++;
    }
    std::string take(std::size_t k) {
        k = std::min(k, n);
        std::string s(reinterpret_cast<const char*>(p), k);
        p += k;
        n -= k;
        return s;
    }
};

void write_raw(int fd, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
        const ssize_t w = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
        if (w <= 0) return;  // the server gave up: fine
        off += static_cast<std::size_t>(w);
    }
}

struct Outcome {
    std::string data;
    enum { eof, tls_error, io_error, timeout } end = eof;
};

// The server: accept, then read everything until EOF or an error.
Outcome serve(int fd, const TlsContext& ctx, bool handshake_only) {
    return ringlet::run([&] {
        Outcome o;
        try {
            TlsStream s = TlsStream::accept(TcpStream(Socket(fd)), ctx, 10s);
            if (handshake_only) return o;
            std::string buf(7000, '\0');  // odd size: records land across reads
            for (;;) {
                const std::size_t got = s.read(buf.data(), buf.size());
                if (got == 0) break;
                o.data.append(buf.data(), got);
            }
        } catch (const TlsError&) {
            o.end = Outcome::tls_error;
        } catch (const ringlet::TimeoutError&) {
            o.end = Outcome::timeout;
        } catch (const ringlet::IoError&) {
            o.end = Outcome::io_error;
        }
        return o;
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    // The peer's OpenSSL writes with write(2): a server that gave up must not
    // kill the process with SIGPIPE (ringlet's own sends use MSG_NOSIGNAL).
    static const bool no_sigpipe = [] { return std::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
    (void)no_sigpipe;
    static const TlsContext server_ctx = TlsContext::server(pki().server_cert, pki().server_key);
    Reader in{data + 1, size - 1};
    const bool records = (data[0] & 1) != 0;
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) {
        fail("socketpair");
    }
    const int peer = sv[1];
    ::fcntl(peer, F_SETFL, 0);  // the peer's end blocks

    if (!records) {
        std::thread client([&] {
            while (!in.empty()) write_raw(peer, in.take(1 + in.byte() % 64));
            ::close(peer);
        });
        const Outcome o = serve(sv[0], server_ctx, true);
        client.join();
        if (o.end == Outcome::eof) fail("a handshake from random bytes succeeded");
        if (o.end == Outcome::timeout) fail("a handshake hung although the peer closed");
        return 0;
    }

    std::string expected;  // the data sent before the first raw step
    bool raw_sent = false, clean_end = false;
    std::thread client([&] {
        SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
        SSL* ssl = SSL_new(ctx);
        SSL_set_fd(ssl, peer);
        if (SSL_connect(ssl) == 1) {
            int steps = 0;
            while (!in.empty() && steps++ < 32) {
                const std::uint8_t op = in.byte();
                if (op % 4 == 3) {  // raw bytes into the stream
                    const std::string raw = in.take(1 + in.byte() % 200);
                    write_raw(peer, raw);
                    raw_sent = raw_sent || !raw.empty();
                } else {  // application data, up to 64 KiB (several records)
                    const std::size_t len = (static_cast<std::size_t>(in.byte()) << 8 | in.byte());
                    std::string payload = in.take(64);
                    payload.resize(len, static_cast<char>('a' + steps % 26));
                    if (!payload.empty() &&
                        SSL_write(ssl, payload.data(), static_cast<int>(payload.size())) <= 0) {
                        break;  // the server gave up (after a raw step)
                    }
                    if (!raw_sent) expected += payload;
                }
            }
            if (!raw_sent && (in.byte() & 1) == 0) {
                SSL_shutdown(ssl);
                clean_end = true;
            }
        }
        ERR_clear_error();
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        ::close(peer);
    });
    const Outcome o = serve(sv[0], server_ctx, false);
    client.join();
    ERR_clear_error();
    if (o.end == Outcome::timeout) fail("the server hung although the peer closed");
    // Records before the first raw step are intact and in order.
    // A peer that closed before reading the server's session tickets can make
    // the server's sends fail (EPIPE, ECONNRESET on a Unix socket): then only
    // a prefix arrives, and the error is an IoError.
    if (o.end == Outcome::io_error && expected.compare(0, o.data.size(), o.data) == 0) return 0;
    if (o.data != expected) {
        std::fprintf(stderr, "tls_records: got %zu bytes, sent %zu before any raw step (end %d)\n",
                     o.data.size(), expected.size(), static_cast<int>(o.end));
        fail("the server read something else than what was sent");
    }
    if (raw_sent && o.end == Outcome::eof) fail("forged bytes were taken as a clean end");
    if (!raw_sent && clean_end && o.end != Outcome::eof) fail("close_notify was not a clean EOF");
    if (!raw_sent && !clean_end && o.end == Outcome::eof) fail("a truncation was taken as EOF");
    return 0;
}
