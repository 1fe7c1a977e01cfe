// examples/net/http_hello.cpp — a small, fast HTTP/1.1 keep-alive server.
//
// gevent's model: a monkey-patched server writes one blocking-style
// handler per connection and lets coroutines multiplex them. This is that
// handler for HTTP/1.1: it answers GET / with "Hello, World!\n", keeps
// connections alive (HTTP/1.1's default; HTTP/1.0 with "Connection:
// keep-alive"), honours "Connection: close", answers pipelined requests in
// order, says 404 for other paths and 405 for other methods, and answers
// garbage, malformed request lines or headers over 8 KiB with
// "400 Bad Request" and a close; the server itself keeps running.
// Slow clients (a slowloris) cannot starve it: a request head must arrive
// within 10 s of its first byte, a connection that sends nothing is closed
// after 10 s, an idle keep-alive connection after 30 s, and connections that
// have not sent a complete request yet are shed first (net::ServeOptions).
//
// Why it is fast (it is measured against nginx by bench/echo/http_compare.sh):
// each connection parses incrementally from one fixed buffer on its task's
// stack; one read may hold many pipelined requests, and all the answers to
// them go out in ONE write; TCP_NODELAY; no allocation per request or per
// connection (the buffers live on the task's stack).
//
//   http_hello [--host H] [--port P]     # default 127.0.0.1:8080
//   http_hello --smoke                   # in-process client tasks check it, exit 0
//   kill -QUIT <pid>                     # every thread lists its tasks on stderr
#include <array>
#include <charconv>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <ringlet/errors.hpp>
#include <ringlet/net/serve.hpp>
#include <ringlet/net/tcp.hpp>
#include <ringlet/run.hpp>
#include <ringlet/task.hpp>
#include <ringlet/thread.hpp>
#include <ringlet/time.hpp>

#include "http_request.hpp"

namespace {

using namespace std::chrono_literals;
using ringlet::net::TcpListener;
using ringlet::net::TcpStream;

using http::max_head;                                 // request line + headers
constexpr std::size_t in_capacity = max_head + 4096;  // a read always has room
constexpr std::size_t out_capacity = 32 * 1024;
constexpr std::size_t max_response = 512;  // bound on one answer's size
constexpr std::string_view hello_body = "Hello, World!\n";
constexpr auto header_timeout = 10s;     // a request head, from its first byte
constexpr auto keepalive_timeout = 30s;  // an idle keep-alive connection

// net::serve's defences: the timeouts above, and connections that have not
// yet sent a complete request (startups) limited as sshd's MaxStartups: over
// 128 of them new ones are dropped at random (all at 1024), and get only 2 s
// to send a request; at EMFILE the oldest of them makes room.
const ringlet::net::ServeOptions serving{
    .first_byte_timeout = header_timeout,
    .idle_timeout = keepalive_timeout,
    .startups_soft = 128,
    .startups_hard = 1024,
    .startup_timeout = header_timeout,
    .pressure_startup_timeout = 2s,
};

// ---------------------------------------------------------------------------
// Parsing: http_request.hpp (tests/fuzz/http_request.cpp fuzzes it there)

using http::Parse;
using http::parse_request;
using http::Request;

// ---------------------------------------------------------------------------
// Responses

// "Date: ..." formatted once per second, shared by every connection (one thread).
class DateHeader {
  public:
    std::string_view get() noexcept {
        timespec now{};
        ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
        if (now.tv_sec != second_) {
            second_ = now.tv_sec;
            tm parts{};
            ::gmtime_r(&now.tv_sec, &parts);
            size_ =
                std::strftime(text_, sizeof text_, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &parts);
        }
        return {text_, size_};
    }

  private:
    char text_[64] = {};
    std::size_t size_ = 0;
    time_t second_ = -1;
};

DateHeader date_header;

// Collects the answers to one batch of requests, then sends them in one write.
class ResponseBuffer {
  public:
    explicit ResponseBuffer(TcpStream& stream) noexcept : stream_(stream) {}

