// examples/ipc/task_master.cpp — BaseManager's task_master ("十、分布式进程"): queues over TCP.
//
// The Python task_master.py (multiprocessing.managers.BaseManager):
//   QueueManager.register('get_task_queue', callable=get_task_queue)
//   QueueManager.register('get_result_queue', callable=get_result_queue)
//   manager = QueueManager(address=('127.0.0.1', 5000), authkey=b'abc'); manager.start()
//   task = manager.get_task_queue(); result = manager.get_result_queue()
//   for i in range(10): n = random.randint(0, 1000); print('Put Task %d' % n); task.put(n)
//   print('Try get results')
//   for i in range(10): r = result.get(); print('Result: %s' % r)
//   manager.shutdown(); print('master exit')
//
// ringlet needs no register(): Manager::serve() starts the server process
// on host:port with the authkey, and the named queues exist as soon as
// someone asks for them (the master here, task_worker over the network).
// Every connection first proves the authkey both ways (HMAC-SHA256), so a
// worker with the wrong key is turned away before it can send a request.
//
// Run it with task_worker, on one machine or two (examples/README.md):
//   task_master --host 0.0.0.0 --port 5000 --authkey abc     # machine A
//   task_worker --host <A's address> --port 5000 --authkey abc  # machine B
// Options: --host H (default 127.0.0.1), --port P (default 5000; 0 = any
// free port), --authkey K (default abc), --tasks N (default 10),
// --port-file F (write the port there once the tasks are queued: lets a
// script use --port 0), --timeout S (how long to wait for each result,
// default 60), --smoke (a 20 s timeout; what the meson test uses, with
// examples/ipc/task_master_worker.sh starting both programs).
//
// Checked: every result is "n * n = n²" for a task n that was put, and every
// task came back once. Exit status 1 otherwise (or if results stop coming).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <random>
#include <string>
#include <string_view>

#include <ringlet/ipc.hpp>
#include <ringlet/ringlet.hpp>

namespace ipc = ringlet::ipc;

namespace {

struct Args {
    std::string host = "127.0.0.1";
    std::uint16_t port = 5000;
    std::string authkey = "abc";
    int tasks = 10;
    std::string port_file;
    std::FILE* port_out = nullptr;  // port_file, opened at start-up
    int timeout_s = 60;
};

// "n * n = n²" back into n; -1 if the text is not one.
long long parse_result(const std::string& r) {
    long long a = 0, b = 0, c = 0;
    char tail = 0;
    if (std::sscanf(r.c_str(), "%lld * %lld = %lld%c", &a, &b, &c, &tail) != 3) return -1;
    return a == b && c == a * b ? a : -1;
}

bool master(const Args& args) {
    // manager = QueueManager(address=(host, port), authkey=...); manager.start()
    ipc::Manager manager = ipc::Manager::serve(args.host, args.port, args.authkey);
    std::printf("serving on %s (server pid %d)\n", manager.address().c_str(),
                static_cast<int>(manager.server_pid()));
    auto task = manager.queue<int>("task_queue");              // manager.get_task_queue()
    auto result = manager.queue<std::string>("result_queue");  // manager.get_result_queue()

    std::mt19937 rng(std::random_device{}());
    std::map<int, int> outstanding;  // n -> how many times it was put
    for (int i = 0; i < args.tasks; ++i) {
        const int n = std::uniform_int_distribution(0, 1000)(rng);
        std::printf("Put Task %d\n", n);
        task.put(n);
        ++outstanding[n];
    }
    if (args.port_out != nullptr) {
        std::fprintf(args.port_out, "%u\n", static_cast<unsigned>(manager.port()));
        std::fclose(args.port_out);
    }

    std::printf("Try get results\n");
    bool ok = true;
    for (int i = 0; i < args.tasks; ++i) {
        // result.get(), with a limit so that a missing worker fails the run.
        std::optional<std::string> r = result.get_for(std::chrono::seconds(args.timeout_s));
        if (!r) {
            std::printf("no result within %d s (is a task_worker connected?)\n", args.timeout_s);
            ok = false;
            break;
        }
        std::printf("Result: %s\n", r->c_str());
        const long long n = parse_result(*r);
        auto it = outstanding.find(static_cast<int>(n));
        if (n < 0 || it == outstanding.end() || it->second == 0) {
            std::printf("   CHECK FAILED: \"%s\" is not the square of a task put\n", r->c_str());
            ok = false;
        } else {
            --it->second;
        }
    }
    manager.shutdown();
    std::printf("master exit\n");
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    Args args;
    bool smoke = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        const bool has_value = i + 1 < argc;
        if (a == "--smoke") {
            smoke = true;
        } else if (a == "--host" && has_value) {
            args.host = argv[++i];
        } else if (a == "--port" && has_value) {
            args.port = static_cast<std::uint16_t>(std::strtoul(argv[++i], nullptr, 10));
        } else if (a == "--authkey" && has_value) {
            args.authkey = argv[++i];
        } else if (a == "--tasks" && has_value) {
            args.tasks = std::atoi(argv[++i]);
        } else if (a == "--port-file" && has_value) {
            args.port_file = argv[++i];
        } else if (a == "--timeout" && has_value) {
            args.timeout_s = std::atoi(argv[++i]);
        } else {
            std::fprintf(stderr,
                         "usage: task_master [--host H] [--port P] [--authkey K] [--tasks N] "
                         "[--port-file F] [--timeout S] [--smoke]\n");
            return 2;
        }
    }
    if (smoke) args.timeout_s = 20;
    // Opened first thing (a FIFO waits here for its reader): if anything
    // below fails, our exit closes it and the reader sees EOF, not silence.
    if (!args.port_file.empty()) args.port_out = std::fopen(args.port_file.c_str(), "w");
    if (!args.port_file.empty() && args.port_out == nullptr) {
        std::fprintf(stderr, "task_master: cannot open %s\n", args.port_file.c_str());
        return 1;
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    bool ok = false;
    try {
        ok = ringlet::run([&args] { return master(args); });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "task_master: %s\n", e.what());
    }
    if (!ok) {
        std::fprintf(stderr, "task_master: a check failed\n");
        return 1;
    }
    return 0;
}
