// bench/compare/compare_models.cpp — one cell of the coroutine / thread / process
// comparison, or the delay server its IO workloads talk to.
//
//   compare_models cell --model M --workload W --units N [--port P] [--rounds R] [--workers K]
//       runs N units of workload W (io, cpu, mixed, spawn) under model M
//       (tasks, tasks_mt, threads, processes, pool, hybrid; see models.hpp)
//       and prints one JSON object: wall time, CPU time and context switches
//       of the measured section, the checksum of the units' values, memory
//       per live unit (spawn), and the limit that stopped it, if one did.
//   compare_models server [--delay-ms 10] [--threads 2]
//       the loopback server of the io and mixed workloads: per connection,
//       reads one 64-byte request, sleeps, answers, closes. A ringlet
//       program: one task per connection on `threads` schedulers, each with
//       its own SO_REUSEPORT listener. Prints "port P" once it listens.
//   compare_models info
//       the machine as ringlet sees it: backend, ring flags, CPUs, fd limit,
//       the models built in.
//
// bench/compare/compare.py runs every cell in a fresh process (so that peak
// RSS, CPU time and context switches belong to that cell alone, and a cell
// that hits a limit or crashes cannot take the suite down), repeats them,
// and writes the tables and the chart.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <span>
#include <string>
#include <string_view>

#include <ringlet/ipc/process.hpp>
#include <ringlet/net/serve.hpp>
#include <ringlet/net/tcp.hpp>
#include <ringlet/run.hpp>
#include <ringlet/stats.hpp>
#include <ringlet/thread.hpp>
#include <ringlet/time.hpp>

#include "measure.hpp"
#include "models.hpp"
#include "workloads.hpp"

namespace {

using namespace compare;

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(stderr,
                 "compare_models: %s\n"
                 "usage: compare_models cell --model M --workload io|cpu|mixed|spawn --units N"
                 " [--port P] [--rounds R] [--workers K]\n"
                 "       compare_models server [--delay-ms MS] [--threads T]\n"
                 "       compare_models info\n",
                 why.c_str());
    std::exit(2);
}

std::uint64_t number(std::string_view text, std::string_view what) {
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) {
        usage("bad number for " + std::string(what) + ": " + std::string(text));
    }
    return v;
}

// ---- server

std::chrono::milliseconds g_delay{10};

void delay_handler(ringlet::net::TcpStream stream) {
    try {
        stream.set_nodelay();
        std::array<std::uint64_t, message_size / 8> words;
        stream.read_exact(std::as_writable_bytes(std::span(words)));
        ringlet::sleep(g_delay);
        for (std::uint64_t& w : words) w ^= answer_key;
        stream.write_all(std::as_bytes(std::span(words)));
    } catch (const std::exception&) {
        // A client that gave up (a cell killed at its timeout): not our problem.
    }
}

int run_server(std::uint64_t delay_ms, std::size_t threads) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive compare.py
    g_delay = std::chrono::milliseconds(delay_ms);
    const std::uint64_t fds = raise_fd_limit();
    std::atomic<std::uint32_t> port{0};
    std::atomic<std::size_t> bound{0};
    ringlet::run_threads(threads, [&](std::size_t t) {
        // The kernel caps the backlog at net.core.somaxconn (4096 by default);
        // one listener per thread doubles what a burst of connects can queue.
        constexpr int backlog = 65535;
        ringlet::net::TcpListener listener;
        if (t == 0) {
            listener = ringlet::net::TcpListener::bind("127.0.0.1", 0, backlog, true);
            port.store(listener.port());
            port.notify_all();
        } else {
            port.wait(0);
            listener = ringlet::net::TcpListener::bind(
                "127.0.0.1", static_cast<std::uint16_t>(port.load()), backlog, true);
        }
        if (bound.fetch_add(1) + 1 == threads) {
            std::printf("port %u fds %llu\n", port.load(), static_cast<unsigned long long>(fds));
            std::fflush(stdout);
        }
        ringlet::net::serve(listener, delay_handler);
    });
    return 0;
}

// ---- info

int run_info() {
    Json j;
    ringlet::run([&] {
        const ringlet::Stats s = ringlet::stats();
        j.add("backend", s.backend)
            .add("ring_flags", static_cast<std::uint64_t>(s.ring_flags))
            .add("guard_pages_by_madvise", s.guard_pages_by_madvise);
    });
    j.add("cpus", ringlet::ipc::cpu_count())
        .add("fd_limit", raise_fd_limit())
        .add("models", model_names());
    std::printf("%s\n", j.str().c_str());
    return 0;
}

