// examples/net/https_hello.cpp — an HTTPS/1.1 keep-alive "Hello, World!" server.
//
// gevent's model for TLS: gevent.ssl makes TLS cooperative, so a
// StreamServer handler wraps its socket and reads and writes as if blocking.
// Here the handler given to serve() does the same with
// TlsStream::accept(stream, ctx): the handshake, each read and each write
// suspend only this connection's task. It answers GET / (and HEAD /) with
// "Hello, World!\n", 404 for other paths, keeps connections alive, answers
// pipelined requests in one write, refuses garbage with 400 and a close, and
// offers ALPN "http/1.1". A client that sends plaintext, never finishes the
// handshake (10 s) or fails verification only loses its own connection.
//
// bench/echo/https_compare.sh measures it against nginx with TLS;
// tests/net/https_hello_check.sh checks it with curl and openssl s_client.
//
//   https_hello --cert C --key K [--host H] [--port P] [--threads N]
//   https_hello --self-signed DIR [--port P] ...   # makes DIR/cert.pem, DIR/key.pem first
//   https_hello --smoke                            # self-signed; in-process TLS clients check it
#include <array>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

#include <ringlet/errors.hpp>
#include <ringlet/net/serve.hpp>
#include <ringlet/net/tcp.hpp>
#include <ringlet/net/tls.hpp>
#include <ringlet/run.hpp>
#include <ringlet/task.hpp>
#include <ringlet/thread.hpp>
#include <ringlet/time.hpp>

namespace {

using namespace std::chrono_literals;
using ringlet::net::TcpListener;
using ringlet::net::TcpStream;
using ringlet::net::TlsContext;
using ringlet::net::TlsError;
using ringlet::net::TlsStream;

constexpr std::size_t max_head = 8 * 1024;
constexpr std::string_view hello_body = "Hello, World!\n";

// A self-signed certificate for localhost / 127.0.0.1, made by the openssl
// command (P-256, two days). Returns false if it could not be made.
bool make_self_signed(const std::string& dir) {
    std::filesystem::create_directories(dir);
    const std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout '" +
        dir + "/key.pem' -out '" + dir + "/cert.pem' >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

// Finds header `name` (lower case) in `head`; "" if absent.
std::string_view header(std::string_view head, std::string_view name) {
    std::size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos + 2 < head.size()) {
        const std::size_t line_begin = pos + 2;
        const std::size_t eol = head.find("\r\n", line_begin);
        const std::string_view line = head.substr(line_begin, eol - line_begin);
        if (line.size() > name.size() && line[name.size()] == ':') {
            bool same = true;
            for (std::size_t i = 0; i < name.size() && same; ++i) same = lower(line[i]) == name[i];
            if (same) {
                std::string_view v = line.substr(name.size() + 1);
                while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
                return v;
            }
        }
        pos = eol;
    }
    return {};
}

bool mentions(std::string_view value, std::string_view token) {
    std::string v(value);
    for (char& c : v) c = lower(c);
    return v.find(token) != std::string::npos;
}

struct Parsed {
    enum { need_more, complete, bad } state = need_more;
    int status = 200;
    bool head_only = false, keep_alive = true, http10 = false;
    std::size_t size = 0;  // head + body
};

// One request from `data`: its request line, Connection and Content-Length.
Parsed parse(std::string_view data) {
    Parsed p;
    const std::size_t end = data.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (data.size() >= max_head) p.state = Parsed::bad;
        return p;
    }
    const std::string_view head = data.substr(0, end + 2);
    const std::string_view line = head.substr(0, head.find("\r\n"));
    const std::size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp1 == sp2 || sp1 == 0) {
        p.state = Parsed::bad;
        return p;
    }
    const std::string_view method = line.substr(0, sp1);
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if ((version != "HTTP/1.1" && version != "HTTP/1.0") || target.empty() || target[0] != '/') {
        p.state = Parsed::bad;
        return p;
    }
    p.http10 = version == "HTTP/1.0";
    p.head_only = method == "HEAD";
    const std::string_view path = target.substr(0, target.find('?'));
    p.status = path != "/" ? 404 : (method == "GET" || p.head_only) ? 200 : 405;
    const std::string_view connection = header(head, "connection");
    p.keep_alive = p.http10 ? mentions(connection, "keep-alive") : !mentions(connection, "close");
    std::size_t length = 0;
    const std::string_view cl = header(head, "content-length");
    if (!cl.empty()) {
        auto [ptr, ec] = std::from_chars(cl.data(), cl.data() + cl.size(), length);
        if (ec != std::errc() || length > (1u << 20)) {
            p.state = Parsed::bad;
            return p;
        }
    }
    if (!header(head, "transfer-encoding").empty()) {
        p.state = Parsed::bad;  // no chunked bodies in this tiny server
        return p;
    }
    if (data.size() < end + 4 + length) return p;  // the body is still coming
    p.size = end + 4 + length;
    p.state = Parsed::complete;
    return p;
}

