// examples/dist/task_worker.cpp — multiprocessing.managers' task_worker, over Redis.
//
// The Python task_worker.py (a multiprocessing.managers.BaseManager client)
// connects to the master's manager, takes numbers from the task queue and
// puts "n * n = n²" in the result queue. Here the worker registers square()
// by name on a redis::TaskQueue and calls work():
// `--concurrency` tasks of this process each take entries from the stream
// (a consumer group shared by every worker on every machine), run them and
// acknowledge them. A worker killed mid-task loses nothing: its entries are
// reclaimed by the others after the visibility timeout.
//
//   task_worker --host R --password abc [--concurrency 8]
// Runs until it is killed (SIGTERM, SIGKILL: entries it held run again
// elsewhere) or, with --tasks N given explicitly to a lone worker, never ends
// on its own: a TaskQueue worker serves until stopped.

#include <cstdio>

#include <ringlet/ringlet.hpp>

#include "dist_common.hpp"

using namespace ringlet;

namespace {
long long square(long long n) { return n * n; }
}  // namespace

int main(int argc, char** argv) {
    dist::Options o;
    if (!dist::parse(argc, argv, o, "task_worker")) return 2;
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    try {
        ringlet::run([&] {
            redis::TaskQueue tasks(dist::connect(o), o.queue);
            tasks.register_function("square", &square);
            std::printf("worker %s: %d tasks at a time\n", tasks.consumer().c_str(), o.concurrency);
            tasks.work(static_cast<std::size_t>(o.concurrency));
            std::printf("worker exit after %zu tasks\n", tasks.executed());
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "task_worker: %s\n", e.what());
        return 1;
    }
    return 0;
}
