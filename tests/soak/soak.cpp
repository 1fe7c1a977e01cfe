// tests/soak/soak.cpp — the long run: every kind of load and fault at once,
// and nothing may grow.
//
// Usage: soak MINUTES   (scripts/test.sh --soak MINUTES builds and runs it)
//
// Each round runs four loads side by side on one scheduler for a few
// seconds, then stops them all:
//   - echo: a serve() loop and 32 clients that connect, send verified bytes
//     and disconnect, again and again;
//   - pool faults: an ipc::ProcessPool(2) whose tasks kill their worker one
//     time in eight (only those tasks may fail, with WorkerLost);
//   - queue kills: producer processes SIGKILLed while they put into an
//     ipc::Queue; every message taken out must be whole;
//   - Manager churn: Managers started, used and stopped in a loop.
// Between rounds, with all loads stopped, it samples this process's open
// fds, threads, RSS and live descendants. After the first (warm-up) round
// the fds, threads and descendants must stay exactly flat and RSS within
// 32 MiB; any failure or growth prints what grew and exits 1.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <random>
#include <signal.h>
#include <string>
#include <unistd.h>
#include <vector>

#include <ringlet/ipc.hpp>
#include <ringlet/net.hpp>
#include <ringlet/ringlet.hpp>

namespace ipc = ringlet::ipc;
namespace net = ringlet::net;
using namespace std::chrono_literals;

namespace {

struct Sample {
    long fds = 0;
    long threads = 0;
    long rss_kib = 0;
    long descendants = 0;
};

long count_entries(const char* dir) {
    long n = 0;
    if (DIR* d = ::opendir(dir)) {
        while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
        ::closedir(d);
    }
    return n;
}

long status_field(const std::string& path, const std::string& key) {
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + key.size());
    }
    return -1;
}

// Processes whose chain of parents reaches us (zombies included).
long count_descendants() {
    std::vector<std::pair<pid_t, pid_t>> procs;  // pid, ppid
    DIR* d = ::opendir("/proc");
    if (d == nullptr) return -1;
    while (dirent* e = ::readdir(d)) {
        const pid_t pid = std::atoi(e->d_name);
        if (pid <= 0) continue;
        const long ppid = status_field("/proc/" + std::to_string(pid) + "/status", "PPid:");
        if (ppid >= 0) procs.emplace_back(pid, static_cast<pid_t>(ppid));
    }
    ::closedir(d);
    long n = 0;
    for (auto [pid, ppid] : procs) {
        for (int hops = 0; ppid > 1 && hops < 64; ++hops) {
            if (ppid == ::getpid()) {
                ++n;
                break;
            }
            pid_t next = 0;
            for (auto [p, pp] : procs) {
                if (p == ppid) next = pp;
            }
            ppid = next;
        }
    }
    return n;
}

Sample sample() {
    return {count_entries("/proc/self/fd"), status_field("/proc/self/status", "Threads:"),
            status_field("/proc/self/status", "VmRSS:"), count_descendants()};
}

std::atomic<bool> failed{false};

void fail(const std::string& what) {
    std::fprintf(stderr, "soak: FAIL: %s\n", what.c_str());
    failed = true;
}

int square_or_die(int x) {
    if (x % 8 == 7) ::raise(SIGKILL);
    return x * x;
}

// --- the four loads; each runs until `stop` is set -------------------------

void echo_load(const std::atomic<bool>& stop, long& round_trips) {
    auto listener = net::TcpListener::bind("127.0.0.1", 0);
    const auto port = listener.port();
    auto server = ringlet::spawn([&] {
        net::serve(listener, [](net::TcpStream s) {
            std::array<std::byte, 4096> buf;
            while (const std::size_t n = s.read(buf)) s.write_all(std::span(buf.data(), n));
        });
    });
    ringlet::Group clients;
    for (int c = 0; c < 32; ++c) {
        clients.spawn([&, c] {
            std::string msg(64 + c * 97 % 4000, static_cast<char>('a' + c % 26));
            std::string back(msg.size(), '\0');
            while (!stop) {
                auto s = net::TcpStream::connect("127.0.0.1", port);
                for (int i = 0; i < 8; ++i) {
                    s.write_all(msg);
                    s.read_exact(std::as_writable_bytes(std::span(back)));
                    if (back != msg) fail("echo: bytes came back changed");
                    ++round_trips;
                }
            }
        });
    }
    clients.join();
    server.cancel();
    server.join();
}

