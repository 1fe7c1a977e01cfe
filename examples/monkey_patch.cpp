// examples/monkey_patch.cpp — gevent's monkey.patch_all() for C++: libcurl from tasks.
//
// Ports a gevent tutorial program: after gevent.monkey.patch_all(),
// blocking library calls (urllib there) made from greenlets overlap instead
// of running one after another. Here the blocking library is libcurl's easy
// interface: curl_easy_perform() blocks its caller until the transfer ends.
// Linked with ringlet-hooks, its poll() and socket calls suspend only the
// calling task, so five fetches from five tasks of ONE thread overlap.
//
// The server is local: a ringlet thread that answers /delay/<ms> after <ms>.
//
//   monkey_patch            five URLs, 100-300 ms each
//   monkey_patch --smoke    the same, 10-30 ms each; exits 1 if nothing overlapped
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <curl/curl.h>
#include <string>
#include <string_view>
#include <vector>

#include <ringlet/hooks.hpp>
#include <ringlet/net/tcp.hpp>
#include <ringlet/ringlet.hpp>
#include <ringlet/thread.hpp>

using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0, Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(t - t0).count();
}

// The local server: answers "GET /delay/<ms>" after sleeping <ms>, one task
// per connection, and ends after `requests` answers.
void serve_delays(ringlet::net::TcpListener listener, int requests) {
    std::vector<ringlet::Task<void>> handlers;
    for (int i = 0; i < requests; ++i) {
        handlers.push_back(ringlet::spawn([conn = listener.accept()]() mutable {
            std::string head;
            char buf[1024];
            while (head.find("\r\n\r\n") == std::string::npos) {
                const std::size_t n = conn.read(buf, sizeof buf);
                if (n == 0) return;
                head.append(buf, n);
            }
            const std::size_t at = head.find("/delay/");
            const int ms = at == std::string::npos ? 0 : std::atoi(head.c_str() + at + 7);
            ringlet::sleep(std::chrono::milliseconds(ms));
            const std::string body = "slept " + std::to_string(ms) + " ms\n";
            conn.write_all("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                           "\r\nConnection: close\r\n\r\n" + body);
        }));
    }
    ringlet::joinall(handlers);
}

std::size_t append(char* data, std::size_t size, std::size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

struct Fetch {
    std::string url;
    std::string body;
    Clock::time_point started, finished;
    bool ok = false;
};

// A plain, blocking libcurl fetch: nothing in it knows about ringlet.
void fetch(Fetch& f) {
    CURL* h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, f.url.c_str());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &f.body);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    f.started = Clock::now();
    f.ok = curl_easy_perform(h) == CURLE_OK;
    f.finished = Clock::now();
    curl_easy_cleanup(h);
}

}  // namespace

int main(int argc, char** argv) {
    const bool smoke = argc > 1 && std::string_view(argv[1]) == "--smoke";
    const int scale = smoke ? 1 : 10;
    const std::vector<int> delays = {30, 20, 25, 15, 10};  // x scale ms

    curl_global_init(CURL_GLOBAL_DEFAULT);
    auto listener = ringlet::net::TcpListener::bind("127.0.0.1", 0);
    const std::uint16_t port = listener.port();
    ringlet::Thread server([listener = std::move(listener), n = int(delays.size())]() mutable {
        serve_delays(std::move(listener), n);
    });

    std::vector<Fetch> fetches;
    for (int d : delays) {
        Fetch f;
        f.url = "http://127.0.0.1:" + std::to_string(port) + "/delay/" + std::to_string(d * scale);
        fetches.push_back(std::move(f));
    }
    const Clock::time_point t0 = Clock::now();
    ringlet::run([&] {
        std::printf("hooks installed: %s\n", ringlet::hooks_installed() ? "yes" : "no");
        std::vector<ringlet::Task<void>> tasks;
        for (Fetch& f : fetches) tasks.push_back(ringlet::spawn([&f] { fetch(f); }));
        ringlet::joinall(tasks);
    });
    const Clock::time_point t1 = Clock::now();
    server.join();
    curl_global_cleanup();

    double sum = 0;
    bool all_ok = true;
    for (const Fetch& f : fetches) {
        std::printf("%-40s started at %6.1f ms, done at %6.1f ms: %s", f.url.c_str(),
                    ms_since(t0, f.started), ms_since(t0, f.finished),
                    f.ok ? f.body.c_str() : "FAILED\n");
        sum += ms_since(f.started, f.finished);
        all_ok = all_ok && f.ok;
    }
    // Overlap: a fetch started before another one had finished.
    Clock::time_point first_done = Clock::time_point::max(), last_start{};
    for (const Fetch& f : fetches) {
        first_done = std::min(first_done, f.finished);
        last_start = std::max(last_start, f.started);
    }
    const bool overlapped = last_start < first_done;
    const double wall = ms_since(t0, t1);
    std::printf("%zu fetches: %.0f ms of transfers in %.0f ms of wall clock (%.1fx) — %s\n",
                fetches.size(), sum, wall, sum / wall,
                overlapped ? "all five were in flight at once" : "they did not overlap");
    return all_ok && overlapped ? 0 : 1;
}
