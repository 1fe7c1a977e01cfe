// ipc_queue_bench — moving messages between two processes: ipc::Queue and
// ipc::pipe against a plain pipe, a Unix socketpair and Boost.Interprocess's
// message_queue, all in this one binary.
//
//   build/bench/ipc/ipc_queue_bench --benchmark_repetitions=3
//
// Throughput: the parent sends `messages` messages of range(0) bytes to a
// child that reads them all and then acknowledges; time is from the first
// send to the ack (the msgs counter, messages per second). Ping-pong: the
// child echoes each message, per_roundtrip is one round trip. Baselines move
// raw bytes with one system call per message and no framing; ringlet's
// transports encode a std::string (length + bytes) with Codec. The parent is
// a plain thread; the child runs inside ipc::Process (a task of its own
// scheduler: ringlet's waits there are the task-aware ones).
//
// DESIGN's targets: Queue 64-byte throughput >= 5x the plain pipe's; Queue
// ping-pong latency <= the pipe's. The ratios are printed after the table.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <ringlet/ipc/pipe.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/ipc/queue.hpp>

namespace {

namespace ipc = ringlet::ipc;
namespace bip = boost::interprocess;
using Clock = std::chrono::steady_clock;

constexpr long throughput_messages = 200'000;
constexpr long pingpong_rounds = 20'000;

// Medians over repetitions of each figure, for the ratio lines.
std::map<std::string, std::vector<double>> figures;

void record(const std::string& key, double value) { figures[key].push_back(value); }

double median(const std::string& key) {
    auto it = figures.find(key);
    if (it == figures.end() || it->second.empty()) return 0;
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    const std::size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// A byte pipe for the child's "done" signal.
struct AckPipe {
    int fd[2];
    AckPipe() {
        if (::pipe2(fd, O_CLOEXEC) != 0) std::abort();
    }
    ~AckPipe() {
        ::close(fd[0]);
        ::close(fd[1]);
    }
    void signal() const {
        if (::write(fd[1], "k", 1) != 1) ::_exit(9);
    }
    void wait() const {
        char c;
        if (::read(fd[0], &c, 1) != 1) std::abort();
    }
};

void read_exact(int fd, char* buf, std::size_t n) {
    while (n > 0) {
        const ssize_t r = ::read(fd, buf, n);
        if (r <= 0) ::_exit(8);
        buf += r;
        n -= static_cast<std::size_t>(r);
    }
}
void write_all(int fd, const char* buf, std::size_t n) {
    while (n > 0) {
        const ssize_t w = ::write(fd, buf, n);
        if (w <= 0) ::_exit(7);
        buf += w;
        n -= static_cast<std::size_t>(w);
    }
}

// Times `body` once per benchmark iteration (Iterations(1) below), and
// reports the rate of `count` operations.
template <class Body>
void timed(benchmark::State& state, const std::string& key, long count, bool per_op, Body body) {
    for (auto _ : state) {
        const auto start = Clock::now();
        body();
        const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        state.SetIterationTime(seconds);
        if (per_op) {
            state.counters["per_roundtrip_us"] = seconds / double(count) * 1e6;
            record(key, seconds / double(count) * 1e9);
        } else {
            state.counters["msgs_per_s"] = double(count) / seconds;
            record(key, double(count) / seconds);
        }
    }
}

std::string label(const char* what, benchmark::State& state) {
    return std::string(what) + "/" + std::to_string(state.range(0));
}

// ---- ipc::Queue -----------------------------------------------------------------

void BM_QueueThroughput(benchmark::State& state) {
    const std::string msg(static_cast<std::size_t>(state.range(0)), 'q');
    ipc::Queue<std::string> q(0, 8 * 1024 * 1024);
    AckPipe ack;
    timed(state, label("queue_tput", state), throughput_messages, false, [&] {
        ipc::Process child([&] {
            for (long i = 0; i < throughput_messages; ++i) benchmark::DoNotOptimize(q.get());
            ack.signal();
        });
        child.start();
        for (long i = 0; i < throughput_messages; ++i) q.put(msg);
        ack.wait();
        child.join();
    });
}
BENCHMARK(BM_QueueThroughput)->Arg(64)->Arg(4096)->Iterations(1)->UseManualTime();

void BM_QueuePingPong(benchmark::State& state) {
    const std::string msg(static_cast<std::size_t>(state.range(0)), 'q');
    ipc::Queue<std::string> ping, pong;
    timed(state, label("queue_rt", state), pingpong_rounds, true, [&] {
        ipc::Process child([&] {
            for (long i = 0; i < pingpong_rounds; ++i) pong.put(ping.get());
        });
        child.start();
        for (long i = 0; i < pingpong_rounds; ++i) {
            ping.put(msg);
            benchmark::DoNotOptimize(pong.get());
        }
        child.join();
    });
}
BENCHMARK(BM_QueuePingPong)->Arg(64)->Iterations(1)->UseManualTime();

// ---- ipc::pipe ------------------------------------------------------------------

void BM_IpcPipeThroughput(benchmark::State& state) {
    const std::string msg(static_cast<std::size_t>(state.range(0)), 'p');
    AckPipe ack;
    timed(state, label("ipcpipe_tput", state), throughput_messages, false, [&] {
        auto [reader, writer] = ipc::pipe<std::string>(false);
        ipc::Process child([&] {
            writer.close();
            for (long i = 0; i < throughput_messages; ++i) benchmark::DoNotOptimize(reader.recv());
            ack.signal();
        });
        child.start();
        reader.close();
        for (long i = 0; i < throughput_messages; ++i) writer.send(msg);
        ack.wait();
        child.join();
    });
}
BENCHMARK(BM_IpcPipeThroughput)->Arg(64)->Arg(4096)->Iterations(1)->UseManualTime();

void BM_IpcPipePingPong(benchmark::State& state) {
    const std::string msg(static_cast<std::size_t>(state.range(0)), 'p');
    timed(state, label("ipcpipe_rt", state), pingpong_rounds, true, [&] {
        auto [here, there] = ipc::pipe<std::string>();
        ipc::Process child([&] {
            here.close();
            for (long i = 0; i < pingpong_rounds; ++i) there.send(*there.recv());
        });
        child.start();
        there.close();
        for (long i = 0; i < pingpong_rounds; ++i) {
            here.send(msg);
            benchmark::DoNotOptimize(here.recv());
        }
        child.join();
    });
}
BENCHMARK(BM_IpcPipePingPong)->Arg(64)->Iterations(1)->UseManualTime();

// ---- baselines: a plain pipe and a socketpair, one syscall per message ---------

template <bool Socketpair>
void fd_pair(int fds[2]) {
    const int res = Socketpair ? ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds)
                               : ::pipe2(fds, O_CLOEXEC);
    if (res != 0) std::abort();
}

template <bool Socketpair>
void BM_FdThroughput(benchmark::State& state) {
    const auto size = static_cast<std::size_t>(state.range(0));
    const std::string msg(size, 'f');
    AckPipe ack;
    timed(state, label(Socketpair ? "socketpair_tput" : "pipe_tput", state), throughput_messages,
          false, [&] {
              int fds[2];
              fd_pair<Socketpair>(fds);
              ipc::Process child([&] {
                  ::close(fds[1]);
                  std::string buf(size, '\0');
                  for (long i = 0; i < throughput_messages; ++i) read_exact(fds[0], buf.data(), size);
                  ack.signal();
              });
              child.start();
              ::close(fds[0]);
              for (long i = 0; i < throughput_messages; ++i) write_all(fds[1], msg.data(), size);
              ack.wait();
              child.join();
              ::close(fds[1]);
          });
}
BENCHMARK_TEMPLATE(BM_FdThroughput, false)->Name("BM_PipeThroughput")->Arg(64)->Arg(4096)
    ->Iterations(1)->UseManualTime();
BENCHMARK_TEMPLATE(BM_FdThroughput, true)->Name("BM_SocketpairThroughput")->Arg(64)->Arg(4096)
    ->Iterations(1)->UseManualTime();

template <bool Socketpair>
void BM_FdPingPong(benchmark::State& state) {
    const auto size = static_cast<std::size_t>(state.range(0));
    const std::string msg(size, 'f');
    timed(state, label(Socketpair ? "socketpair_rt" : "pipe_rt", state), pingpong_rounds, true,
          [&] {
              int there[2], back[2];
              fd_pair<Socketpair>(there);
              fd_pair<Socketpair>(back);
              ipc::Process child([&] {
                  std::string buf(size, '\0');
                  for (long i = 0; i < pingpong_rounds; ++i) {
                      read_exact(there[0], buf.data(), size);
                      write_all(back[1], buf.data(), size);
                  }
              });
              child.start();
              std::string buf(size, '\0');
              for (long i = 0; i < pingpong_rounds; ++i) {
                  write_all(there[1], msg.data(), size);
                  read_exact(back[0], buf.data(), size);
              }
              child.join();
              for (int fd : {there[0], there[1], back[0], back[1]}) ::close(fd);
          });
}
BENCHMARK_TEMPLATE(BM_FdPingPong, false)->Name("BM_PipePingPong")->Arg(64)->Iterations(1)
    ->UseManualTime();
BENCHMARK_TEMPLATE(BM_FdPingPong, true)->Name("BM_SocketpairPingPong")->Arg(64)->Iterations(1)
    ->UseManualTime();

// ---- baseline: Boost.Interprocess message_queue ---------------------------------

std::string mq_name(const char* what) {
    return std::string("ringlet_bench_") + what + "_" + std::to_string(::getpid());
}

void BM_BoostMqThroughput(benchmark::State& state) {
    const auto size = static_cast<std::size_t>(state.range(0));
    const std::string msg(size, 'b');
    AckPipe ack;
    const std::string name = mq_name("tput");
    timed(state, label("boostmq_tput", state), throughput_messages, false, [&] {
        bip::message_queue::remove(name.c_str());
        bip::message_queue mq(bip::create_only, name.c_str(), 1024, 4096);
        ipc::Process child([&] {
            std::string buf(4096, '\0');
            std::size_t got;
            unsigned prio;
            for (long i = 0; i < throughput_messages; ++i) mq.receive(buf.data(), 4096, got, prio);
            ack.signal();
        });
        child.start();
        for (long i = 0; i < throughput_messages; ++i) mq.send(msg.data(), size, 0);
        ack.wait();
        child.join();
        bip::message_queue::remove(name.c_str());
    });
}
BENCHMARK(BM_BoostMqThroughput)->Arg(64)->Arg(4096)->Iterations(1)->UseManualTime();

void BM_BoostMqPingPong(benchmark::State& state) {
    const auto size = static_cast<std::size_t>(state.range(0));
    const std::string msg(size, 'b');
    const std::string ping_name = mq_name("ping"), pong_name = mq_name("pong");
    timed(state, label("boostmq_rt", state), pingpong_rounds, true, [&] {
        bip::message_queue::remove(ping_name.c_str());
        bip::message_queue::remove(pong_name.c_str());
        bip::message_queue ping(bip::create_only, ping_name.c_str(), 16, 4096);
        bip::message_queue pong(bip::create_only, pong_name.c_str(), 16, 4096);
        ipc::Process child([&] {
            std::string buf(4096, '\0');
            std::size_t got;
            unsigned prio;
            for (long i = 0; i < pingpong_rounds; ++i) {
                ping.receive(buf.data(), 4096, got, prio);
                pong.send(buf.data(), got, 0);
            }
        });
        child.start();
        std::string buf(4096, '\0');
        std::size_t got;
        unsigned prio;
        for (long i = 0; i < pingpong_rounds; ++i) {
            ping.send(msg.data(), size, 0);
            pong.receive(buf.data(), 4096, got, prio);
        }
        child.join();
        bip::message_queue::remove(ping_name.c_str());
        bip::message_queue::remove(pong_name.c_str());
    });
}
BENCHMARK(BM_BoostMqPingPong)->Arg(64)->Iterations(1)->UseManualTime();

void print_ratio(const char* text, const std::string& ours, const std::string& theirs,
                 bool lower_is_better, double target) {
    const double a = median(ours), b = median(theirs);
    if (a == 0 || b == 0) {
        std::printf("%-44s (not run)\n", text);
        return;
    }
    const double ratio = lower_is_better ? b / a : a / b;
    std::printf("%-44s %7.2fx  (%.4g vs %.4g %s)", text, ratio, a, b,
                lower_is_better ? "ns/rt" : "msgs/s");
    if (target > 0) std::printf("  target >= %g: %s", target, ratio >= target ? "ok" : "MISSED");
    std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    std::printf("\n== ringlet: comparisons (medians; > 1 = ringlet faster) ==\n");
    print_ratio("queue 64 B / pipe, throughput", "queue_tput/64", "pipe_tput/64", false, 5);
    print_ratio("queue 64 B / socketpair, throughput", "queue_tput/64", "socketpair_tput/64", false, 0);
    print_ratio("queue 64 B / boost mq, throughput", "queue_tput/64", "boostmq_tput/64", false, 0);
    print_ratio("queue 4 KiB / pipe, throughput", "queue_tput/4096", "pipe_tput/4096", false, 0);
    print_ratio("queue 4 KiB / boost mq, throughput", "queue_tput/4096", "boostmq_tput/4096", false, 0);
    print_ratio("ipc::pipe 64 B / pipe, throughput", "ipcpipe_tput/64", "pipe_tput/64", false, 0);
    print_ratio("ipc::pipe 4 KiB / pipe, throughput", "ipcpipe_tput/4096", "pipe_tput/4096", false, 0);
    print_ratio("queue ping-pong / pipe", "queue_rt/64", "pipe_rt/64", true, 1);
    print_ratio("queue ping-pong / socketpair", "queue_rt/64", "socketpair_rt/64", true, 0);
    print_ratio("queue ping-pong / boost mq", "queue_rt/64", "boostmq_rt/64", true, 0);
    print_ratio("ipc::pipe ping-pong / pipe", "ipcpipe_rt/64", "pipe_rt/64", true, 0);
    return 0;
}
