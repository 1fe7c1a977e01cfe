// pool_core.hpp — the state of a ProcessPool, shared by its three sides.
//
// The parent (process_pool.cpp) submits tasks into one shared-memory queue
// per worker slot and reads every result from one shared result queue on its
// result thread. The fork server and the workers (pool_worker.cpp) are
// forked copies that use the queues and the control connection of this
// struct. Messages:
//   task    u64 id, u64 invoker, u64 fn, arguments (id 0: "exit now")
//   result  u64 id, u8 status, payload: the result, or (type, message)
// Control (parent <-> fork server) is a pipe of ControlMessage.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <ringlet/ipc/pipe.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/ipc/process_pool.hpp>
#include <ringlet/ipc/queue.hpp>
#include <ringlet/thread.hpp>

namespace ringlet::ipc::detail {

struct ControlMessage {
    enum Kind : std::uint32_t {
        spawn,     // parent -> server: start a worker for `slot`
        shutdown,  // parent -> server: exit once every worker has exited
        kill_all,  // parent -> server: SIGKILL every worker, then exit
        started,   // server -> parent: `slot` runs as `pid`
        exited,    // server -> parent: `slot`'s worker `pid` ended with `code`
    };
    std::uint32_t kind = spawn;
    std::uint32_t slot = 0;
    std::int32_t pid = 0;
    std::int32_t code = 0;  // Process::exitcode(): status, or -signal
};

inline constexpr std::uint64_t stop_task_id = 0;
// A result with this id: a worker's initializer threw (payload as an error).
inline constexpr std::uint64_t initializer_failed_id = ~std::uint64_t{0};

enum class ResultStatus : std::uint8_t { ok = 0, error = 1 };

struct PoolCore::Impl {
    Impl(std::size_t processes, PoolOptions options);

    // ---- fixed at construction; read by the forked sides too ----
    const std::size_t processes;
    const PoolOptions options;
    const pid_t owner_pid;
    std::vector<QueueCore> task_queues;  // one per slot
    QueueCore results;
    Connection<ControlMessage> control;        // the parent's end
    Connection<ControlMessage> server_control;  // the fork server's end (closed in the parent)
    Process fork_server;
    Thread<void> result_thread;

    // ---- the parent's bookkeeping, under `lock` ----
    enum class Phase { running, closed, stopping, terminated, broken };
    struct Slot {
        std::deque<std::uint64_t> outstanding;  // ids put into its queue, oldest first
        pid_t pid = 0;                          // 0 while being (re)started
    };
    struct Entry {
        std::shared_ptr<PoolTaskSink> sink;
        int slot = -1;  // -1: in the backlog
    };
    struct Queued {
        std::uint64_t id;
        std::string message;
    };
    mutable std::mutex lock;
    Phase phase = Phase::running;
    std::string broken_why;
    std::uint64_t next_id = 1;
    std::vector<Slot> slots;
    std::unordered_map<std::uint64_t, Entry> tasks;
    std::deque<Queued> backlog;
    bool joined = false;
};

// The fork server's body (in its own process, inside a fresh run()).
void run_fork_server(PoolCore::Impl& pool) noexcept;

}  // namespace ringlet::ipc::detail
