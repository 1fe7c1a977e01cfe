// process_pool.cpp — the parent's side of a ProcessPool: dispatch, results, recovery.
//
// Every task id is in exactly one place: the backlog, or one slot's
// `outstanding` list (the ids put into that slot's queue, oldest first). A
// worker takes tasks from its own queue one at a time and commits a result
// before taking the next, so when it dies, after the results it committed are
// drained, `outstanding.size() - queue.size()` is the number of tasks it had
// taken without answering: 0 or 1, the oldest. That one fails with
// WorkerLost; the rest stay queued for the replacement worker.
//
// `lock` is a std::mutex held only for bookkeeping and non-waiting queue
// puts; nothing suspends under it (the result thread's two tasks share it).
// Sinks are completed and control messages sent after it is released.
#include <ringlet/ipc/process_pool.hpp>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "describe_exception.hpp"
#include "pool_core.hpp"

namespace ringlet::ipc::detail {

namespace {

std::atomic<int> pool_counter{0};

// Tasks queued per worker. Deep enough that a worker rarely runs dry (and
// sleeps) while the result thread catches up: with 2, small-task throughput
// is 2.5x lower. The imbalance a deep queue could cause (short tasks stuck
// behind a long one) is undone by stealing, see balance_locked().
constexpr std::size_t per_worker_depth = 16;

constexpr std::size_t result_header_size = sizeof(std::uint64_t) + 1;

std::uint64_t read_id(std::string_view message) {
    std::uint64_t id = 0;
    if (message.size() >= sizeof id) std::memcpy(&id, message.data(), sizeof id);
    return id;
}

std::string signal_name(int sig) {
    if (const char* abbrev = ::sigabbrev_np(sig)) return std::string("SIG") + abbrev;
    return "signal " + std::to_string(sig);
}

std::exception_ptr worker_lost(std::size_t slot, pid_t pid, int code) {
    std::string what = "ringlet::ipc::ProcessPool: worker " + std::to_string(slot + 1) + " (pid " +
                       std::to_string(pid) + ") ";
    if (code < 0) {
        what += "was killed by " + signal_name(-code);
    } else {
        what += "exited with code " + std::to_string(code);
    }
    what += " while running the task";
    return std::make_exception_ptr(WorkerLost(what, code < 0 ? -code : 0, code));
}

// A task's outcome, delivered once the lock is released.
struct Completion {
    std::shared_ptr<PoolTaskSink> sink;
    std::string result;  // the whole result message, if no error
    std::exception_ptr error;
};

void deliver(std::vector<Completion>& done) noexcept {
    for (Completion& c : done) {
        if (c.error) {
            c.sink->fail(std::move(c.error));
            continue;
        }
        const std::string_view payload = std::string_view(c.result).substr(result_header_size);
        if (static_cast<ResultStatus>(c.result[sizeof(std::uint64_t)]) == ResultStatus::ok) {
            c.sink->complete(payload);
            continue;
        }
        try {
            auto [type, message] = decode<std::pair<std::string, std::string>>(payload);
            c.sink->fail(std::make_exception_ptr(RemoteError(std::move(type), std::move(message))));
        } catch (...) {
            c.sink->fail(std::current_exception());
        }
    }
    done.clear();
}

using Impl = PoolCore::Impl;

void refill_locked(Impl& p, std::size_t slot) {
    auto& outstanding = p.slots[slot].outstanding;
    while (outstanding.size() < per_worker_depth && !p.backlog.empty()) {
        Impl::Queued& q = p.backlog.front();
        if (!p.task_queues[slot].put(q.message, TimePoint::min())) break;
        outstanding.push_back(q.id);
        p.tasks.at(q.id).slot = static_cast<int>(slot);
        p.backlog.pop_front();
    }
}

// When `slot` is about to run dry and nothing is in the backlog, moves half
// the surplus of the most loaded worker's queue to it. Taking a message out
// of a queue is atomic, so the worker it came from either runs it or never
// sees it; the victim's `outstanding` loses exactly the id we got.
void balance_locked(Impl& p, std::size_t slot) {
    auto& mine = p.slots[slot].outstanding;
    if (!p.backlog.empty() || mine.size() >= 2) return;
    std::size_t victim = slot;
    for (std::size_t i = 0; i < p.processes; ++i) {
        if (p.slots[i].outstanding.size() > p.slots[victim].outstanding.size()) victim = i;
    }
    auto& theirs = p.slots[victim].outstanding;
    if (victim == slot) return;
    std::string message;
    for (std::size_t n = (theirs.size() - mine.size()) / 2; n > 0; --n) {
        if (!p.task_queues[victim].get(message, TimePoint::min())) break;
        const std::uint64_t id = read_id(message);
        std::erase(theirs, id);
        auto it = p.tasks.find(id);
        if (it == p.tasks.end()) continue;  // cannot happen: every queued id is a task
        Impl::Entry& entry = it->second;
        if (!p.task_queues[slot].put(message, TimePoint::min())) {
            entry.slot = -1;
            p.backlog.push_front({id, std::move(message)});
            break;
        }
        mine.push_back(id);
        entry.slot = static_cast<int>(slot);
    }
}

// Fails every task (terminate, a broken pool).
void fail_all_locked(Impl& p, const std::exception_ptr& error, std::vector<Completion>& done) {
    for (auto& [id, entry] : p.tasks) done.push_back({std::move(entry.sink), {}, error});
    p.tasks.clear();
    p.backlog.clear();
    for (auto& s : p.slots) s.outstanding.clear();
}

void take_result_locked(Impl& p, std::string message, std::vector<Completion>& done) {
    if (message.size() < result_header_size) return;  // not ours: ignore
    const std::uint64_t id = read_id(message);
    if (id == initializer_failed_id) {
        if (p.phase == Impl::Phase::terminated) return;
        std::string why = "the pool's initializer failed in a worker";
        try {
            auto [type, what] = decode<std::pair<std::string, std::string>>(
                std::string_view(message).substr(result_header_size));
            why += ": " + type + ": " + what;
        } catch (const std::exception&) {
        }
        p.phase = Impl::Phase::broken;
        p.broken_why = why;
        fail_all_locked(p, std::make_exception_ptr(RemoteError("ringlet::ipc::ProcessPool", why)),
                        done);
        return;
    }
    auto it = p.tasks.find(id);
    if (it == p.tasks.end()) return;  // failed already (terminate)
    Impl::Entry entry = std::move(it->second);
    p.tasks.erase(it);
    if (entry.slot >= 0) {
        auto& outstanding = p.slots[static_cast<std::size_t>(entry.slot)].outstanding;
        if (!outstanding.empty() && outstanding.front() == id) {
            outstanding.pop_front();
        } else {
            std::erase(outstanding, id);
        }
        refill_locked(p, static_cast<std::size_t>(entry.slot));
        balance_locked(p, static_cast<std::size_t>(entry.slot));
    }
    done.push_back({std::move(entry.sink), std::move(message), nullptr});
}

// Results already committed (by a worker that has just died, say).
void drain_results_locked(Impl& p, std::vector<Completion>& done) {
    std::string message;
    while (p.results.get(message, TimePoint::min())) {
        if (read_id(message) == stop_task_id) {
            // Only the control task puts this; keep it for the result loop.
            p.results.put(message, TimePoint::min());
            break;
        }
        take_result_locked(p, std::move(message), done);
    }
}

// After close(), once nothing is left: ask every worker and the server to exit.
bool begin_stop_locked(Impl& p) {
    if (p.phase != Impl::Phase::closed || !p.tasks.empty()) return false;
    p.phase = Impl::Phase::stopping;
    return true;
}

void send_control(Impl& p, ControlMessage m) noexcept {
    try {
        p.control.send(m);
    } catch (const std::exception&) {
        // The fork server is gone; the control task sees EOF and cleans up.
    }
}

void send_stop(Impl& p) noexcept {
    std::string stop(pool_task_header_size, '\0');
    for (auto& q : p.task_queues) {
        try {
            q.put(stop, TimePoint::min());  // the queue is empty: nothing is outstanding
        } catch (const std::exception&) {
        }
    }
    send_control(p, {ControlMessage::shutdown, 0, 0, 0});
}

void handle_control(Impl& p, const ControlMessage& m) {
    if (m.slot >= p.processes) return;
    std::vector<Completion> done;
    bool respawn = false;
    bool stop = false;
    {
        std::lock_guard guard(p.lock);
        Impl::Slot& slot = p.slots[m.slot];
        if (m.kind == ControlMessage::started) {
            slot.pid = m.pid;
            refill_locked(p, m.slot);
            balance_locked(p, m.slot);
        } else if (m.kind == ControlMessage::exited) {
            drain_results_locked(p, done);
            if (slot.pid == m.pid) slot.pid = 0;
            const std::size_t queued = p.task_queues[m.slot].size();
            std::size_t lost = slot.outstanding.size() > queued ? slot.outstanding.size() - queued : 0;
            for (; lost > 0; --lost) {
                const std::uint64_t id = slot.outstanding.front();
                slot.outstanding.pop_front();
                auto it = p.tasks.find(id);
                if (it == p.tasks.end()) continue;
                done.push_back({std::move(it->second.sink), {}, worker_lost(m.slot, m.pid, m.code)});
                p.tasks.erase(it);
            }
            respawn = p.phase == Impl::Phase::running || p.phase == Impl::Phase::closed;
            stop = begin_stop_locked(p);
            if (stop) respawn = false;
        }
    }
    deliver(done);
    if (respawn) send_control(p, {ControlMessage::spawn, m.slot, 0, 0});
    if (stop) send_stop(p);
}

// The control connection reached EOF: the fork server has exited.
void fork_server_gone(Impl& p) {
    std::vector<Completion> done;
    {
        std::lock_guard guard(p.lock);
        drain_results_locked(p, done);
        if (p.phase != Impl::Phase::terminated && p.phase != Impl::Phase::stopping) {
            p.phase = Impl::Phase::broken;
            p.broken_why = "its fork server died";
            fail_all_locked(p,
                            std::make_exception_ptr(WorkerLost(
                                "ringlet::ipc::ProcessPool: the pool's fork server died", 0, 0)),
                            done);
        }
        for (auto& s : p.slots) s.pid = 0;
    }
    deliver(done);
}

void result_loop(Impl& p) {
    auto control_task = spawn(SpawnOptions{.name = "pool-control"}, [&p] {
        try {
            while (auto m = p.control.recv()) handle_control(p, *m);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "ringlet: ProcessPool control connection failed: %s\n", e.what());
        }
        fork_server_gone(p);
        std::string stop(result_header_size, '\0');
        p.results.put(stop, TimePoint::max());
    });
    std::string message;
    std::vector<Completion> done;
    for (;;) {
        p.results.get(message, TimePoint::max());
        if (read_id(message) == stop_task_id) break;
        bool stop = false;
        bool stop_seen = false;
        {
            std::lock_guard guard(p.lock);
            take_result_locked(p, std::move(message), done);
            // Whatever else has arrived goes under the same lock: under load
            // this takes the lock once per batch, not once per result.
            for (int n = 0; n < 64 && p.results.get(message, TimePoint::min()); ++n) {
                if (read_id(message) == stop_task_id) {
                    stop_seen = true;
                    break;
                }
                take_result_locked(p, std::move(message), done);
            }
            stop = begin_stop_locked(p);
        }
        deliver(done);
        if (stop) send_stop(p);
        if (stop_seen) break;
    }
    control_task.join();
}

std::string pool_name(std::string name) {
    if (!name.empty()) return name;
    return "ProcessPool-" + std::to_string(++pool_counter);
}

std::size_t checked_processes(std::size_t n) {
    if (n == 0) throw UsageError("ringlet::ipc::ProcessPool: processes must be at least 1");
    return n;
}

}  // namespace

