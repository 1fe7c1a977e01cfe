// examples/channel_producer_consumer.cpp — producer and consumer as two tasks over channels.
//
// Ports a Python coroutine tutorial program ("协程 / yield", a generator driven
// by send()): the same [PRODUCER]/[CONSUMER] exchange as generator_producer_consumer.cpp,
// but the consumer is a task of its own instead of a generator. Two
// rendezvous channels (capacity 0) replace send(): a send completes only when
// the other task takes the value, so the two tasks move in lock-step and the
// output is the Python program's, line for line.
// Part 2 ports a multiprocessing program ("基于队列的生产者消费者模式"):
// three producers and two consumers share one queue. There they are processes
// and a multiprocessing.Queue with one None per consumer as the end signal;
// here they are tasks sharing a buffered Channel, and close() is the end
// signal (the cross-process version comes with ringlet::ipc::Queue).
//
//   channel_producer_consumer            time unit 1 s
//   channel_producer_consumer --smoke    time unit 10 ms

#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;

namespace {

// Part 1 -------------------------------------------------------------------

void consumer(ringlet::Channel<int>& requests, ringlet::Channel<std::string>& replies,
              ringlet::Duration work) {
    // A range-for over a channel receives until it is closed and drained.
    for (int n : requests) {
        std::printf("[CONSUMER] Consuming %d...\n", n);
        ringlet::sleep(work);
        replies.send("200 OK");
    }
}

void producer(ringlet::Channel<int>& requests, ringlet::Channel<std::string>& replies) {
    for (int n = 1; n <= 5; ++n) {
        std::printf("[PRODUCER] Producing %d...\n", n);
        requests.send(n);  // waits until the consumer has taken n
        const std::optional<std::string> r = replies.recv();
        std::printf("[PRODUCER] Consumer return: %s\n", r ? r->c_str() : "(closed)");
    }
    // Python's c.close(): the consumer's loop ends once the channel is closed.
    requests.close();
}

void lock_step(ringlet::Duration work) {
    std::printf("== Part 1: producer and consumer tasks over rendezvous channels\n");
    ringlet::Channel<int> requests(0);
    ringlet::Channel<std::string> replies(0);
    // Tasks take their arguments by value; std::ref shares the channels, which
    // outlive both tasks because joinall() waits for them before returning.
    auto c = ringlet::spawn(consumer, std::ref(requests), std::ref(replies), work);
    auto p = ringlet::spawn(producer, std::ref(requests), std::ref(replies));
    ringlet::joinall(c, p);
    std::printf("\n");
}

// Part 2 -------------------------------------------------------------------

using Item = std::pair<std::string, int>;

// A fixed seed: the interleaving below is the same on every run.
std::minstd_rand rng(2024);
int one_to_three() { return std::uniform_int_distribution<int>(1, 3)(rng); }

unsigned long long me() { return ringlet::current_task(); }

void produce(std::string name, int count, ringlet::Channel<Item>& queue, ringlet::Duration unit) {
    for (int i = 0; i < count; ++i) {
        ringlet::sleep(one_to_three() * unit);
        queue.send({name, i});
        std::printf("[task %llu produced (%s, %d)]\n", me(), name.c_str(), i);
    }
}

void consume(ringlet::Channel<Item>& queue, ringlet::Duration unit) {
    for (auto& [name, i] : queue) {
        ringlet::sleep(one_to_three() * unit);
        std::printf("[task %llu ate (%s, %d)]\n", me(), name.c_str(), i);
    }
    std::printf("[task %llu: queue closed and drained, consumer exits]\n", me());
}

void many_to_many(ringlet::Duration unit) {
    std::printf("== Part 2: three producers, two consumers, one buffered channel\n");
    ringlet::Channel<Item> queue(4);
    std::vector<ringlet::Task<void>> producers;
    producers.push_back(ringlet::spawn(produce, "xxx", 2, std::ref(queue), unit));
    producers.push_back(ringlet::spawn(produce, "yyy", 3, std::ref(queue), unit));
    producers.push_back(ringlet::spawn(produce, "zzz", 5, std::ref(queue), unit));
    std::vector<ringlet::Task<void>> consumers;
    consumers.push_back(ringlet::spawn(consume, std::ref(queue), unit));
    consumers.push_back(ringlet::spawn(consume, std::ref(queue), unit));

    ringlet::joinall(producers);  // every item is sent before the end signal
    // close() is the end signal for every consumer at once (no None per
    // consumer): they drain what is buffered, then their loops end.
    queue.close();
    ringlet::joinall(consumers);
    std::printf("main: all produced items were eaten\n");
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";
    const ringlet::Duration unit = smoke ? ringlet::Duration(10ms) : ringlet::Duration(1s);

    ringlet::run([unit] {
        lock_step(unit);
        many_to_many(unit / 4);
    });
    return 0;
}