    // Answers one request (status 200, 404, 405 or 400).
    void add(int status, bool head_only, bool keep_alive, int http_minor) {
        if (out_capacity - size_ < max_response) flush();
        if (size_ == 0) date_ = date_header.get();  // once per batch, not per answer
        switch (status) {
            case 200:
                append("HTTP/1.1 200 OK\r\n");
                break;
            case 404:
                append("HTTP/1.1 404 Not Found\r\n");
                break;
            case 405:
                append("HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n");
                break;
            default:
                append("HTTP/1.1 400 Bad Request\r\n");
                break;
        }
        append("Server: ringlet\r\n");
        append(date_);
        std::string_view body;
        switch (status) {
            case 200:
                body = hello_body;
                break;
            case 404:
                body = "Not Found\n";
                break;
            case 405:
                body = "Method Not Allowed\n";
                break;
            default:
                body = "Bad Request\n";
                break;
        }
        append("Content-Type: text/plain\r\nContent-Length: ");
        char digits[8];
        auto [end, ec] = std::to_chars(digits, digits + sizeof digits, body.size());
        append({digits, static_cast<std::size_t>(end - digits)});
        if (!keep_alive) {
            append("\r\nConnection: close\r\n\r\n");
        } else if (http_minor == 0) {
            append("\r\nConnection: keep-alive\r\n\r\n");
        } else {
            append("\r\n\r\n");
        }
        if (!head_only) append(body);
    }

    // One write_all for everything collected since the last flush.
    void flush() {
        if (size_ == 0) return;
        stream_.write_all(std::string_view(buf_.data(), size_));
        size_ = 0;
    }

  private:
    void append(std::string_view s) noexcept {
        std::memcpy(buf_.data() + size_, s.data(), s.size());
        size_ += s.size();
    }
    TcpStream& stream_;
    std::string_view date_;
    std::size_t size_ = 0;
    std::array<char, out_capacity> buf_;
};

// Closes after an error or "Connection: close" without losing the answer:
// closing with unread input would make the kernel send RST, and the peer could
// lose the response still in flight. So: FIN first, then drain what the peer
// still sends for up to a second (nginx's lingering close).
void lingering_close(TcpStream& stream) noexcept {
    try {
        stream.shutdown_write();
        ringlet::Timeout limit(1s);
        std::array<std::byte, 4096> sink;
        for (std::size_t drained = 0; drained < 1024 * 1024;) {
            const std::size_t n = stream.read(sink);
            if (n == 0) break;
            drained += n;
        }
    } catch (const std::exception&) {
        // TimeoutError or IoError: we tried; the socket closes either way.
    }
}

// ---------------------------------------------------------------------------
// One connection

void serve_connection(TcpStream stream, ringlet::net::ServeConnection& connection) {
    stream.set_nodelay();
    std::array<char, in_capacity> in;
    std::size_t begin = 0, end = 0;         // unparsed bytes are in[begin, end)
    std::size_t scanned = 0;                // see parse_request
    std::uint64_t skip = 0;                 // request body bytes still to discard
    ringlet::TimePoint request_deadline{};  // for the request under way
    ResponseBuffer out(stream);
    try {
        for (;;) {
            const auto room = std::as_writable_bytes(std::span(in.data() + end, in.size() - end));
            std::size_t n;
            if (begin < end || skip > 0) {
                // A request has begun: the rest must come before its deadline
                // (between requests the idle timeout applies instead).
                const auto now = ringlet::Clock::now();
                if (now >= request_deadline) return;
                ringlet::Timeout limit(request_deadline - now);
                n = stream.read(room);
            } else {
                n = stream.read(room);
                request_deadline = ringlet::deadline_after(header_timeout);
            }
            if (n == 0) return;  // the client closed: nothing pending to answer
            end += n;
            bool close = false;
            while (begin < end) {
                if (skip > 0) {
                    const std::size_t k =
                        static_cast<std::size_t>(std::min<std::uint64_t>(skip, end - begin));
                    begin += k;
                    skip -= k;
                    continue;
                }
                if (in[begin] == '\r' || in[begin] == '\n') {
                    ++begin;  // RFC 9112 §2.2: ignore empty lines before a request
                    continue;
                }
                Request req;
                const Parse p =
                    parse_request(std::string_view(in.data() + begin, end - begin), scanned, req);
                if (p == Parse::need_more) break;
                if (p == Parse::bad) {
                    out.add(400, false, false, 1);
                    close = true;
                    break;
                }
                const bool head = req.method == "HEAD";
                int status = 404;
                if (req.path == "/") status = (req.method == "GET" || head) ? 200 : 405;
                out.add(status, head, req.keep_alive, req.minor);
                connection.established();  // a real client: not shed under a flood
                begin += req.head_size;
                skip = req.content_length;
                if (!req.keep_alive) {
                    close = true;
                    break;
                }
            }
            out.flush();  // every answer for this read in one write
            if (close) {
                lingering_close(stream);
                return;
            }
            // Keep the unparsed tail (a partial request) at the front.
            if (begin == end) {
                begin = end = 0;
            } else if (begin > 0) {
                std::memmove(in.data(), in.data() + begin, end - begin);
                end -= begin;
                begin = 0;
            }
        }
    } catch (const ringlet::IoError&) {
        // The client reset or vanished (e.g. wrk ending its run): not our error.
    } catch (const ringlet::TimeoutError&) {
        // A request head slower than header_timeout: close without an answer.
    }
}

// ---------------------------------------------------------------------------
// --smoke: clients in the same thread check the server's answers.

struct Response {
    int status = 0;
    std::string head;
    std::string body;
};

class TestClient {
  public:
    explicit TestClient(std::uint16_t port) : stream_(TcpStream::connect("127.0.0.1", port)) {}

