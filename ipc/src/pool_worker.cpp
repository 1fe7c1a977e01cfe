// pool_worker.cpp — the forked sides of a ProcessPool: its fork server and workers.
//
// The fork server is single-threaded: it forks a worker whenever the parent
// asks, watches each with a pidfd and reports its exit status (only a
// parent can reap, and the workers are its children). It exits when the
// parent asks (shutdown: once the workers have exited; kill_all: after
// killing them), when the control connection closes, or when the parent
// process dies (watched through a pidfd of the parent). Workers get
// PR_SET_PDEATHSIG, so they never outlive it.
#include <cxxabi.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include <ringlet/event.hpp>
#include <ringlet/task.hpp>
#include <ringlet/time.hpp>

#include "child_exit.hpp"
#include "describe_exception.hpp"
#include "pool_core.hpp"

namespace ringlet::ipc::detail {

namespace {

void write_error(Writer& out, std::uint64_t id, const std::pair<std::string, std::string>& error) {
    out.bytes().clear();
    out.write(id);
    out.write(static_cast<std::uint8_t>(ResultStatus::error));
    out.write(error);
}

void run_worker(PoolCore::Impl& pool, std::uint32_t slot, pid_t server) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != server) std::_Exit(0);  // the server died before the prctl
    pool.server_control.close();

    Writer out;
    if (pool.options.initializer != nullptr) {
        try {
            pool.options.initializer();
        } catch (...) {
            write_error(out, initializer_failed_id, ringlet::detail::exception_parts(std::current_exception()));
            pool.results.put(out.bytes(), TimePoint::max());
            std::_Exit(1);
        }
    }
    QueueCore& tasks = pool.task_queues[slot];
    const std::size_t limit = pool.options.max_message_size + sizeof(std::uint64_t) + 1;
    std::string task;
    for (std::size_t done = 0;;) {
        tasks.get(task, TimePoint::max());
        if (task.size() < pool_task_header_size) continue;  // cannot happen: we wrote it
        std::uint64_t header[3];
        std::memcpy(header, task.data(), sizeof header);
        if (header[0] == stop_task_id) return;
        out.bytes().clear();
        out.write(header[0]);
        out.write(static_cast<std::uint8_t>(ResultStatus::ok));
        try {
            Reader in(std::string_view(task).substr(pool_task_header_size));
            const auto invoker = reinterpret_cast<PoolInvoker>(static_cast<std::uintptr_t>(header[1]));
            invoker(static_cast<std::uintptr_t>(header[2]), in, out);
            in.expect_end();
        } catch (...) {
            write_error(out, header[0], ringlet::detail::exception_parts(std::current_exception()));
        }
        if (out.size() > limit) {
            write_error(out, header[0],
                        {"ringlet::ipc::CodecError",
                         "the result of " + std::to_string(out.size()) +
                             " bytes is larger than PoolOptions::max_message_size (" +
                             std::to_string(pool.options.max_message_size) + ")"});
        }
        pool.results.put(out.bytes(), TimePoint::max());
        if (pool.options.maxtasksperchild != 0 && ++done >= pool.options.maxtasksperchild) return;
    }
}

// The fork server's state, on its main task's stack.
struct ForkServer {
    explicit ForkServer(PoolCore::Impl& p) : pool(p), workers(p.processes) {}

    PoolCore::Impl& pool;
    std::vector<std::unique_ptr<Process>> workers;  // by slot; null when none runs
    std::size_t live = 0;
    bool stopping = false;
    Event done;

    void report(ControlMessage m) noexcept {
        try {
            pool.server_control.send(m);
        } catch (const std::exception&) {
            // The parent is gone or closed the connection; we are ending anyway.
        }
    }

    void maybe_done() {
        if (stopping && live == 0) done.set();
    }

    void kill_all() noexcept {
        for (auto& w : workers) {
            try {
                if (w) w->kill();
            } catch (const std::exception&) {
            }
        }
    }

    void start_worker(std::uint32_t slot) {
        if (slot >= workers.size() || workers[slot] || stopping) return;
        const pid_t server = ::getpid();
        auto worker = std::make_unique<Process>(
            ProcessOptions{.name = pool.options.name + "-worker-" + std::to_string(slot + 1)},
            [this, slot, server] { run_worker(pool, slot, server); });
        try {
            worker->start();
        } catch (const std::exception& e) {
            // fork failed (EAGAIN, ENOMEM): try again a little later.
            std::fprintf(stderr, "ringlet: ProcessPool %s: starting worker %u failed: %s\n",
                         pool.options.name.c_str(), slot + 1, e.what());
            spawn([this, slot] {
                sleep(std::chrono::milliseconds(100));
                start_worker(slot);
            });
            return;
        }
        Process* w = worker.get();
        workers[slot] = std::move(worker);
        ++live;
        report({ControlMessage::started, slot, static_cast<std::int32_t>(w->pid()), 0});
        spawn(SpawnOptions{.name = "pool-worker-watch"}, [this, slot, w] {
            w->join();
            const int code = w->exitcode().value_or(0);
            const pid_t pid = w->pid();
            workers[slot].reset();
            --live;
            report({ControlMessage::exited, slot, static_cast<std::int32_t>(pid), code});
            maybe_done();
        });
    }

    void serve() {
        try {
            while (auto m = pool.server_control.recv()) {
                switch (m->kind) {
                case ControlMessage::spawn:
                    start_worker(m->slot);
                    break;
                case ControlMessage::shutdown:
                    stopping = true;
                    break;
                case ControlMessage::kill_all:
                    stopping = true;
                    kill_all();
                    break;
                default:
                    break;
                }
                maybe_done();
            }
        } catch (const std::exception& e) {
            std::fprintf(stderr, "ringlet: ProcessPool fork server: %s\n", e.what());
        }
        // The parent closed the connection (or it broke): nobody is left to
        // give the workers tasks.
        stopping = true;
        kill_all();
        maybe_done();
    }

    void watch_parent() {
        try {
            auto pidfd = open_pidfd(pool.owner_pid);
            if (::getppid() == pool.owner_pid) wait_exit(pidfd.get(), TimePoint::max());
        } catch (const std::exception&) {
            // ESRCH: the parent is already gone.
        }
        stopping = true;
        kill_all();
        maybe_done();
    }
};

}  // namespace

void run_fork_server(PoolCore::Impl& pool) noexcept {
    try {
        pool.control.close();  // the parent's end: only the parent keeps it
        ForkServer server(pool);
        auto parent_watch = spawn(SpawnOptions{.name = "pool-parent-watch"},
                                  [&server] { server.watch_parent(); });
        auto control = spawn(SpawnOptions{.name = "pool-control"}, [&server] { server.serve(); });
        server.done.wait();
        parent_watch.cancel();
        control.cancel();
        parent_watch.join();
        control.join();
    } catch (...) {
        std::fprintf(stderr, "ringlet: ProcessPool fork server failed\n");
        std::fflush(stderr);
        std::_Exit(1);
    }
}

}  // namespace ringlet::ipc::detail