void append_response(std::string& out, const Parsed& p) {
    std::string_view status = "200 OK", body = hello_body;
    if (p.state == Parsed::bad) {
        status = "400 Bad Request";
        body = "Bad Request\n";
    } else if (p.status == 404) {
        status = "404 Not Found";
        body = "Not Found\n";
    } else if (p.status == 405) {
        status = "405 Method Not Allowed";
        body = "Method Not Allowed\n";
    }
    const bool keep = p.state != Parsed::bad && p.keep_alive;
    out += "HTTP/1.1 ";
    out += status;
    out += "\r\nServer: ringlet\r\nContent-Type: text/plain\r\nContent-Length: ";
    out += std::to_string(body.size());
    out += keep ? (p.http10 ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\n\r\n")
                : "\r\nConnection: close\r\n\r\n";
    if (!p.head_only) out += body;
}

std::atomic<long> handshake_failures{0};

// One connection: the TLS handshake, then HTTP/1.1 over the TlsStream.
void serve_connection(TcpStream tcp, const TlsContext& ctx) {
    tcp.set_nodelay();
    try {
        TlsStream tls = TlsStream::accept(std::move(tcp), ctx, 10s);
        std::array<char, max_head + 4096> in;
        std::size_t used = 0;
        std::string out;
        out.reserve(4096);
        for (;;) {
            const std::size_t n = tls.read(in.data() + used, in.size() - used);
            if (n == 0) return;  // close_notify
            used += n;
            std::size_t begin = 0;
            bool close = false;
            while (begin < used) {
                const Parsed p = parse(std::string_view(in.data() + begin, used - begin));
                if (p.state == Parsed::need_more) break;
                append_response(out, p);
                if (p.state == Parsed::bad || !p.keep_alive) {
                    close = true;
                    break;
                }
                begin += p.size;
            }
            if (!out.empty()) {
                tls.write_all(out);  // every answer to this read in one write
                out.clear();
            }
            if (close) {
                tls.close();
                return;
            }
            std::memmove(in.data(), in.data() + begin, used - begin);
            used -= begin;
        }
    } catch (const TlsError&) {
        ++handshake_failures;  // plaintext, a failed verification, a truncation
    } catch (const ringlet::TimeoutError&) {
        ++handshake_failures;  // a client that never finished the handshake
    } catch (const ringlet::IoError&) {
        // The client reset or vanished (wrk ending its run): not our error.
    }
}

// ---------------------------------------------------------------------------
// --smoke

void expect(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(std::string("check failed: ") + what);
    std::printf("  ok  %s\n", what);
}

std::string receive(TlsStream& s, std::size_t responses) {
    std::string got;
    std::array<char, 4096> buf;
    auto count = [&] {
        std::size_t c = 0;
        for (std::size_t at = 0; (at = got.find("Hello, World!\n", at)) != std::string::npos; ++at)
            ++c;
        return c;
    };
    while (count() < responses) {
        const std::size_t n = s.read(buf.data(), buf.size());
        if (n == 0) break;
        got.append(buf.data(), n);
    }
    return got;
}

int smoke() {
    char tmpl[] = "/tmp/https_hello-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr || !make_self_signed(tmpl)) {
        std::fprintf(stderr, "https_hello smoke: cannot make a certificate (openssl?): skipped\n");
        return 77;
    }
    const std::string dir = tmpl;
    struct Cleanup {
        std::string dir;
        ~Cleanup() { std::filesystem::remove_all(dir); }
    } cleanup{dir};
    return ringlet::run([&] {
        ringlet::Timeout limit(20s);
        TlsContext server = TlsContext::server(dir + "/cert.pem", dir + "/key.pem");
        server.set_alpn({"http/1.1"});
        TcpListener listener = TcpListener::bind("127.0.0.1", 0);
        const std::uint16_t port = listener.port();
        auto srv = ringlet::spawn([&] {
            ringlet::net::serve(listener,
                                [&](TcpStream s) { serve_connection(std::move(s), server); });
        });
        TlsContext client = TlsContext::client(dir + "/cert.pem");
        client.set_alpn({"h2", "http/1.1"});
        {
            TlsStream c = TlsStream::connect("localhost", port, client);
            expect(c.alpn() == "http/1.1", "ALPN chose http/1.1");
            c.write_all("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
            std::string r = receive(c, 1);
            expect(r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0, "GET / answers 200 Hello, World!");
            std::string many;
            for (int i = 0; i < 20; ++i) many += "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
            c.write_all(many);
            r = receive(c, 20);
            expect(r.size() > 20 * hello_body.size(),
                   "20 pipelined requests on the same connection");
            c.write_all("GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            std::array<char, 4096> buf;
            std::string last;
            for (std::size_t n; (n = c.read(buf.data(), buf.size())) > 0;)
                last.append(buf.data(), n);
            expect(last.rfind("HTTP/1.1 404", 0) == 0, "404 then a clean close (close_notify)");
        }
        {
            TcpStream plain = TcpStream::connect("127.0.0.1", port);
            plain.write_all("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
            std::array<std::byte, 512> buf;
            std::string answer;
            try {
                for (std::size_t n; (n = plain.read(buf)) > 0;)
                    answer.append(reinterpret_cast<const char*>(buf.data()), n);
            } catch (const ringlet::IoError&) {
            }
            expect(answer.find("Hello") == std::string::npos, "plaintext HTTP gets no answer");
        }
        {
            bool refused = false;
            try {
                TlsStream::connect("localhost", port, TlsContext::client());  // system store
            } catch (const TlsError& e) {
                refused =
                    std::string(e.what()).find("certificate verify failed") != std::string::npos;
            }
            expect(refused, "a client without the self-signed certificate refuses it");
        }
        {
            TlsStream c = TlsStream::connect("127.0.0.1", port, client);
            c.write_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            expect(receive(c, 1).find("200 OK") != std::string::npos,
                   "still serving after the failures");
        }
        srv.cancel();
        srv.join();
        std::printf("https_hello smoke: all checks passed (%ld refused handshakes)\n",
                    handshake_failures.load());
        return 0;
    });
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1", cert, key, self_signed;
    unsigned long port = 8443, threads = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        const bool has_value = i + 1 < argc;
        if (arg == "--smoke") {
            try {
                return smoke();
            } catch (const std::exception& e) {
                std::fprintf(stderr, "https_hello smoke: %s\n", e.what());
                return 1;
            }
        } else if (arg == "--host" && has_value) {
            host = argv[++i];
        } else if (arg == "--port" && has_value) {
            port = std::strtoul(argv[++i], nullptr, 10);
        } else if (arg == "--threads" && has_value) {
            threads = std::max(1ul, std::strtoul(argv[++i], nullptr, 10));
        } else if (arg == "--cert" && has_value) {
            cert = argv[++i];
        } else if (arg == "--key" && has_value) {
            key = argv[++i];
        } else if (arg == "--self-signed" && has_value) {
            self_signed = argv[++i];
        } else {
            std::fprintf(stderr,
                         "usage: https_hello (--cert C --key K | --self-signed DIR) [--host H] "
                         "[--port P] [--threads N] | --smoke\n");
            return 2;
        }
    }
    if (!self_signed.empty()) {
        if (!make_self_signed(self_signed)) {
            std::fprintf(stderr, "https_hello: cannot make a certificate in %s\n",
                         self_signed.c_str());
            return 1;
        }
        cert = self_signed + "/cert.pem";
        key = self_signed + "/key.pem";
    }
    if (cert.empty() || key.empty()) {
        std::fprintf(stderr, "https_hello: give --cert and --key, or --self-signed DIR\n");
        return 2;
    }
    try {
        TlsContext ctx = TlsContext::server(cert, key);
        ctx.set_alpn({"http/1.1"});
        ringlet::run_threads(threads, [&](std::size_t index) {
            TcpListener listener =
                TcpListener::bind(host, static_cast<std::uint16_t>(port), 1024, threads > 1);
            if (index == 0) {
                std::printf("https_hello: listening on https://%s/ with %lu thread(s)\n",
                            listener.local_address().to_string().c_str(), threads);
                std::fflush(stdout);
            }
            ringlet::net::serve(listener,
                                [&](TcpStream s) { serve_connection(std::move(s), ctx); });
        });
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "https_hello: %s\n", e.what());
        return 1;
    }
}