    void send(std::string_view text) { stream_.write_all(text); }

    Response receive(bool head_request = false) {
        std::size_t head_end;
        while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) fill();
        Response r;
        r.head = buf_.substr(0, head_end + 4);
        if (r.head.compare(0, 9, "HTTP/1.1 ") != 0) throw std::runtime_error("bad status line");
        r.status = std::stoi(r.head.substr(9, 3));
        const std::size_t cl = r.head.find("Content-Length: ");
        const std::size_t length = cl == std::string::npos ? 0 : std::stoul(r.head.substr(cl + 16));
        buf_.erase(0, head_end + 4);
        if (!head_request) {
            while (buf_.size() < length) fill();
            r.body = buf_.substr(0, length);
            buf_.erase(0, length);
        }
        return r;
    }

    // True if the server closed the connection (EOF or reset) with nothing more.
    bool closed_by_server() {
        if (!buf_.empty()) return false;
        try {
            std::array<std::byte, 64> b;
            return stream_.read(b) == 0;
        } catch (const ringlet::IoError&) {
            return true;
        }
    }

  private:
    void fill() {
        std::array<char, 4096> b;
        const std::size_t n = stream_.read(std::as_writable_bytes(std::span(b)));
        if (n == 0) throw std::runtime_error("unexpected EOF from server");
        buf_.append(b.data(), n);
    }
    TcpStream stream_;
    std::string buf_;
};

void expect(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(std::string("check failed: ") + what);
    std::printf("  ok  %s\n", what);
}

constexpr std::string_view get_root = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

