// examples/ipc/subprocess_call.cpp — run other programs: subprocess.call,
// Popen(...).communicate(input), check_output.
//
// Ports the subprocess programs of the Python tutorials ("六、子进程",
// "Subprocessing"):
//   print('$ nslookup www.python.org')
//   r = subprocess.call(['nslookup', 'www.python.org']); print('Exit code:', r)
//
//   p = subprocess.Popen(['nslookup'], stdin=PIPE, stdout=PIPE, stderr=PIPE)
//   output, err = p.communicate(b'set q=mx\npython.org\nexit\n')
//   print(output.decode('utf-8')); print('Exit code:', p.returncode)
//
// nslookup is not on every machine (and needs the network), so the commands
// here are sh, echo and sort; the calls are the same. Part 4 is what ringlet
// adds: every waiting call suspends only the calling task, so three tasks
// that each run `sleep` wait for them together.
//
//   subprocess_call            part 4 runs `sleep 1` three times at once
//   subprocess_call --smoke    `sleep 0.1`
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <ringlet/ipc/errors.hpp>
#include <ringlet/ipc/subprocess.hpp>
#include <ringlet/ringlet.hpp>

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

// Part 1: subprocess.call -- run, let it print to our stdout, get the exit code.
void call() {
    std::printf("== Part 1: ipc::call\n");
    std::printf("$ echo www.python.org\n");
    std::fflush(stdout);  // the child writes to the same stdout: keep the order
    const int r = ipc::call({"echo", "www.python.org"});
    std::printf("Exit code: %d\n", r);
    check(r == 0, "echo exits 0");

    std::printf("$ sh -c 'echo looking up $0...; exit 3' www.python.org\n");
    std::fflush(stdout);
    const int r3 = ipc::call({"sh", "-c", "echo looking up $0...; exit 3", "www.python.org"});
    std::printf("Exit code: %d\n\n", r3);
    check(r3 == 3, "the shell's exit status comes back");
}

// Part 2: Popen(..., stdin=PIPE, stdout=PIPE, stderr=PIPE).communicate(input).
void communicate() {
    std::printf("== Part 2: ipc::Subprocess + communicate(input)\n");
    std::printf("$ sort   (stdin: the Python program's nslookup commands)\n");
    ipc::Subprocess p({"sort"}, {.stdin_mode = ipc::Stdio::pipe,
                                 .stdout_mode = ipc::Stdio::pipe,
                                 .stderr_mode = ipc::Stdio::pipe});
    // Writes the input and closes stdin, reads stdout and stderr to EOF, waits.
    const auto [output, err, returncode] = p.communicate("set q=mx\npython.org\nexit\n");
    std::printf("%s", output.c_str());
    std::printf("Exit code: %d\n\n", returncode);
    check(output == "exit\npython.org\nset q=mx\n" && err.empty() && returncode == 0,
          "sort sorts the three lines");
}

// Part 3: subprocess.check_output -- the output as a string, or an exception.
void check_output() {
    std::printf("== Part 3: ipc::check_output\n");
    const std::string answer = ipc::check_output({"sh", "-c", "echo $((6 * 7))"});
    std::printf("check_output(sh -c 'echo $((6 * 7))') = \"%s\\n\"\n",
                answer.substr(0, answer.size() - 1).c_str());
    check(answer == "42\n", "the shell computes 42");
    try {
        ipc::check_output({"sh", "-c", "exit 5"});
        check(false, "a non-zero exit status throws ProcessError");
    } catch (const ipc::ProcessError& e) {
        std::printf("check_output(sh -c 'exit 5') threw ProcessError: %s (exitcode %d)\n\n",
                    e.what(), e.exitcode());
        check(e.exitcode() == 5, "ProcessError carries the exit status");
    }
}

// Part 4: waiting for a child suspends only the waiting task.
void concurrent_children(const std::string& seconds) {
    std::printf("== Part 4: three tasks each run `sleep %s`, at the same time\n", seconds.c_str());
    const auto start = Clock::now();
    std::vector<ringlet::Task<int>> tasks;
    for (int i = 0; i < 3; ++i) {
        tasks.push_back(ringlet::spawn([&seconds] { return ipc::call({"sleep", seconds}); }));
    }
    int codes = 0;
    for (auto& t : tasks) codes += t.get();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const double one = std::stod(seconds);
    std::printf("all three ended after %.2f s (%.1f x sleep %s; one after the other: 3 x)\n",
                elapsed, elapsed / one, seconds.c_str());
    check(codes == 0 && elapsed < 2.5 * one, "the three sleeps overlap");
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";

    ringlet::run([smoke] {
        call();
        communicate();
        check_output();
        concurrent_children(smoke ? "0.1" : "1");
    });
    if (!ok) {
        std::fprintf(stderr, "subprocess_call: a check failed\n");
        return 1;
    }
    return 0;
}
