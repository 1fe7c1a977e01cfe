// examples/ipc/queue_producer_consumer.cpp — producer and consumer processes
// around one ipc::Queue.
//
// Part 1 — a multiprocessing.Queue program ("基于队列的生产者消费者模式"):
//   def consumer(queue):
//       while True:
//           res = queue.get()
//           if res is None: break                    # the end signal
//           time.sleep(random.randint(1,3)); print('[{} 吃了 {}]'.format(os.getpid(), res))
//   def producer(name, queue, count=3):
//       for i in range(count):
//           time.sleep(random.randint(1,3)); queue.put((name, i))
//           print('[{} 生产了 {}]'.format(os.getpid(), (name, i)))
//   p1, p2, p3 = producers ('xxx', 2), ('yyy', 3), ('zzz', 5); c1, c2 = consumers
//   p1.join(); p2.join(); p3.join()   # every item is produced before the end signals
//   q.put(None); q.put(None)          # one end signal per consumer
// (the tutorial "Producer-consumer 生产者和消费者模型" is the same with one of each.)
// The queue carries std::optional<std::pair<std::string, int>>: std::nullopt
// is Python's None. Each consumer reports how many items it ate on a second
// queue, and the parent checks that all 10 were eaten exactly once.
//
// Part 2 — what ringlet adds: waiting on an ipc::Queue suspends only the
// calling task. One producer PROCESS runs 1000 TASKS that all put into the
// same bounded queue; whenever it is full, the tasks that wait for room are
// suspended and the process keeps running the others. A consumer process
// counts the messages and checks that each task's messages arrive in the
// order that task put them.
//
//   queue_producer_consumer            time unit 250 ms; part 2: 1000 tasks x 100 messages
//   queue_producer_consumer --smoke    time unit 10 ms;  part 2: 1000 tasks x 10 messages
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ringlet/ipc/errors.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/ipc/queue.hpp>
#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

// Part 1 ---------------------------------------------------------------------
using Item = std::pair<std::string, int>;
using ItemQueue = ipc::Queue<std::optional<Item>>;  // nullopt: the end signal

// random.randint(1, 3) time units. Each child makes and seeds its own
// generator: one made before fork() would give every child the same sequence.
ringlet::Duration one_to_three(std::mt19937& rng, ringlet::Duration unit) {
    return std::uniform_int_distribution<int>(1, 3)(rng) * unit;
}

void consumer(ItemQueue& queue, ipc::Queue<int>& eaten, ringlet::Duration unit) {
    std::mt19937 rng(std::random_device{}());
    int count = 0;
    while (true) {
        const std::optional<Item> res = queue.get();
        if (!res) break;  // the end signal
        ringlet::sleep(one_to_three(rng, unit));
        std::printf("[%d ate ('%s', %d)]\n", ipc::current_pid(), res->first.c_str(), res->second);
        ++count;
    }
    eaten.put(count);
}

void producer(const std::string& name, ItemQueue& queue, int count, ringlet::Duration unit) {
    std::mt19937 rng(std::random_device{}());
    for (int i = 0; i < count; ++i) {
        ringlet::sleep(one_to_three(rng, unit));
        const Item res{name, i};
        queue.put(res);
        std::printf("[%d produced ('%s', %d)]\n", ipc::current_pid(), name.c_str(), i);
    }
}

bool three_producers_two_consumers(ringlet::Duration unit) {
    std::printf("== Part 1: 3 producer processes, 2 consumer processes, one queue\n");
    ItemQueue q;
    ipc::Queue<int> eaten;  // each consumer's count, when it is done
    std::vector<ipc::Process> producers;
    producers.emplace_back(producer, std::string("xxx"), q, 2, unit);
    producers.emplace_back(producer, std::string("yyy"), q, 3, unit);
    producers.emplace_back(producer, std::string("zzz"), q, 5, unit);
    std::vector<ipc::Process> consumers;
    consumers.emplace_back(consumer, q, eaten, unit);
    consumers.emplace_back(consumer, q, eaten, unit);

    for (auto& p : producers) p.start();
    for (auto& c : consumers) c.start();
    // Every producer must be done before the end signals go in.
    for (auto& p : producers) p.join();
    // One end signal per consumer: each consumer takes exactly one.
    for (std::size_t i = 0; i < consumers.size(); ++i) q.put(std::nullopt);
    for (auto& c : consumers) c.join();

    const int total = eaten.get() + eaten.get();
    std::printf("main: the consumers ate %d items (2 + 3 + 5 were produced)\n\n", total);
    bool ok = total == 10;
    for (auto& p : producers) ok = ok && p.exitcode() == 0;
    for (auto& c : consumers) ok = ok && c.exitcode() == 0;
    return ok;
}

// Part 2 ---------------------------------------------------------------------
struct Message {
    std::uint32_t task;  // which producer task put it
    std::uint32_t seq;   // that task's 0, 1, 2, ...
};

void thousand_tasks(ipc::Queue<Message>& q, std::uint32_t tasks, std::uint32_t per_task) {
    const auto start = Clock::now();
    ringlet::Group group;
    for (std::uint32_t t = 0; t < tasks; ++t) {
        group.spawn([&q, t, per_task] {
            // put() on a full queue suspends this task only.
            for (std::uint32_t s = 0; s < per_task; ++s) q.put(Message{t, s});
        });
    }
    group.join();
    std::printf("producer process %d: %u tasks put %u messages in %.3f s\n", ipc::current_pid(),
                tasks, tasks * per_task, seconds_since(start));
}

void count_messages(ipc::Queue<Message>& q, std::uint32_t tasks, std::uint32_t per_task) {
    const auto start = Clock::now();
    std::vector<std::uint32_t> next(tasks, 0);  // the seq expected next from each task
    std::uint64_t count = 0;
    try {
        for (;;) {
            const Message m = q.get();
            if (m.task >= tasks || m.seq != next[m.task]) {
                throw std::runtime_error("message out of order from task " +
                                         std::to_string(m.task));
            }
            ++next[m.task];
            ++count;
        }
    } catch (const ipc::QueueClosed&) {
        // closed by the parent once the producer process ended, and drained
    }
    const double s = seconds_since(start);
    std::printf("consumer process %d: got %llu messages, each task's in order (%.0f messages/s)\n",
                ipc::current_pid(), static_cast<unsigned long long>(count), double(count) / s);
    if (count != std::uint64_t{tasks} * per_task) throw std::runtime_error("messages were lost");
}

bool tasks_feed_a_process(std::uint32_t per_task) {
    constexpr std::uint32_t tasks = 1000;
    std::printf("== Part 2: one process, %u tasks, all putting into one queue of 256\n", tasks);
    ipc::Queue<Message> q(256);
    ipc::Process consumer_process(count_messages, q, tasks, per_task);
    ipc::Process producer_process(thousand_tasks, q, tasks, per_task);
    consumer_process.start();
    producer_process.start();
    producer_process.join();
    q.close();  // no more messages: the consumer drains the rest and stops
    consumer_process.join();
    return producer_process.exitcode() == 0 && consumer_process.exitcode() == 0;
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";
    const ringlet::Duration unit = smoke ? ringlet::Duration(10ms) : ringlet::Duration(250ms);
    const std::uint32_t per_task = smoke ? 10 : 100;
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // keep the processes' lines in order

    return ringlet::run([&] {
        const bool ok1 = three_producers_two_consumers(unit);
        const bool ok2 = tasks_feed_a_process(per_task);
        if (!(ok1 && ok2)) std::printf("UNEXPECTED: items were lost or a process failed\n");
        return ok1 && ok2 ? 0 : 1;
    });
}
