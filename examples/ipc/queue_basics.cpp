// examples/ipc/queue_basics.cpp — multiprocessing.Queue: put/get between processes,
// full/empty, put with a timeout, put_nowait, get with a timeout.
//
// Part 1 — a multiprocessing.Queue program ("八、进程间通信"):
//   def put_id(q): q.put([1,2,3,4])
//   q = Queue(); p = Process(target=put_id, args=(q,)); p.start(); print(q.get()); p.join()
// Part 2 — a Queue program ("进程间的通信-Queue"): Queue(3),
//   q.full(), q.put("消息4", True, 2) and q.put_nowait("消息4") on a full queue
//   (both fail), q.qsize(), q.get_nowait(); and q.get(timeout)
//   on an empty queue ("Queue.Empty"). In ringlet the "no" outcomes are return
//   values, not exceptions: put_for / try_put return false, get_for / try_get
//   return nullopt.
// Part 3 — a Queue program ("进程间通信"): a write() process
//   puts 'A', 'B', 'C' with random pauses while a read() process prints what it
//   gets. The Python reader loops forever and the parent has to terminate()
//   it; here the parent close()s the queue once the writer is done, and the
//   reader's get() throws QueueClosed as soon as the queue is drained.
//
// ipc::Queue<T> lives in shared memory: make it before starting the
// processes, and hand each one a copy of the handle (copies name the same
// queue). Messages are encoded with Codec<T>, so T may be a string, a vector...
//
//   queue_basics            time unit 1 s
//   queue_basics --smoke    time unit 20 ms
#include <chrono>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <ringlet/ipc/errors.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/ipc/queue.hpp>
#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;

namespace {

using Clock = std::chrono::steady_clock;

bool ok = true;

void check(bool condition, const char* what) {
    if (!condition) {
        std::printf("   CHECK FAILED: %s\n", what);
        ok = false;
    }
}

// Part 1 ---------------------------------------------------------------------
void put_id(ipc::Queue<std::vector<int>>& q) { q.put({1, 2, 3, 4}); }

void list_through_a_queue() {
    std::printf("== Part 1: a child puts a list, the parent gets it\n");
    ipc::Queue<std::vector<int>> q;
    ipc::Process p(put_id, q);  // the child gets a copy of the handle: the same queue
    p.start();
    const std::vector<int> got = q.get();  // waits until the child has put it
    std::string text;
    for (int v : got) text += (text.empty() ? "" : ", ") + std::to_string(v);
    std::printf("[%s]\n\n", text.c_str());
    p.join();
    check(got == std::vector<int>{1, 2, 3, 4} && p.exitcode() == 0, "the list arrives whole");
}

// Part 2 ---------------------------------------------------------------------
void a_full_and_an_empty_queue(ringlet::Duration unit) {
    std::printf("== Part 2: Queue(3): full(), put with a timeout, try_put, try_get, get_for\n");
    ipc::Queue<std::string> q(3);  // at most three messages
    q.put("message 1");
    q.put("message 2");
    std::printf("full() = %s\n", q.full() ? "True" : "False");
    check(!q.full(), "two of three messages: not full");
    q.put("message 3");
    std::printf("full() = %s\n", q.full() ? "True" : "False");
    check(q.full(), "three of three messages: full");

    // q.put("消息4", True, 2): waits up to 2 units for room, then gives up.
    const auto start = Clock::now();
    if (!q.put_for("message 4", 2 * unit)) {
        std::printf("put_for(2 units) gave up after %.2f units: queue full, size %zu\n",
                    (Clock::now() - start) / std::chrono::duration<double>(unit), q.size());
    } else {
        check(false, "put_for on a full queue fails");
    }
    // q.put_nowait("消息4"): does not wait at all.
    if (!q.try_put("message 4")) {
        std::printf("try_put: queue full, size %zu\n", q.size());
    } else {
        check(false, "try_put on a full queue fails");
    }
    // The tutorial's advice: look first, then put.
    if (!q.full()) q.try_put("message 4");

    // Read back: look first, then take without waiting.
    std::vector<std::string> got;
    if (!q.empty()) {
        for (std::size_t i = 0, n = q.size(); i < n; ++i) {
            if (auto m = q.try_get()) {
                std::printf("%s\n", m->c_str());
                got.push_back(*m);
            }
        }
    }
    check(got == std::vector<std::string>{"message 1", "message 2", "message 3"},
          "the three messages come back in order");
    // q.get(timeout=1) on an empty queue: nullopt instead of raising Queue.Empty.
    const std::optional<std::string> none = q.get_for(unit);
    std::printf("get_for(1 unit) on the empty queue: %s\n\n",
                none ? none->c_str() : "nullopt (Python raises Queue.Empty)");
    check(!none && q.empty(), "get_for on an empty queue returns nullopt");
}

// Part 3 ---------------------------------------------------------------------
// The code of the writing process.
void write(ipc::Queue<std::string>& q, ringlet::Duration unit) {
    std::printf("Process to write: %d\n", ipc::current_pid());
    std::mt19937 rng(std::random_device{}());
    for (const char* value : {"A", "B", "C"}) {
        std::printf("Put %s to queue...\n", value);
        q.put(value);
        const double pause = std::uniform_real_distribution<double>(0, 1)(rng);  // random.random()
        ringlet::sleep(std::chrono::duration_cast<ringlet::Duration>(pause * unit));
    }
}

// The code of the reading process.
void read(ipc::Queue<std::string>& q) {
    std::printf("Process to read: %d\n", ipc::current_pid());
    std::string all;
    try {
        for (;;) {
            const std::string value = q.get();  // waits while the queue is empty
            std::printf("Get %s from queue.\n", value.c_str());
            all += value;
        }
    } catch (const ipc::QueueClosed&) {
        std::printf("reader: the queue is closed and drained, done\n");
    }
    // A throw gives this child exit code 1, which the parent checks.
    if (all != "ABC") throw std::runtime_error("the reader got '" + all + "', not 'ABC'");
}

void writer_and_reader(ringlet::Duration unit) {
    std::printf("== Part 3: a writer process and a reader process\n");
    // The parent makes the queue and gives it to both children.
    ipc::Queue<std::string> q;
    ipc::Process pw(write, q, unit);
    ipc::Process pr(read, q);
    pw.start();  // start the writer...
    pr.start();  // ... and the reader
    pw.join();   // wait for the writer to finish
    // The Python reader never ends, so it has to be pr.terminate()d. Closing
    // the queue lets it drain what is left and stop on its own.
    q.close();
    pr.join();
    check(pw.exitcode() == 0 && pr.exitcode() == 0, "the reader got A, B, C in order");
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";
    const ringlet::Duration unit = smoke ? ringlet::Duration(20ms) : ringlet::Duration(1s);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // keep the processes' lines in order

    ringlet::run([unit] {
        list_through_a_queue();
        a_full_and_an_empty_queue(unit);
        writer_and_reader(unit);
    });
    if (!ok) {
        std::fprintf(stderr, "queue_basics: a check failed\n");
        return 1;
    }
    return 0;
}
