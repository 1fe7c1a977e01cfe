// examples/ipc/task_worker.cpp — BaseManager's task_worker ("十、分布式进程"): tasks over TCP.
//
// The Python task_worker.py (multiprocessing.managers.BaseManager):
//   QueueManager.register('get_task_queue'); QueueManager.register('get_result_queue')
//   manager = QueueManager(address=(server_addr, 5000), authkey=b'abc'); manager.connect()
//   task = manager.get_task_queue(); result = manager.get_result_queue()
//   for i in range(10):
//       try:
//           n = task.get(timeout=1); print('run task %d*%d' % (n, n))
//           r = '%d * %d = %d' % (n, n, n*n); time.sleep(1); result.put(r)
//       except Empty:
//           print('task queue is empty')
//   print('worker exit')
//
// Manager::connect() proves the authkey to the server (and the server proves
// it back) before anything else; a wrong key ends here with
// AuthenticationError, a master that is not running with ManagerError.
// get_for(1 s) is task.get(timeout=1): nullopt instead of the Empty
// exception, and the wait happens on the server.
//
//   task_worker [--host H] [--port P] [--authkey K] [--tasks N] [--smoke]
// Defaults: 127.0.0.1, 5000, abc, 10 tasks. --smoke skips the Python program's 1 s of
// "work" per task and requires that all N tasks were there to take.
//
// Checked (exit status 1 otherwise): it connected, every result was put,
// and with --smoke every one of the N gets found a task.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include <ringlet/ipc.hpp>
#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    std::uint16_t port = 5000;
    std::string authkey = "abc";
    int tasks = 10;
    bool smoke = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        const bool has_value = i + 1 < argc;
        if (a == "--smoke") {
            smoke = true;
        } else if (a == "--host" && has_value) {
            host = argv[++i];
        } else if (a == "--port" && has_value) {
            port = static_cast<std::uint16_t>(std::strtoul(argv[++i], nullptr, 10));
        } else if (a == "--authkey" && has_value) {
            authkey = argv[++i];
        } else if (a == "--tasks" && has_value) {
            tasks = std::atoi(argv[++i]);
        } else {
            std::fprintf(stderr,
                         "usage: task_worker [--host H] [--port P] [--authkey K] [--tasks N] "
                         "[--smoke]\n");
            return 2;
        }
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    int done = 0;
    try {
        ringlet::run([&] {
            std::printf("Connect to server %s:%u...\n", host.c_str(), static_cast<unsigned>(port));
            ipc::Manager manager = ipc::Manager::connect(host, port, authkey);  // manager.connect()
            auto task = manager.queue<int>("task_queue");
            auto result = manager.queue<std::string>("result_queue");
            for (int i = 0; i < tasks; ++i) {
                std::optional<int> n = task.get_for(1s);  // task.get(timeout=1)
                if (!n) {
                    std::printf("task queue is empty\n");  // except Empty
                    continue;
                }
                std::printf("run task %d*%d\n", *n, *n);
                const std::string r = std::to_string(*n) + " * " + std::to_string(*n) + " = " +
                                      std::to_string(*n * *n);
                if (!smoke) ringlet::sleep(1s);  // time.sleep(1): the "work"
                result.put(r);
                ++done;
            }
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "task_worker: %s\n", e.what());
        return 1;
    }
    std::printf("worker exit\n");
    if (smoke && done != tasks) {
        std::fprintf(stderr, "task_worker: found %d of %d tasks\n", done, tasks);
        return 1;
    }
    return 0;
}
