// examples/ipc/process_isolation.cpp — a child's globals are its own copy.
//
// A multiprocessing program ("三、进程数据隔离"): "多个进程间的数据是隔离的,
// 也就是说多个进程修改全局变量互不影响" (processes do not share data: a child that
// changes a global variable changes only its own copy):
//
//   x = 100
//   def task():
//       global x
//       print('子进程开启,当前x的值为%d' % x)      # child starts, x = 100
//       time.sleep(3); x = 10
//       print('子进程结束,当前x的值为%d' % x)      # child ends,   x = 10
//   p1 = Process(target=task); p1.start(); p1.join()
//   print('当前为父进程,准备结束父进程,x的值为%d' % x)  # parent, x is still 100
//
// The same holds for a global container and for a variable captured by
// reference: fork() gives the child a copy of the whole address space (pages
// are shared copy-on-write until someone writes). To share data on purpose,
// use ipc::Queue, ipc::pipe or ipc::Shared (queue_basics.cpp, pipe_duplex.cpp,
// shared_counter_lock.cpp).
//
//   process_isolation            the child sleeps 3 s, as in Python
//   process_isolation --smoke    30 ms
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <ringlet/ipc/process.hpp>
#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;

namespace {

int x = 100;                             // the Python program's global
std::vector<std::string> names{"main"};  // a global list, too

std::string show(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& e : v) s += (s.empty() ? "'" : ", '") + e + "'";
    return "[" + s + "]";
}

void task(ringlet::Duration nap, int& local) {
    std::printf("child starts:  x = %d, names = %s, local = %d\n", x, show(names).c_str(), local);
    // The child starts with the parent's values at the time of start()...
    if (x != 100 || local != 1) throw std::runtime_error("the child did not start from a copy");
    ringlet::sleep(nap);
    // ... and whatever it changes, it changes in its own memory.
    x = 10;
    names.push_back("child");
    local = 2;
    std::printf("child ends:    x = %d, names = %s, local = %d\n", x, show(names).c_str(), local);
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";
    const ringlet::Duration nap = smoke ? ringlet::Duration(30ms) : ringlet::Duration(3s);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // keep both processes' lines in order

    return ringlet::run([nap] {
        int local = 1;  // a variable of main's, given to the child by reference
        std::printf("parent, before starting the child: x = %d, names = %s, local = %d\n", x,
                    show(names).c_str(), local);
        // std::ref: the child gets a reference to `local`... in its own copy of
        // this stack, so its write does not reach the parent's `local` either.
        ipc::Process p1(task, nap, std::ref(local));
        p1.start();
        p1.join();
        std::printf("parent, after the child ended:     x = %d, names = %s, local = %d\n", x,
                    show(names).c_str(), local);

        const bool ok = p1.exitcode() == 0 && x == 100 && names.size() == 1 && local == 1;
        std::printf("%s\n", ok ? "-> the parent's data is untouched: processes do not share memory"
                               : "-> UNEXPECTED: the child's changes reached the parent");
        return ok ? 0 : 1;
    });
}