PoolCore::Impl::Impl(std::size_t n, PoolOptions o)
    : processes(checked_processes(n)),
      options([&] {
          o.name = pool_name(std::move(o.name));
          return std::move(o);
      }()),
      owner_pid(::getpid()),
      results(0, 2 * options.max_message_size + 64),
      slots(processes) {
    task_queues.reserve(processes);
    for (std::size_t i = 0; i < processes; ++i) {
        task_queues.emplace_back(0, 2 * (options.max_message_size + pool_task_header_size) + 64);
    }
    std::tie(control, server_control) = pipe<ControlMessage>();
}

PoolCore::PoolCore(std::size_t processes, PoolOptions options)
    : impl_(std::make_unique<Impl>(processes, std::move(options))) {
    Impl& p = *impl_;
    // The fork server is forked first, from this thread, before the pool has
    // a thread of its own: it (and every worker it forks) inherits no lock
    // that one of the pool's threads could hold.
    p.fork_server = Process(ProcessOptions{.name = p.options.name + "-forkserver", .daemon = true},
                            [&p] { run_fork_server(p); });
    p.fork_server.start();
    p.server_control.close();  // the server's end lives on in the server only
    p.result_thread = Thread<void>([&p] { result_loop(p); });
    for (std::uint32_t slot = 0; slot < p.processes; ++slot) {
        send_control(p, {ControlMessage::spawn, slot, 0, 0});
    }
}