int smoke() {
    return ringlet::run([] {
        ringlet::Timeout limit(20s);  // a hang fails the smoke run instead of stalling
        TcpListener listener = TcpListener::bind("127.0.0.1", 0);
        const std::uint16_t port = listener.port();
        auto server =
            ringlet::spawn([&] { ringlet::net::serve(listener, serve_connection, serving); });

        {  // A normal GET, then two pipelined requests in one write, same connection.
            TestClient c(port);
            c.send(get_root);
            Response r = c.receive();
            expect(r.status == 200 && r.body == hello_body, "GET / answers 200 Hello, World!");
            expect(r.head.find("Connection: close") == std::string::npos,
                   "HTTP/1.1 is keep-alive by default");
            c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /nothing HTTP/1.1\r\nHost: a\r\n\r\n");
            r = c.receive();
            Response r2 = c.receive();
            expect(r.status == 200 && r2.status == 404, "two pipelined GETs answered in order");
            c.send(
                "HEAD / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\n"
                "Content-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: a\r\n\r\n");
            r = c.receive(/*head_request=*/true);
            r2 = c.receive();
            Response r3 = c.receive();
            expect(r.status == 200 && r2.status == 405 && r3.status == 200,
                   "HEAD, POST with a body (405), then GET, pipelined");
        }
        {  // A request dribbled in small pieces.
            TestClient c(port);
            for (std::size_t i = 0; i < get_root.size(); i += 5) {
                c.send(get_root.substr(i, 5));
                ringlet::sleep(1ms);
            }
            expect(c.receive().status == 200, "a request split over many writes");
        }
        {  // 100 pipelined requests in one write: 100 answers, in order.
            TestClient c(port);
            std::string many;
            for (int i = 0; i < 100; ++i) many += get_root;
            c.send(many);
            int ok = 0;
            for (int i = 0; i < 100; ++i) ok += c.receive().status == 200;
            expect(ok == 100, "100 pipelined requests in one write");
        }
        {  // Connection: close, and HTTP/1.0 without keep-alive.
            TestClient c(port);
            c.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
            Response r = c.receive();
            expect(r.status == 200 && r.head.find("Connection: close") != std::string::npos &&
                       c.closed_by_server(),
                   "Connection: close is answered, then closed");
            TestClient d(port);
            d.send("GET / HTTP/1.0\r\n\r\n");
            expect(d.receive().status == 200 && d.closed_by_server(), "HTTP/1.0 closes by default");
        }
        {  // Garbage: 400, then the server closes.
            TestClient c(port);
            c.send("\x16\x03\x01garbage that is not HTTP\r\n\r\n");
            expect(c.receive().status == 400 && c.closed_by_server(), "garbage gets 400 and close");
        }
        {  // A malformed request line, after a good request on the same connection.
            TestClient c(port);
            c.send(get_root);
            expect(c.receive().status == 200, "good request before a bad one");
            c.send("GET /x HTTP/9.9\r\nHost: a\r\n\r\n");
            expect(c.receive().status == 400 && c.closed_by_server(),
                   "malformed request line gets 400 and close");
        }
        {  // Headers over 8 KiB.
            TestClient c(port);
            std::string big =
                "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(9000, 'x') + "\r\n\r\n";
            c.send(big);
            expect(c.receive().status == 400 && c.closed_by_server(),
                   "headers over 8 KiB get 400 and close");
        }
        {  // HTTP/1.1 without Host.
            TestClient c(port);
            c.send("GET / HTTP/1.1\r\n\r\n");
            expect(c.receive().status == 400, "HTTP/1.1 without Host gets 400");
        }
        {  // The server is still fine.
            TestClient c(port);
            c.send(get_root);
            expect(c.receive().body == hello_body, "a good request still works afterwards");
        }
        server.cancel();
        server.join();
        std::printf("http_hello smoke: all checks passed\n");
        return 0;
    });
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    unsigned long port = 8080;
    unsigned long threads = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--smoke") {
            try {
                return smoke();
            } catch (const std::exception& e) {
                std::fprintf(stderr, "http_hello smoke: %s\n", e.what());
                return 1;
            }
        } else if ((arg == "--port" || arg == "--host") && i + 1 < argc) {
            if (arg == "--host") {
                host = argv[++i];
            } else {
                char* endp = nullptr;
                port = std::strtoul(argv[++i], &endp, 10);
                if (*endp != '\0' || port > 65535) {
                    std::fprintf(stderr, "http_hello: bad --port\n");
                    return 2;
                }
            }
        } else if (arg == "--threads" && i + 1 < argc) {
            char* endp = nullptr;
            threads = std::strtoul(argv[++i], &endp, 10);
            if (*endp != '\0' || threads == 0 || threads > 1024) {
                std::fprintf(stderr, "http_hello: bad --threads\n");
                return 2;
            }
        } else {
            std::fprintf(stderr,
                         "usage: http_hello [--host H] [--port P] [--threads N] | --smoke\n");
            return 2;
        }
    }
    try {
        // --threads N: N schedulers, each with its own SO_REUSEPORT listener
        // (thread per core); the kernel spreads the connections.
        ringlet::run_threads(
            threads,
            [&](std::size_t index) {
                TcpListener listener =
                    TcpListener::bind(host, static_cast<std::uint16_t>(port), 1024, threads > 1);
                if (index == 0) {
                    std::printf("http_hello: listening on http://%s/ with %lu thread(s)\n",
                                listener.local_address().to_string().c_str(), threads);
                    std::fflush(stdout);
                }
                ringlet::net::serve(listener, serve_connection, serving);
            },
            ringlet::ThreadsOptions{
                .scheduler = {.dump_signal = SIGQUIT}});  // kill -QUIT: a task dump
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "http_hello: %s\n", e.what());
        return 1;
    }
}
