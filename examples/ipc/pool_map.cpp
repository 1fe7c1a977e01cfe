// examples/ipc/pool_map.cpp — map over a process pool; failures stay contained.
//
// multiprocessing.Pool.map (`p = Pool(5); p.map(Pri, range(10))`, and the
// tutorials' "自行尝试map方法的作用"): map() returns the results in input order
// whatever order the workers finish in; imap() streams them lazily (here
// from an unbounded range, of which only what is read gets computed);
// imap_unordered() hands them over as they finish; starmap() unpacks tuples
// into parameters.
//
// The Pool program "池中的某个进程异常退出,不影响其它进程正常运行": in a Pool(2), work1
// runs normally while work2 raises; the pool goes on. Here work2's exception
// comes back as ipc::RemoteError (with its type and message) and a third
// task that abort()s its worker fails with ipc::WorkerLost (naming SIGABRT)
// while the pool replaces the worker and keeps serving — Python's Pool would
// hang on that one. Checked: every result, both failures, the pool after.
//
//   pool_map            work sleeps 0.5 s
//   pool_map --smoke    work sleeps 0.05 s
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <signal.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <ringlet/ipc.hpp>
#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;

namespace {

ringlet::Duration unit = 500ms;

int pri(int x) {
    std::printf("%d (pid %d)\n", x * x, ipc::current_pid());
    return x * x;
}

int slow_square(int x) {
    ringlet::sleep(unit * (x % 3) / 2);  // results finish out of order
    return x * x;
}

std::string label(const std::string& name, int n) { return name + "#" + std::to_string(n); }

// The Python work(key, except_test).
std::string work(const std::string& key, bool except_test) {
    std::printf("pid=%d start run %s\n", ipc::current_pid(), key.c_str());
    if (except_test) throw std::runtime_error(key + " failed on purpose");
    ringlet::sleep(unit);
    std::printf("pid=%d end run %s\n", ipc::current_pid(), key.c_str());
    return key + " done";
}

std::string crash(const std::string&, bool) { std::abort(); }

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) == "--smoke") unit = 50ms;
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);

    return ringlet::run([] {
        bool ok = true;
        ipc::ProcessPool pool(5);

        // map: in input order.
        std::vector<int> in;
        for (int i = 0; i < 10; ++i) in.push_back(i);
        const std::vector<int> squares = pool.map(pri, in);
        std::printf("map: ");
        for (int v : squares) std::printf("%d ", v);
        std::printf("\n");
        for (int i = 0; i < 10; ++i) ok = ok && squares[static_cast<std::size_t>(i)] == i * i;

        // imap: lazily, from an unbounded range; still in order.
        int n = 0;
        for (int v : pool.imap(slow_square, std::views::iota(0))) {
            ok = ok && v == n * n;
            if (++n == 12) break;
        }
        std::printf("imap: the first %d squares of an endless range, in order\n", n);

        // imap_unordered: as they finish.
        long sum = 0;
        std::printf("imap_unordered:");
        for (int v : pool.imap_unordered(slow_square, in)) {
            std::printf(" %d", v);
            sum += v;
        }
        std::printf("\n");
        ok = ok && sum == 285;

        // starmap: tuples unpacked into parameters.
        const std::vector<std::tuple<std::string, int>> pairs{{"a", 1}, {"b", 2}};
        const auto labels = pool.starmap(label, pairs);
        std::printf("starmap: %s %s\n", labels[0].c_str(), labels[1].c_str());
        ok = ok && labels == std::vector<std::string>{"a#1", "b#2"};

        // A task's exception, and a worker that dies, fail only their own task.
        auto work1 = pool.apply_async(work, std::string("work1"), false);
        auto work2 = pool.apply_async(work, std::string("work2"), true);
        auto work3 = pool.apply_async(crash, std::string("work3"), false);
        std::printf("%s\n", work1.get().c_str());
        try {
            work2.get();
            ok = false;
        } catch (const ipc::RemoteError& e) {
            std::printf("work2 raised %s: %s\n", e.type_name().c_str(), e.message().c_str());
        }
        try {
            work3.get();
            ok = false;
        } catch (const ipc::WorkerLost& e) {
            std::printf("work3: %s\n", e.what());
            ok = ok && e.signal() == SIGABRT;
        }
        // The pool replaced the worker and serves as before.
        ok = ok && pool.map(slow_square, in) == squares;
        pool.close();
        pool.join();
        std::printf("main process exits; %s\n", ok ? "all checks passed" : "FAILED");
        return ok ? 0 : 1;
    });
}