PoolCore::~PoolCore() {
    if (!impl_) return;
    if (::getpid() != impl_->owner_pid) {
        // A forked copy: the threads and children are the owner's. Nothing of
        // it may be torn down here.
        (void)impl_.release();
        return;
    }
    try {
        if (!impl_->joined) terminate();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ringlet: ProcessPool: terminating in the destructor failed: %s\n",
                     e.what());
    }
}

void PoolCore::submit(std::string& message, std::shared_ptr<PoolTaskSink> sink) {
    Impl& p = *impl_;
    if (current_pid() != p.owner_pid) {
        throw UsageError("ringlet::ipc::ProcessPool: the pool belongs to process " +
                         std::to_string(p.owner_pid) + "; a forked child cannot use it");
    }
    if (message.size() > p.options.max_message_size + pool_task_header_size) {
        throw CodecError("ringlet::ipc::ProcessPool: a task of " +
                         std::to_string(message.size() - pool_task_header_size) +
                         " bytes is larger than PoolOptions::max_message_size (" +
                         std::to_string(p.options.max_message_size) + ")");
    }
    std::lock_guard guard(p.lock);
    switch (p.phase) {
    case Impl::Phase::running:
        break;
    case Impl::Phase::broken:
        throw UsageError("ringlet::ipc::ProcessPool: the pool is broken (" + p.broken_why + ")");
    case Impl::Phase::terminated:
        throw UsageError("ringlet::ipc::ProcessPool: the pool was terminated");
    default:
        throw UsageError("ringlet::ipc::ProcessPool: the pool is closed");
    }
    const std::uint64_t id = p.next_id++;
    std::memcpy(message.data(), &id, sizeof id);
    p.tasks.emplace(id, Impl::Entry{std::move(sink), -1});
    if (p.backlog.empty()) {
        std::size_t best = p.processes;
        for (std::size_t i = 0; i < p.processes; ++i) {
            const std::size_t depth = p.slots[i].outstanding.size();
            if (depth >= per_worker_depth) continue;
            if (best == p.processes || depth < p.slots[best].outstanding.size() ||
                (depth == p.slots[best].outstanding.size() && p.slots[best].pid == 0)) {
                best = i;
            }
        }
        if (best != p.processes && p.task_queues[best].put(message, TimePoint::min())) {
            p.slots[best].outstanding.push_back(id);
            p.tasks.at(id).slot = static_cast<int>(best);
            return;
        }
    }
    p.backlog.push_back({id, std::move(message)});
}