// ---- cell

int run_cell(const std::string& model) {
    Params& p = params();
    const std::uint64_t fds = raise_fd_limit();
    Shared& sh = *Shared::create(p.units);
    Section section;
    Json j;
    j.add("model", model).add("workload", workload_name(p.workload)).add("units", p.units);
    bool known = true;
    try {
        known = run_model(model, section);
    } catch (const std::exception& e) {
        sh.failed.fetch_add(1);
        sh.record_error(e.what());
    }
    if (!known) usage("unknown model " + model + " (this build has " + model_names() + ")");

    std::uint64_t checksum = 0;
    for (std::size_t i = 0; i < p.units; ++i) checksum += sh.results()[i];
    bool checksum_known = false;
    std::uint64_t expected = 0;
    if (p.workload == Workload::io) {
        checksum_known = true;
        for (std::size_t i = 0; i < p.units; ++i) expected += expected_io_value(i);
    } else if (p.workload == Workload::spawn) {
        checksum_known = true;
        expected = p.units * (p.units - 1) / 2;
    }
    const bool limited = sh.has_limit();
    const std::uint64_t failed = sh.failed.load();
    const bool checksum_ok = limited || failed > 0 || !checksum_known || checksum == expected;
    const bool ok = !limited && failed == 0 && checksum_ok;

    const double wall = section.wall_s();
    const Usage u = section.usage();
    j.add("ok", ok)
        .add("wall_s", wall)
        .add("units_per_s", wall > 0 ? static_cast<double>(p.units) / wall : 0.0)
        .add("user_s", u.user_s)
        .add("sys_s", u.sys_s)
        .add("cpu_s", u.user_s + u.sys_s)
        .add("vcsw", u.vcsw)
        .add("ivcsw", u.ivcsw)
        .add("checksum", std::to_string(checksum))
        .add("peak_rss_kib", peak_rss_kib());
    if (p.workload == Workload::spawn) {
        j.add("spawn_s", section.spawn_s())
            .add("mem_kib", section.mem_kib())
            .add("mem_per_unit_kib", section.mem_per_unit_kib())
            .add("kmem_per_unit_kib", section.kmem_per_unit_kib());
    }
    if (limited) {
        std::string why = sh.limit;
        j.add("limit", why);
    }
    if (failed > 0) {
        std::string why = std::to_string(failed) + " units failed, first: " + sh.first_error;
        if (why.find("Too many open files") != std::string::npos) {
            why += " (ulimit -n " + std::to_string(fds) + ")";
        }
        j.add("error", why);
    } else if (!checksum_ok) {
        j.add("error", "wrong checksum: " + std::to_string(checksum) + ", expected " +
                           std::to_string(expected));
    }
    std::printf("%s\n", j.str().c_str());
    std::fflush(stdout);
    return ok ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) usage("which command?");
    const std::string_view command = argv[1];
    std::string model;
    std::uint64_t delay_ms = 10;
    std::size_t server_threads = 2;
    Params& p = params();
    p.workers = ringlet::ipc::cpu_count();
    bool have_workload = false;
    for (int i = 2; i < argc; ++i) {
        const std::string_view arg = argv[i];
        auto value = [&]() -> std::string_view {
            if (i + 1 >= argc) usage(std::string(arg) + " needs a value");
            return argv[++i];
        };
        if (arg == "--model") {
            model = value();
        } else if (arg == "--workload") {
            if (!parse_workload(value(), p.workload)) usage("unknown workload");
            have_workload = true;
        } else if (arg == "--units") {
            p.units = number(value(), arg);
        } else if (arg == "--port") {
            p.port = static_cast<std::uint16_t>(number(value(), arg));
        } else if (arg == "--rounds") {
            p.rounds = number(value(), arg);
        } else if (arg == "--workers") {
            p.workers = number(value(), arg);
        } else if (arg == "--delay-ms") {
            delay_ms = number(value(), arg);
        } else if (arg == "--threads") {
            server_threads = number(value(), arg);
        } else {
            usage("unknown argument " + std::string(arg));
        }
    }
    if (command == "info") return run_info();
    if (command == "server") return run_server(delay_ms, server_threads == 0 ? 1 : server_threads);
    if (command != "cell") usage("unknown command " + std::string(command));
    if (model.empty() || !have_workload) usage("cell needs --model and --workload");
    if (p.units == 0 || p.workers == 0) usage("--units and --workers must be at least 1");
    if ((p.workload == Workload::io || p.workload == Workload::mixed) && p.port == 0) {
        usage("io and mixed need --port (of `compare server`)");
    }
    return run_cell(model);
}
