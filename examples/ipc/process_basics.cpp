// examples/ipc/process_basics.cpp — multiprocessing.Process: start, join, name,
// is_alive, exitcode, terminate, and Process subclasses.
//
// Part 1 — the basic multiprocessing.Process program ("二、跨平台模块multiprocessing" 示例1):
//   p = Process(target=run_proc, args=('test',)); p.start(); p.join()
// Part 2 — a Process demo (demo2): worker_1 / worker_2, `name="dongGe"`, the default
//   name Process-N, p.pid, p2.is_alive(), p1.join(), then p1.is_alive().
// Part 3 — a Process demo (demo1): a child printing every 0.5 s is stopped with
//   p.terminate() after 1 s; its exitcode is then -SIGTERM.
// Part 4 — Process subclasses: "进程的创建-Process子类" (ClockProcess), "继承式调用"
//   (RunTask(*args, **kwargs)) and 示例2 (class P(Process)): a class
//   derived from ipc::Process overrides run(); start() calls it in the child.
//
// The programs "三、进程数据隔离", "四、多进程并行执行" and "七、守护进程" have files of
// their own (process_isolation.cpp, process_parallel.cpp, process_daemon.cpp).
//
//   process_basics            time unit 1 s (the Python programs' sleeps)
//   process_basics --smoke    time unit 20 ms
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <signal.h>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ringlet/ipc/process.hpp>
#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;

namespace {

using Clock = std::chrono::steady_clock;

bool ok = true;  // the parent's verdict; each check below may clear it

void check(bool condition, const char* what) {
    if (!condition) {
        std::printf("   CHECK FAILED: %s\n", what);
        ok = false;
    }
}

std::string show(const std::optional<int>& code) { return code ? std::to_string(*code) : "None"; }

// Part 1 ---------------------------------------------------------------------
// The code the child runs: any callable, with arguments copied into the child.
void run_proc(const std::string& name) {
    std::printf("Run child process %s (%d)...\n", name.c_str(), ipc::current_pid());
}

void start_and_join() {
    std::printf("== Part 1: Process(target, args), start(), join()\n");
    std::printf("Parent process %d.\n", ipc::current_pid());
    ipc::Process p(run_proc, std::string("test"));
    std::printf("Child process will start.\n");
    p.start();
    // join() waits for the child to end, as in Python. It is a suspension
    // point: other tasks of this thread would run meanwhile.
    p.join();
    std::printf("Child process end. (%s, exitcode %s)\n\n", p.name().c_str(),
                show(p.exitcode()).c_str());
    check(p.exitcode() == 0, "run_proc's child ends with exit code 0");
}

// Part 2 ---------------------------------------------------------------------
void worker(const char* who, ringlet::Duration interval) {
    std::printf("%s, parent (%d), current process (%d)\n", who, ipc::parent_pid(),
                ipc::current_pid());
    const auto start = Clock::now();
    ringlet::sleep(interval);  // the child's own scheduler runs this sleep
    std::printf("%s, ran for %.2f s\n", who,
                std::chrono::duration<double>(Clock::now() - start).count());
}

void names_and_states(ringlet::Duration unit) {
    std::printf("== Part 2: name, pid, is_alive(), exitcode()\n");
    std::printf("process id: %d\n", ipc::current_pid());
    // No name given: "Process-N", N counting the Processes made in this process.
    ipc::Process p1(worker, "worker_1", 2 * unit);
    ipc::Process p2(ipc::ProcessOptions{.name = "dongGe"}, worker, "worker_2", unit);
    std::printf("before start: p1.pid=%d, p1.is_alive=%s, p1.exitcode=%s\n", p1.pid(),
                p1.is_alive() ? "True" : "False", show(p1.exitcode()).c_str());
    p1.start();
    p2.start();
    std::printf("p2.is_alive=%s\n", p2.is_alive() ? "True" : "False");
    std::printf("p1.name=%s\n", p1.name().c_str());
    std::printf("p1.pid=%d\n", p1.pid());
    std::printf("p2.name=%s\n", p2.name().c_str());
    std::printf("p2.pid=%d\n", p2.pid());
    check(p1.name().starts_with("Process-"), "an unnamed Process is called Process-N");
    check(p2.name() == "dongGe", "ProcessOptions::name names the process");
    check(p2.is_alive(), "p2 sleeps for 1 unit, so it is alive right after start()");
    p1.join();
    std::printf("p1.is_alive=%s, p1.exitcode=%s\n", p1.is_alive() ? "True" : "False",
                show(p1.exitcode()).c_str());
    check(!p1.is_alive() && p1.exitcode() == 0, "a joined child is no longer alive");
    // join(timeout) returns whether the child ended in time.
    const bool ended = p2.join(10 * unit);
    std::printf("p2.join(timeout) = %s, p2.exitcode=%s\n\n", ended ? "True" : "False",
                show(p2.exitcode()).c_str());
    check(ended && p2.exitcode() == 0, "p2 ends within its timeout");
}

// Part 3 ---------------------------------------------------------------------
void terminate_a_child(ringlet::Duration unit) {
    std::printf("== Part 3: terminate()\n");
    std::printf("parent %d\n", ipc::current_pid());
    ipc::Process p(
        [unit](const std::string& name, int age, const std::map<std::string, int>& kwargs) {
            for (int i = 0; i < 10; ++i) {
                std::printf("child running, name=%s, age=%d, pid=%d... {'m': %d}\n", name.c_str(),
                            age, ipc::current_pid(), kwargs.at("m"));
                ringlet::sleep(unit / 2);
            }
        },
        std::string("test"), 18, std::map<std::string, int>{{"m", 20}});
    std::printf("child will start\n");
    p.start();
    ringlet::sleep(unit);  // let it print a few lines, as in Python
    p.terminate();         // SIGTERM: the child is stopped wherever it is
    p.join();
    std::printf("child ended: exitcode %s (-%d is death by SIGTERM)\n\n",
                show(p.exitcode()).c_str(), SIGTERM);
    check(p.exitcode() == -SIGTERM, "a terminated child's exitcode is -SIGTERM");
}

// Part 4 ---------------------------------------------------------------------
// The Python ClockProcess: prints the time `ticks` times, every `interval`.
class ClockProcess : public ipc::Process {
  public:
    // Python names instances of a subclass after the class: ClockProcess-1, -2, ...
    ClockProcess(int number, ringlet::Duration interval, int ticks)
        : ipc::Process(ipc::ProcessOptions{.name = "ClockProcess-" + std::to_string(number)}),
          interval_(interval),
          ticks_(ticks) {}