void pool_load(const std::atomic<bool>& stop, long& lost) {
    ipc::ProcessPool pool(2);
    int next = 0;
    while (!stop) {
        std::vector<std::pair<int, ipc::AsyncResult<int>>> batch;
        for (int i = 0; i < 16; ++i, ++next)
            batch.emplace_back(next, pool.apply_async(square_or_die, next));
        for (auto& [x, r] : batch) {
            try {
                if (r.get() != x * x) fail("pool: wrong result");
                if (x % 8 == 7) fail("pool: a killer task returned");
            } catch (const ipc::WorkerLost&) {
                ++lost;
                if (x % 8 != 7) fail("pool: an innocent task failed with WorkerLost");
            }
        }
    }
    pool.close();
    pool.join();
}

void queue_load(const std::atomic<bool>& stop, long& kills) {
    ipc::Queue<std::string> q(256);
    std::mt19937 rng(42);
    while (!stop) {
        ipc::Process producer([&q] {
            for (std::uint32_t i = 0;; ++i)
                q.put(std::string(16 + i % 200, 'q') + std::to_string(i));
        });
        producer.start();
        // Drain a random number of messages while it runs, then kill it.
        const int take = static_cast<int>(rng() % 500);
        for (int i = 0; i < take; ++i) {
            auto m = q.get_for(5s);
            if (!m) {
                fail("queue: producer stopped producing");
                break;
            }
            if (m->size() < 17 || (*m)[0] != 'q') fail("queue: a torn message");
        }
        producer.kill();
        producer.join();
        ++kills;
        while (auto m = q.try_get()) {
            if (m->size() < 17 || (*m)[0] != 'q') fail("queue: a torn message after the kill");
        }
    }
}

void manager_load(const std::atomic<bool>& stop, long& managers) {
    while (!stop) {
        ipc::Manager m;
        auto d = m.dict<std::string, int>("counts");
        for (int i = 0; i < 20; ++i) d.set("k" + std::to_string(i), i);
        if (d.get("k7") != std::optional<int>(7)) fail("manager: lost a value");
        ++managers;
    }
}

}  // namespace

int main(int argc, char** argv) {
    const double minutes = argc > 1 ? std::atof(argv[1]) : 1.0;
    if (minutes <= 0) {
        std::fprintf(stderr, "usage: soak MINUTES\n");
        return 2;
    }
    const auto end = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double, std::ratio<60>>(minutes));
    std::optional<Sample> baseline;
    int round = 0;
    do {
        long round_trips = 0, lost = 0, kills = 0, managers = 0;
        ringlet::run([&] {
            std::atomic<bool> stop{false};
            ringlet::Group loads;
            loads.spawn([&] { echo_load(stop, round_trips); });
            loads.spawn([&] { pool_load(stop, lost); });
            loads.spawn([&] { queue_load(stop, kills); });
            loads.spawn([&] { manager_load(stop, managers); });
            ringlet::sleep(5s);
            stop = true;
            loads.join();
        });
        const Sample s = sample();
        std::printf(
            "soak round %d: %ld echo round trips, %ld WorkerLost, %ld producer kills, "
            "%ld managers | fds %ld threads %ld rss %ld KiB descendants %ld\n",
            ++round, round_trips, lost, kills, managers, s.fds, s.threads, s.rss_kib,
            s.descendants);
        std::fflush(stdout);
        if (s.descendants != 0)
            fail(std::to_string(s.descendants) + " descendants left between rounds");
        if (!baseline) {
            baseline = s;
        } else {
            if (s.fds != baseline->fds)
                fail("open fds changed: " + std::to_string(baseline->fds) + " -> " +
                     std::to_string(s.fds));
            if (s.threads != baseline->threads)
                fail("threads changed: " + std::to_string(baseline->threads) + " -> " +
                     std::to_string(s.threads));
            if (s.rss_kib > baseline->rss_kib + 32 * 1024)
                fail("RSS grew: " + std::to_string(baseline->rss_kib) + " -> " +
                     std::to_string(s.rss_kib) + " KiB");
        }
    } while (!failed && std::chrono::steady_clock::now() < end);
    std::printf("soak: %s after %d rounds\n", failed ? "FAILED" : "flat", round);
    return failed ? 1 : 0;
}