void PoolCore::close() {
    Impl& p = *impl_;
    bool stop = false;
    {
        std::lock_guard guard(p.lock);
        if (p.phase == Impl::Phase::running) p.phase = Impl::Phase::closed;
        stop = begin_stop_locked(p);
    }
    if (stop) send_stop(p);
}

void PoolCore::join() {
    Impl& p = *impl_;
    {
        std::lock_guard guard(p.lock);
        if (p.phase == Impl::Phase::running) {
            throw UsageError("ringlet::ipc::ProcessPool::join: close() or terminate() the pool first");
        }
        if (p.joined) return;
    }
    p.result_thread.join();
    p.fork_server.join();
    std::lock_guard guard(p.lock);
    p.joined = true;
}

void PoolCore::terminate() {
    Impl& p = *impl_;
    std::vector<Completion> done;
    bool kill = false;
    {
        std::lock_guard guard(p.lock);
        if (p.joined) return;
        if (p.phase != Impl::Phase::terminated) {
            kill = true;  // a broken pool's server may still run: it exits on kill_all too
            p.phase = Impl::Phase::terminated;
            fail_all_locked(p, std::make_exception_ptr(PoolTerminated()), done);
        }
    }
    deliver(done);
    if (kill) send_control(p, {ControlMessage::kill_all, 0, 0, 0});
    join();
}

std::size_t PoolCore::processes() const noexcept { return impl_->processes; }
std::size_t PoolCore::max_message_size() const noexcept { return impl_->options.max_message_size; }

std::vector<pid_t> PoolCore::worker_pids() const {
    std::lock_guard guard(impl_->lock);
    std::vector<pid_t> pids;
    for (const auto& s : impl_->slots) {
        if (s.pid != 0) pids.push_back(s.pid);
    }
    return pids;
}

void PromiseSink::complete(std::string_view result) noexcept {
    promise_.set_value(std::string(result));
    finish();
}

void PromiseSink::fail(std::exception_ptr error) noexcept {
    promise_.set_exception(std::move(error));
    finish();
}

void PromiseSink::finish() noexcept {
    if (!after) return;
    try {
        after(promise_.get_future());
    } catch (...) {
        report_callback_failure(
            ringlet::detail::describe_exception(std::current_exception()).c_str());
    }
}

void ChannelSink::complete(std::string_view result) noexcept {
    try {
        channel_->send(PoolOutcome(std::in_place_index<0>, result));
    } catch (...) {
        // The stream was dropped and its channel closed: nobody wants it.
    }
}

void ChannelSink::fail(std::exception_ptr error) noexcept {
    try {
        channel_->send(PoolOutcome(std::in_place_index<1>, std::move(error)));
    } catch (...) {
    }
}

void throw_result_timeout() {
    throw TimeoutError("ringlet::ipc::AsyncResult::get: the result was not ready in time");
}

void report_callback_failure(const char* what) noexcept {
    std::fprintf(stderr, "ringlet: a ProcessPool callback failed: %s\n", what);
}

}  // namespace ringlet::ipc::detail
