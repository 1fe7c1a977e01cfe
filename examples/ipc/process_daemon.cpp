// examples/ipc/process_daemon.cpp — daemon children end with the main program;
// the others are waited for.
//
// A multiprocessing daemon program ("七、守护进程"): "守护进程在主进程代码执行完毕时
// 立刻挂掉,然后主进程等待非守护进程执行完毕后回收子进程的资源" (a daemon dies as soon as
// the main program's code is done; the main program then waits for the
// non-daemon children and reaps them):
//
//   p1 = Process(target=task, args=('守护进程',)); p2 = Process(target=task, args=('子进程',))
//   p2.start(); p1.daemon = True; p1.start()
//   print('主进程代码执行完毕')
//   >>: 主进程代码执行完毕 / 子进程 is running / 子进程 is done
//
// and another daemon program ("守护进程"):
// `Process(target=run, args=('task1',), daemon=True)`.
//
// In ringlet "the main program" is the ringlet::run() that started the
// children: when its main function returns, run() terminates the daemon
// children (SIGTERM, then SIGKILL after a grace period) and joins the others.
// Here main works for 1 unit before it is done, so that both children are
// seen running; the daemon never gets to print "is done".
//
//   process_daemon            children sleep 3 s, main works 1 s
//   process_daemon --smoke    time unit 50 ms
#include <chrono>
#include <cstdio>
#include <signal.h>
#include <string>
#include <string_view>

#include <ringlet/ipc/process.hpp>
#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

void task(const std::string& x, ringlet::Duration unit) {
    std::printf("%s is running (pid %d)\n", x.c_str(), ipc::current_pid());
    ringlet::sleep(3 * unit);
    std::printf("%s is done\n", x.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";
    const ringlet::Duration unit = smoke ? ringlet::Duration(50ms) : ringlet::Duration(1s);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // keep the processes' lines in order

    // The handles live outside run() only so that main can look at the exit
    // codes after run() has ended the children.
    ipc::Process p1(ipc::ProcessOptions{.daemon = true}, task, std::string("daemon process"), unit);
    ipc::Process p2(task, std::string("child process"), unit);

    const auto start = Clock::now();
    ringlet::run([&] {
        p2.start();
        p1.start();
        ringlet::sleep(unit);  // main's own work
        std::printf("main: code done (%.2f s); run() now ends the daemon and waits for the rest\n",
                    seconds_since(start));
        // No join(): returning from main's function is what ends the daemon.
    });
    const double elapsed = seconds_since(start);
    std::printf("run() returned after %.2f s\n", elapsed);
    std::printf("  p1 = %s, daemon:     exitcode %d (-%d: terminated by SIGTERM)\n",
                p1.name().c_str(), p1.exitcode().value_or(999), SIGTERM);
    std::printf("  p2 = %s, non-daemon: exitcode %d (ran to the end: run() waited for it)\n",
                p2.name().c_str(), p2.exitcode().value_or(999));

    const double unit_s = std::chrono::duration<double>(unit).count();
    const bool ok = p1.exitcode() == -SIGTERM && p2.exitcode() == 0 && elapsed >= 3 * unit_s;
    if (!ok) std::printf("UNEXPECTED: the daemon was not terminated or the child not waited for\n");
    return ok ? 0 : 1;
}
