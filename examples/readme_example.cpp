// examples/readme_example.cpp — the example in README.md, verbatim, kept compiling by CI.
// Ports gevent's spawn, sleep, joinall and gevent.pool.Pool.
#include <chrono>
#include <cstdio>
#include <vector>

#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;

int main() {
    ringlet::run([] {  // this thread becomes a scheduler
        std::vector<ringlet::Task<int>> tasks;
        for (int i = 1; i <= 3; ++i) {
            tasks.push_back(ringlet::spawn([i] {  // ready now; runs once main waits
                ringlet::sleep(i * 100ms);        // suspends this task, not the thread
                std::printf("task %d woke up\n", i);
                return i * i;
            }));
        }
        ringlet::joinall(tasks);  // 300 ms in all, not 600
        ringlet::Pool pool(2);    // at most 2 tasks at a time
        std::vector<int> sq = pool.map(
            [](int x) {
                ringlet::sleep(50ms);
                return x * x;
            },
            std::vector{4, 5, 6});  // results in input order
        std::printf("%d %d %d; task 1 returned %d\n", sq[0], sq[1], sq[2], tasks[0].get());
    });
}
