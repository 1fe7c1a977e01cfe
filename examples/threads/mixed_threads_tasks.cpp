// examples/threads/mixed_threads_tasks.cpp — Python's threading module
// ("多任务除了使用多进程外还可以使用多线程来完成") next to gevent's coroutines:
// threads and coroutines together. Two ringlet::Threads run 1000 producer
// tasks each; every task sends its messages into ONE Channel, and a single
// consumer task on the main thread receives them all. Tasks of different
// schedulers share the channel directly: a full channel suspends the sending
// task (its thread runs its other producers), an empty one suspends the
// consumer, and wake-ups cross threads through each scheduler's wake-up queue.
//
//   mixed_threads_tasks            2 threads x 1000 tasks x 100 messages
//   mixed_threads_tasks --smoke    2 threads x 1000 tasks x 10 messages
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include <ringlet/ringlet.hpp>

namespace {

struct Message {
    std::uint32_t thread;
    std::uint32_t task;
    std::uint64_t value;
};

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";
    constexpr std::uint32_t threads = 2;
    constexpr std::uint32_t tasks_per_thread = 1000;
    const std::uint64_t per_task = smoke ? 10 : 100;
    const std::uint64_t total = threads * tasks_per_thread * per_task;

    return ringlet::run([&] {
        ringlet::Channel<Message> channel(256);
        std::atomic<std::uint32_t> producers_left{threads * tasks_per_thread};
        std::printf("%u threads x %u producer tasks x %llu messages -> one consumer task\n",
                    threads, tasks_per_thread, static_cast<unsigned long long>(per_task));

        // The consumer runs on this (main) thread, as a task.
        std::uint64_t received = 0, sum = 0;
        std::uint64_t per_thread[threads] = {};
        auto consumer = ringlet::spawn([&] {
            for (const Message& m : channel) {  // until closed and drained
                ++received;
                sum += m.value;
                ++per_thread[m.thread];
            }
        });

        const auto start = std::chrono::steady_clock::now();
        auto producer_thread = [&](std::uint32_t t) {
            return ringlet::Thread([&, t] {
                ringlet::Group group;
                for (std::uint32_t k = 0; k < tasks_per_thread; ++k) {
                    group.spawn(ringlet::SpawnOptions{.name = "producer", .stack_size = 32 * 1024},
                                [&, t, k] {
                                    for (std::uint64_t j = 1; j <= per_task; ++j) {
                                        channel.send(Message{t, k, j});
                                    }
                                    // The last producer of all closes the channel.
                                    if (producers_left.fetch_sub(1) == 1) channel.close();
                                });
                }
                group.join();
                return ringlet::stats();
            });
        };
        auto a = producer_thread(0);
        auto b = producer_thread(1);
        // get() suspends only main: the consumer task keeps running meanwhile.
        const ringlet::Stats sa = a.get();
        const ringlet::Stats sb = b.get();
        consumer.get();
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

        const std::uint64_t expected_sum =
            threads * tasks_per_thread * per_task * (per_task + 1) / 2;
        std::printf("received %llu of %llu messages (thread 0: %llu, thread 1: %llu)\n",
                    static_cast<unsigned long long>(received),
                    static_cast<unsigned long long>(total),
                    static_cast<unsigned long long>(per_thread[0]),
                    static_cast<unsigned long long>(per_thread[1]));
        std::printf("sum %llu (expected %llu)\n", static_cast<unsigned long long>(sum),
                    static_cast<unsigned long long>(expected_sum));
        std::printf("%.1f ms, %.2f M messages/s\n", seconds * 1e3, total / seconds / 1e6);
        std::printf(
            "producer threads were woken from another thread %llu + %llu times;\n"
            "main's scheduler %llu times\n",
            static_cast<unsigned long long>(sa.remote_wakeups),
            static_cast<unsigned long long>(sb.remote_wakeups),
            static_cast<unsigned long long>(ringlet::stats().remote_wakeups));
        return received == total && sum == expected_sum ? 0 : 1;
    });
}
