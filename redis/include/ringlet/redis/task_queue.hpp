// ringlet/redis/task_queue.hpp — functions by name, run by workers on any machine.
//
// TaskQueue is Celery's model on Redis Streams. submit("name", args...) adds
// an entry (function name, Codec-encoded arguments, task id, reply list) to
// the stream `<name>:tasks`; workers — processes anywhere that registered the
// same functions and called work() — are consumers of one group "workers" and
// read entries with XREADGROUP, each running `concurrency` tasks at a time.
// Function pointers do not cross machines, so functions are registered by
// name on every worker.
//
// Delivery: a worker finishes an entry with one script that stores the
// result under `<name>:result:<id>` (SET NX with result_ttl: the first
// result wins, a re-run's duplicate is dropped), pushes a notification to
// the submitter's reply list, and acknowledges the entry (XACK, XDEL). An
// entry whose worker died stays pending; after visibility_timeout any worker
// claims it (XAUTOCLAIM) and runs it again. An entry delivered more than
// max_deliveries times goes to the dead-letter stream `<name>:dead` and its
// result fails with redis::DeadLetter. A task that runs longer than
// visibility_timeout may therefore run twice; its result still arrives once.
//
// A TaskQueue is used by the tasks of the thread that made it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include <ringlet/ipc/codec.hpp>
#include <ringlet/ipc/errors.hpp>
#include <ringlet/promise.hpp>
#include <ringlet/redis/client.hpp>
#include <ringlet/redis/errors.hpp>

namespace ringlet::redis {

struct TaskQueueOptions {
    Duration visibility_timeout = std::chrono::seconds(30);  // then a pending entry is re-run
    std::size_t max_deliveries = 3;                          // then the dead-letter stream
    Duration result_ttl = std::chrono::hours(1);             // results and reply lists expire
    std::size_t prefetch = 8;                                // entries a worker task reads at once
    std::size_t max_connections = 32;                        // of this TaskQueue's connection pool
};

namespace detail {

// How an argument travels: strings of any spelling as std::string, the rest
// decayed (so submit("f", "text") and void f(const std::string&) agree).
template <class A>
using WireArg = std::conditional_t<std::is_same_v<std::decay_t<A>, const char*> ||
                                       std::is_same_v<std::decay_t<A>, char*> ||
                                       std::is_same_v<std::decay_t<A>, std::string_view>,
                                   std::string, std::decay_t<A>>;

// Outcome bytes of one task: status 0 = value (a = encoded value),
// 1 = exception (a = type, b = message), 2 = dead letter (a = why).
using Outcome = std::tuple<std::uint8_t, std::string, std::string>;

// Decodes an outcome: the value's bytes, or throws RemoteError / DeadLetter.
std::string open_outcome(const std::string& bytes);

}  // namespace detail

// The pending result of submit(): gevent's AsyncResult over the network.
template <class R>
class AsyncResult {
  public:
    AsyncResult() = default;

    // Waits up to `timeout` and returns the function's value.
    // Suspends. Throws: TimeoutError (not there in time; scope() is nullptr),
    // ipc::RemoteError (the function threw, or no worker has it),
    // redis::DeadLetter, ipc::CodecError, std::future_error if the TaskQueue
    // was destroyed first, Cancelled, UsageError if empty.
    R get(Duration timeout = forever) const {
        if (!checked().wait(timeout)) {
            throw TimeoutError("ringlet::redis::AsyncResult::get: task " + id_ +
                               " has no result yet");
        }
        const std::string bytes = detail::open_outcome(future_.get());
        if constexpr (!std::is_void_v<R>) return ipc::decode<R>(bytes);
    }
    // Waits up to `timeout`; true once the outcome is there.
    // Suspends. Throws: Cancelled, TimeoutError (enclosing scope).
    bool wait(Duration timeout = forever) const { return checked().wait(timeout); }
    bool ready() const { return checked().ready(); }
    bool valid() const noexcept { return future_.valid(); }
    // The task id (the entry's "id" field, the result key's suffix).
    const std::string& id() const noexcept { return id_; }

  private:
    friend class TaskQueue;
    AsyncResult(Future<std::string> f, std::string id)
        : future_(std::move(f)), id_(std::move(id)) {}
    const Future<std::string>& checked() const {
        if (!future_.valid()) throw UsageError("ringlet::redis::AsyncResult: empty result");
        return future_;
    }
    Future<std::string> future_;
    std::string id_;
};

class TaskQueue {
  public:
    // Takes `client` for this TaskQueue's reply list and makes a pool of
    // options.max_connections to the same endpoint (same ClientOptions);
    // creates the stream and the group if they do not exist.
    // Suspends. Throws: ConnectionError, AuthError, redis::Error.
    TaskQueue(Client client, std::string name, TaskQueueOptions options = {});
    TaskQueue(TaskQueue&&) noexcept;
    TaskQueue& operator=(TaskQueue&&) noexcept;
    // Cancels this queue's reader and worker tasks (never suspends); results
    // still pending fail with std::future_error.
    ~TaskQueue();

    // Makes `fn` callable by submit(name, ...) on this worker. The arguments
    // and result go through ipc::Codec. Register the same set on every worker.
    template <class R, class... A>
    void register_function(std::string name, R (*fn)(A...)) {
        add_function(std::move(name), [fn](std::string_view args) -> std::string {
            auto tuple = ipc::decode<std::tuple<detail::WireArg<A>...>>(args);
            if constexpr (std::is_void_v<R>) {
                std::apply(fn, std::move(tuple));
                return {};
            } else {
                return ipc::encode(std::apply(fn, std::move(tuple)));
            }
        });
    }

    // Queues a call of the function registered as `fn` with `args` (encoded
    // as std::tuple<WireArg<A>...>: the types must match the function's
    // decayed parameters). R is the function's return type.
    // Suspends (one XADD). Throws: ConnectionError (it may have been queued),
    // redis::Error, TimeoutError, Cancelled.
    template <class R, class... A>
    AsyncResult<R> submit(std::string_view fn, const A&... args) {
        std::string id;
        Future<std::string> f =
            submit_encoded(fn, ipc::encode(std::tuple<detail::WireArg<A>...>(args...)), id);
        return AsyncResult<R>(std::move(f), std::move(id));
    }

    // Runs this process as a worker: `concurrency` tasks read, run and
    // acknowledge entries until stop() (or cancellation).
    // Suspends. Throws: Cancelled; connection losses are retried with backoff.
    // Cancellation: entries being run stay pending and are re-run elsewhere
    // after visibility_timeout.
    void work(std::size_t concurrency);
    // Makes work() return once its tasks have finished the entries they hold
    // (within about half a second when idle). Never suspends.
    void stop() noexcept;

    // Tasks this object has run to a result as a worker (dead letters excluded).
    std::size_t executed() const noexcept;
    // Entries in the dead-letter stream. Suspends. Throws: as submit().
    std::size_t dead_letter_count();
    // The stream keys, for inspection: "<name>:tasks", "<name>:dead".
    const std::string& stream() const noexcept;
    const std::string& dead_letter_stream() const noexcept;
    const std::string& consumer() const noexcept;

    struct State;

  private:
    void add_function(std::string name, std::function<std::string(std::string_view)> invoker);
    Future<std::string> submit_encoded(std::string_view fn, std::string args, std::string& id);
    std::shared_ptr<State> state_;
};

}  // namespace ringlet::redis
