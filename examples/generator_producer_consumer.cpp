// examples/generator_producer_consumer.cpp — a generator consumer driven by send().
//
// Ports a Python coroutine tutorial program ("协程 / yield"): a generator
// consumer driven with c.next(), c.send(n) and c.close():
//   def consumer():                      def produce(c):
//       r = ''                               c.next()
//       while True:                          n = 0
//           n = yield r                      while n < 5:
//           if not n: return                     n = n + 1
//           print('[CONSUMER] ...')              print('[PRODUCER] Producing %s...' % n)
//           time.sleep(1)                        r = c.send(n)
//           r = '200 OK'                         print('[PRODUCER] Consumer return: %s' % r)
//                                            c.close()
// ringlet::Generator<std::string, int> is that generator: it yields strings
// and receives ints. Its body runs on its own small stack, so yield() may be
// called from any depth, and the body may sleep (here a ringlet::sleep, which
// lets the thread's other tasks run meanwhile). The output is the Python program's,
// line for line. examples/channel_producer_consumer.cpp does the same with
// two tasks and a channel.
//
//   generator_producer_consumer            the consumer sleeps 1 s per item, as in Python
//   generator_producer_consumer --smoke    10 ms

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;

namespace {

using Consumer = ringlet::Generator<std::string, int>;

Consumer consumer(ringlet::Duration work) {
    return Consumer([work](Consumer::Yield& yield) {
        std::string r;
        while (true) {
            // yield(r) hands r to the caller of next()/send() and returns what
            // the next send() passes: std::optional<int>, empty after next().
            const std::optional<int> n = yield(r);
            if (!n || *n == 0) return;  // Python: `if not n: return`
            std::printf("[CONSUMER] Consuming %d...\n", *n);
            ringlet::sleep(work);
            r = "200 OK";
        }
    });
}

void produce(Consumer& c) {
    c.next();  // start the body: it runs to its first yield (Python: c.next())
    int n = 0;
    while (n < 5) {
        n = n + 1;
        std::printf("[PRODUCER] Producing %d...\n", n);
        const std::optional<std::string> r = c.send(n);  // nullopt only if the body returned
        std::printf("[PRODUCER] Consumer return: %s\n", r ? r->c_str() : "(consumer ended)");
    }
    // Unwinds the suspended body now (its destructors run); the destructor
    // would do the same.
    c.close();
}

// A plain pull generator, Python's `for x in gen()`: next() until nullopt,
// which is what a range-for does.
void fibonacci_for_loop() {
    ringlet::Generator<long> fib([](ringlet::Generator<long>::Yield& yield) {
        long a = 0;
        long b = 1;
        for (int i = 0; i < 10; ++i) {
            yield(a);
            const long next = a + b;
            a = b;
            b = next;
        }
    });
    std::printf("fibonacci:");
    for (long x : fib) std::printf(" %ld", x);
    std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";
    const ringlet::Duration work = smoke ? ringlet::Duration(10ms) : ringlet::Duration(1s);

    ringlet::run([work] {
        Consumer c = consumer(work);
        produce(c);
        std::printf("consumer done: %s\n\n", c.done() ? "true" : "false");
        fibonacci_for_loop();
    });
    return 0;
}