  protected:
    // Runs in the child, inside its own scheduler (Python's Process.run).
    void run() override {
        for (int n = ticks_; n > 0; --n) {
            const std::time_t now = std::time(nullptr);
            char text[32];
            std::strftime(text, sizeof text, "%a %b %d %H:%M:%S %Y", std::localtime(&now));
            std::printf("the time is %s (%s, pid %d)\n", text, name().c_str(), ipc::current_pid());
            ringlet::sleep(interval_);
        }
    }

  private:
    ringlet::Duration interval_;
    int ticks_;
};

// The Python RunTask(Process) with *args and **kwargs: a subclass carries
// whatever state its constructor was given into the child.
class RunTask : public ipc::Process {
  public:
    using Kwargs = std::vector<std::pair<std::string, std::string>>;
    RunTask(std::vector<std::string> args, Kwargs kwargs)
        : args_(std::move(args)), kwargs_(std::move(kwargs)) {}

  protected:
    void run() override {
        const int pid = ipc::current_pid();
        std::printf("pid=%d start run\n", pid);
        std::string args, kwargs;
        for (const auto& a : args_) args += (args.empty() ? "'" : ", '") + a + "'";
        for (const auto& [k, v] : kwargs_) {
            kwargs += (kwargs.empty() ? "'" : ", '") + k + "': '" + v + "'";
        }
        std::printf("pid=%d (%s) {%s}\n", pid, args.c_str(), kwargs.c_str());
        std::printf("pid=%d end run\n", pid);
    }

  private:
    std::vector<std::string> args_;
    Kwargs kwargs_;
};

void subclasses(ringlet::Duration unit, int clocks, int ticks) {
    std::printf("== Part 4: classes derived from ipc::Process override run()\n");
    std::vector<std::unique_ptr<ClockProcess>> ps;
    for (int i = 0; i < clocks; ++i) {
        ps.push_back(std::make_unique<ClockProcess>(i + 1, unit, ticks));
        ps.back()->start();  // start() forks; the child calls run()
    }
    RunTask p1({"x1", "x2"}, {{"name", "gjy"}, {"age", "26"}});
    RunTask p2({"y1", "y2"}, {{"name", "gjy2"}, {"age", "26"}});
    p1.start();
    p2.start();
    std::printf("main thread\n");
    // Python leaves the joins to the interpreter's exit; ringlet::run()
    // would join them too, but the checks need each exit code.
    for (auto& p : ps) {
        p->join();
        check(p->exitcode() == 0, "every ClockProcess ends with exit code 0");
    }
    p1.join();
    p2.join();
    check(p1.exitcode() == 0 && p2.exitcode() == 0, "both RunTasks end with exit code 0");
    std::printf("%d clocks and 2 RunTasks ended\n", clocks);
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";
    // Line-buffer stdout, so that the lines of all the processes come out in
    // the order they were printed even through a pipe (and a child killed by
    // terminate() loses nothing it printed).
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    // Python's ClockProcess(3) x 5 ticks x 5 clocks would take 15 s: 1 unit x 3 x 3 here.
    const ringlet::Duration unit = smoke ? ringlet::Duration(20ms) : ringlet::Duration(1s);

    ringlet::run([unit] {
        start_and_join();
        names_and_states(unit);
        terminate_a_child(unit);
        subclasses(unit, 3, 3);
    });
    if (!ok) {
        std::fprintf(stderr, "process_basics: a check failed\n");
        return 1;
    }
    return 0;
}
