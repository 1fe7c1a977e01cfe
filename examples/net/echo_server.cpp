// examples/net/echo_server.cpp — a TCP echo server with one task per connection.
//
// gevent's model: "monkey.patch_socket()" makes every socket call a
// coroutine switch, and "if you need to limit how many connections run at
// once, use a Pool". Here ringlet::net::serve() is gevent's StreamServer: it
// accepts forever and runs the handler below in a new task per connection;
// --max-connections N is the Pool bound (accepting waits while N handlers run).
// The handler is plain blocking-style code: read, write back, repeat.
//
//   echo_server [--host H] [--port P] [--max-connections N]
//   echo_server --smoke     # in-process self-check: a few client tasks, exit 0
//   kill -QUIT <pid>        # every thread lists its tasks on stderr
//
// It is also the ringlet side of bench/echo/echo_compare.sh.
#include <array>
#include <charconv>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
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

namespace {

using ringlet::net::TcpListener;
using ringlet::net::TcpStream;

struct Args {
    std::string host = "127.0.0.1";
    unsigned port = 7000;
    std::size_t max_connections = ringlet::net::unlimited;
    std::size_t threads = 1;
    bool smoke = false;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "echo_server: %s\n"
                 "usage: echo_server [--host H] [--port P] [--max-connections N] [--threads N]"
                 " | --smoke\n",
                 why);
    std::exit(2);
}

unsigned long parse_number(std::string_view text, const char* what) {
    unsigned long value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) {
        usage((std::string("bad number for ") + what).c_str());
    }
    return value;
}

Args parse_args(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        auto value = [&]() -> std::string_view {
            if (i + 1 >= argc) usage((std::string(arg) + " needs a value").c_str());
            return argv[++i];
        };
        if (arg == "--smoke") {
            a.smoke = true;
        } else if (arg == "--host") {
            a.host = value();
        } else if (arg == "--port") {
            a.port = static_cast<unsigned>(parse_number(value(), "--port"));
            if (a.port > 65535) usage("--port must be below 65536");
        } else if (arg == "--max-connections") {
            a.max_connections = parse_number(value(), "--max-connections");
            if (a.max_connections == 0) usage("--max-connections must be at least 1");
        } else if (arg == "--threads") {
            a.threads = parse_number(value(), "--threads");
            if (a.threads == 0) usage("--threads must be at least 1");
        } else {
            usage(("unknown argument " + std::string(arg)).c_str());
        }
    }
    return a;
}

// One connection: echo every byte back until the peer closes. The buffer
// lives on the task's stack (lazily committed; only the pages a read fills
// are ever touched), so a connection costs no heap allocation at all.
void echo(TcpStream stream) {
    stream.set_nodelay();  // each echo is one small write: send it now
    std::array<std::byte, 64 * 1024> buf;
    for (;;) {
        const std::size_t n = stream.read(buf);  // suspends this task only
        if (n == 0) return;                      // the peer closed: done
        stream.write_all(std::span(buf.data(), n));
    }
}

// --smoke: serve on an ephemeral port, talk to it from a few client tasks in
// this same thread, check every echoed byte, then stop the server.
int smoke() {
    return ringlet::run([] {
        TcpListener listener = TcpListener::bind("127.0.0.1", 0);
        const std::uint16_t port = listener.port();
        auto server = ringlet::spawn([&] { ringlet::net::serve(listener, echo, 8); });

        constexpr int clients = 5;
        std::vector<ringlet::Task<std::size_t>> tasks;
        for (int c = 0; c < clients; ++c) {
            tasks.push_back(ringlet::spawn([port, c] {
                TcpStream s = TcpStream::connect("127.0.0.1", port);
                std::size_t checked = 0;
                // Sizes from 1 byte to more than one read's worth.
                for (std::size_t size : {1u, 13u, 4096u, 70000u, 200u}) {
                    std::string out(size, '\0');
                    for (std::size_t i = 0; i < size; ++i) {
                        out[i] = static_cast<char>('a' + (i * 7 + c) % 26);
                    }
                    s.write_all(out);
                    std::string in(size, '\0');
                    s.read_exact(std::as_writable_bytes(std::span(in.data(), in.size())));
                    if (in != out) throw std::runtime_error("echo mismatch");
                    checked += size;
                }
                s.shutdown_write();
                std::byte b;
                if (s.read(std::span(&b, 1)) != 0) throw std::runtime_error("expected EOF");
                return checked;
            }));
        }
        std::size_t total = 0;
        for (auto& t : tasks) total += t.get();  // rethrows a client's failure
        server.cancel();
        server.join();
        std::printf("echo_server smoke: %d clients echoed %zu bytes correctly on port %u\n",
                    clients, total, static_cast<unsigned>(port));
        return 0;
    });
}

}  // namespace

int main(int argc, char** argv) {
    const Args args = parse_args(argc, argv);
    try {
        if (args.smoke) return smoke();
        // One scheduler per thread, each with its own SO_REUSEPORT listener on
        // the same port: the kernel spreads connections over the threads (the
        // thread-per-core model). --threads 1 is a plain single scheduler.
        const bool many = args.threads > 1;
        ringlet::run_threads(
            args.threads,
            [&](std::size_t index) {
                TcpListener listener =
                    TcpListener::bind(args.host, static_cast<std::uint16_t>(args.port), 1024, many);
                if (index == 0) {
                    std::printf("echo_server: listening on %s with %zu thread(s)\n",
                                listener.local_address().to_string().c_str(), args.threads);
                    std::fflush(stdout);
                }
                ringlet::net::serve(listener, echo, args.max_connections);
            },
            ringlet::ThreadsOptions{
                .scheduler = {.dump_signal = SIGQUIT}});  // kill -QUIT: a task dump
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "echo_server: %s\n", e.what());
        return 1;
    }
}
