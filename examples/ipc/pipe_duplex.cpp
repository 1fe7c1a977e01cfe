// examples/ipc/pipe_duplex.cpp — multiprocessing.Pipe: two connected ends,
// send() and recv() between processes, both ways or one way.
//
// Part 1 — a multiprocessing.Pipe program ("八、进程间通信"):
//   def put_id(conn): conn.send([1,2,3]); conn.send([4,5,6]); conn.close()
//   parent_conn, child_conn = Pipe()
//   p = Process(target=put_id, args=(child_conn,)); p.start()
//   print(parent_conn.recv()); print(parent_conn.recv()); p.join()
// The tutorial warns "两端要发送次数和接受次数要对等,不然会卡住" (a recv() with no send
// to match waits forever). In ringlet a recv() after the last message returns
// std::nullopt once every copy of the other end is closed: the child closes
// its copy, and the parent closes the copy it kept when it forked.
// Then another Pipe program (例子1): `conn.send([42, None, 'hello'])` — a
// mixed list becomes a std::tuple<int, std::optional<int>,
// std::string>; any type with a Codec crosses a pipe (codec.hpp).
// Part 2 — its 例子2: "Pass an end of the pipe to process 1 / Pass the
// other end of the pipe to process 2": proc1 sends 'hello' and prints what it
// gets, proc2 prints what it gets and sends 'hello, too'.
// Part 3 — `Pipe(duplex=False)`: a one-way pipe, {receive end, send
// end}; a writer process sends lines, a reader process reads until EOF.
//
// Ends are handed to a Process as std::ref(end): each child refers to its own
// inherited copy of that end (fork copies the parent's memory), and the
// parent keeps its copy, which it can then close.
//
//   pipe_duplex          (nothing here takes long: --smoke changes nothing)
#include <cstdio>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <ringlet/ipc/pipe.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/ringlet.hpp>

namespace ipc = ringlet::ipc;

namespace {

bool ok = true;

void check(bool condition, const char* what) {
    if (!condition) {
        std::printf("   CHECK FAILED: %s\n", what);
        ok = false;
    }
}

std::string show(const std::optional<std::vector<int>>& v) {
    if (!v) return "nullopt (EOF)";
    std::string s;
    for (int x : *v) s += (s.empty() ? "" : ", ") + std::to_string(x);
    return "[" + s + "]";
}

// Part 1 ---------------------------------------------------------------------
void put_id(ipc::Connection<std::vector<int>>& conn) {
    conn.send({1, 2, 3});
    conn.send({4, 5, 6});
    conn.close();
}

using Mixed = std::tuple<int, std::optional<int>, std::string>;  // [42, None, 'hello']

void f(ipc::Connection<Mixed>& conn) {
    conn.send({42, std::nullopt, "hello"});
    conn.close();
}

void child_sends_to_parent() {
    std::printf("== Part 1: a child sends, the parent receives\n");
    // The two ends of a duplex pipe: "like two telephones on one line".
    auto [parent_conn, child_conn] = ipc::pipe<std::vector<int>>();
    ipc::Process p(put_id, std::ref(child_conn));  // child_conn goes to the child
    p.start();
    child_conn.close();  // the parent's copy: now only the child holds that end
    const auto first = parent_conn.recv();
    const auto second = parent_conn.recv();
    std::printf("%s\n%s\n", show(first).c_str(), show(second).c_str());
    // One recv() too many: the child has closed its end, so this is EOF.
    const auto third = parent_conn.recv();
    std::printf("third recv(): %s\n", show(third).c_str());
    p.join();
    check(first == std::vector<int>{1, 2, 3} && second == std::vector<int>{4, 5, 6} && !third,
          "two lists, then EOF");

    auto [mine, theirs] = ipc::pipe<Mixed>();
    ipc::Process q(f, std::ref(theirs));
    q.start();
    theirs.close();
    const std::optional<Mixed> m = mine.recv();
    if (m) {
        const auto& [number, nothing, text] = *m;
        std::printf("[%d, %s, '%s']\n\n", number, nothing ? "?" : "None", text.c_str());
    }
    q.join();
    check(m == Mixed{42, std::nullopt, "hello"}, "the tuple arrives whole");
}

// Part 2 ---------------------------------------------------------------------
void proc1(ipc::Connection<std::string>& pipe) {
    pipe.send("hello");
    const std::optional<std::string> got = pipe.recv();
    std::printf("proc1 rec: %s\n", got.value_or("(EOF)").c_str());
    if (got != "hello, too") throw std::runtime_error("proc1 got the wrong reply");
}

void proc2(ipc::Connection<std::string>& pipe) {
    const std::optional<std::string> got = pipe.recv();
    std::printf("proc2 rec: %s\n", got.value_or("(EOF)").c_str());
    pipe.send("hello, too");
    if (got != "hello") throw std::runtime_error("proc2 got the wrong message");
}

void two_children_talk() {
    std::printf("== Part 2: one end to process 1, the other to process 2\n");
    auto [end0, end1] = ipc::pipe<std::string>();  // duplex: both ends send and receive
    ipc::Process p1(proc1, std::ref(end0));
    ipc::Process p2(proc2, std::ref(end1));
    p1.start();
    p2.start();
    // The parent takes no part: it closes its copies of both ends.
    end0.close();
    end1.close();
    p1.join();
    p2.join();
    std::printf("\n");
    check(p1.exitcode() == 0 && p2.exitcode() == 0, "each process got the other's message");
}

// Part 3 ---------------------------------------------------------------------
void writer(ipc::Connection<std::string>& w, ipc::Connection<std::string>& r) {
    r.close();  // not this process's end
    for (int i = 1; i <= 5; ++i) w.send("line " + std::to_string(i));
    // Returning (and exiting) closes w: the reader then sees EOF.
}

void reader(ipc::Connection<std::string>& r, ipc::Connection<std::string>& w) {
    w.close();  // not this process's end; a copy left open would hold EOF back
    int count = 0;
    while (const std::optional<std::string> line = r.recv()) {
        std::printf("reader got: %s\n", line->c_str());
        if (*line != "line " + std::to_string(++count)) throw std::runtime_error("out of order");
    }
    std::printf("reader: EOF after %d lines\n", count);
    if (count != 5) throw std::runtime_error("lines were lost");
}

void one_way_pipe() {
    std::printf("== Part 3: Pipe(duplex=False): a writer process and a reader process\n");
    auto [r, w] = ipc::pipe<std::string>(false);  // r only receives, w only sends
    std::printf("r: readable=%d writable=%d; w: readable=%d writable=%d\n", r.readable(),
                r.writable(), w.readable(), w.writable());
    ipc::Process pw(writer, std::ref(w), std::ref(r));
    ipc::Process pr(reader, std::ref(r), std::ref(w));
    pw.start();
    pr.start();
    r.close();  // the parent's copies
    w.close();
    pw.join();
    pr.join();
    check(pw.exitcode() == 0 && pr.exitcode() == 0, "five lines, in order, then EOF");
}

}  // namespace

// Nothing here takes long: --smoke (passed by the test suite) changes nothing.
int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // keep the processes' lines in order
    ringlet::run([] {
        child_sends_to_parent();
        two_children_talk();
        one_way_pipe();
    });
    if (!ok) {
        std::fprintf(stderr, "pipe_duplex: a check failed\n");
        return 1;
    }
    return 0;
}
