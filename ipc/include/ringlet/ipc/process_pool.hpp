// ringlet/ipc/process_pool.hpp — a pool of worker processes that run functions.
//
// ipc::ProcessPool is Python's multiprocessing.Pool: n worker processes take
// tasks (a plain function pointer and its arguments) and send back results.
// apply() waits for one result; apply_async() returns an AsyncResult at once
// and may call a callback; map()/starmap() split a range into chunks and
// return the results in order; imap()/imap_unordered() stream them.
//
// Who may call: tasks (every wait suspends only the task; 1 000 tasks of one
// thread may each apply() at once and each gets its own result) and plain
// threads (waits block). A pool may be shared by tasks of several threads.
// Arguments and results cross the process boundary as Codec<T> bytes
// (codec.hpp); parameters are decoded as their decayed types.
//
// How it is built: the constructor forks a fork server, from the calling
// thread, before the pool starts its one thread of its own (its result
// thread); every worker is forked from that single-threaded fork server, so a
// worker can never inherit a lock held by one of the pool's threads. (Locks
// held by OTHER threads of your program when the constructor runs are copied
// into the fork server, as with any fork: create pools early.) Each worker
// runs a ringlet scheduler of its own, so a pooled function may spawn tasks,
// sleep and do IO; a worker runs one task at a time. Tasks reach workers
// through a shared-memory queue per worker, results come back through one
// shared-memory queue. Workers die with the fork server, which dies with the
// pool's process (a killed parent leaves no workers behind).
//
// Failures: an exception thrown by the function fails that result with
// RemoteError (the exception's type and message). A worker killed by a signal
// (SIGKILL, abort(), a segfault…) fails only the task it was running, with
// WorkerLost naming the signal; the worker is replaced at once and the tasks
// queued behind it run on the replacement (Python's Pool hangs here,
// cpython #82265). terminate() — and destroying a pool not join()ed — kills
// the workers and fails every unfinished task with PoolTerminated.
//
// Functions must be plain function pointers (`R (*)(A...)`, checked at
// compile time): workers are forked from this binary, so the address names
// the same function there. Lambdas without captures convert with a unary +.
//
//   int square(int x) { return x * x; }
//   ringlet::ipc::ProcessPool pool(4);
//   int nine = pool.apply(square, 3);
//   auto r = pool.apply_async(square, 4, [](int v) { std::printf("%d\n", v); });
//   std::vector<int> all = pool.map(square, std::vector{1, 2, 3});
//   pool.close();
//   pool.join();
#pragma once

#include <sys/types.h>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <ringlet/channel.hpp>
#include <ringlet/errors.hpp>
#include <ringlet/ipc/codec.hpp>
#include <ringlet/ipc/errors.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/promise.hpp>
#include <ringlet/task.hpp>
#include <ringlet/time.hpp>

namespace ringlet::ipc {

struct PoolOptions {
    // Called once in each worker before its first task (Python's initializer).
    void (*initializer)() = nullptr;
    // A worker exits after this many tasks and is replaced; 0 = never.
    std::size_t maxtasksperchild = 0;
    // Prefix of the worker processes' names ("<name>-worker-K", K from 1);
    // default "ProcessPool-N", N counting pools of this process from 1.
    std::string name = {};
    // The largest encoded task (its arguments, or a chunk of map items) and
    // the largest encoded result. Bigger ones throw CodecError (a result:
    // RemoteError naming CodecError). Each worker's task queue holds this
    // much; the memory is touched only as it is used.
    std::size_t max_message_size = std::size_t{4} << 20;
};

namespace detail {

// Decodes one call's arguments from `in`, calls fn, appends the result to `out`.
using PoolInvoker = void (*)(std::uintptr_t fn, Reader& in, Writer& out);

template <class T>
using PoolArg = std::remove_cvref_t<T>;

template <class R>
concept PoolResult = std::is_void_v<R> || Encodable<R>;

template <class... A>
concept PoolArgs = (Encodable<PoolArg<A>> && ...);

template <class R, class... A, std::size_t... I>
void call_decoded(R (*f)(A...), Reader& in, Writer& out, std::index_sequence<I...>) {
    // Braced initialisation decodes the arguments left to right.
    std::tuple<PoolArg<A>...> args{in.read<PoolArg<A>>()...};
    if constexpr (std::is_void_v<R>) {
        f(std::forward<A>(std::get<I>(args))...);
    } else {
        out.write(f(std::forward<A>(std::get<I>(args))...));
    }
}

// One call per task (apply).
template <class R, class... A>
void invoke_one(std::uintptr_t fn, Reader& in, Writer& out) {
    call_decoded(reinterpret_cast<R (*)(A...)>(fn), in, out, std::index_sequence_for<A...>());
}

// A chunk of calls (map, starmap, imap): a u64 count, then each call's
// arguments; the result is the count, then each result.
template <class R, class... A>
void invoke_chunk(std::uintptr_t fn, Reader& in, Writer& out) {
    const std::uint64_t count = in.read<std::uint64_t>();
    out.write(count);
    for (std::uint64_t i = 0; i < count; ++i) invoke_one<R, A...>(fn, in, out);
}

// Writes `value` as parameter type P would be decoded.
template <class P, class V>
void write_as(Writer& w, V&& value) {
    if constexpr (std::is_same_v<std::remove_cvref_t<V>, PoolArg<P>>) {
        w.write(value);
    } else {
        w.write(PoolArg<P>(std::forward<V>(value)));
    }
}

// The first bytes of every task message: its id (filled in by the pool),
// the invoker and the function.
inline constexpr std::size_t pool_task_header_size = 3 * sizeof(std::uint64_t);

inline void begin_task(Writer& w, PoolInvoker invoker, std::uintptr_t fn) {
    w.bytes().clear();
    w.write(std::uint64_t{0});
    w.write(static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(invoker)));
    w.write(static_cast<std::uint64_t>(fn));
}

// Where the pool's result thread delivers a task's outcome. Called exactly
// once, on that thread; must not block.
class PoolTaskSink {
public:
    virtual ~PoolTaskSink() = default;
    virtual void complete(std::string_view result) noexcept = 0;
    virtual void fail(std::exception_ptr error) noexcept = 0;
};

// Fulfils a Promise (AsyncResult, map); then runs `after` if set (callbacks
// of a submitter that is not a task).
class PromiseSink final : public PoolTaskSink {
public:
    std::function<void(const Future<std::string>&)> after;

    Future<std::string> future() const { return promise_.get_future(); }
    void complete(std::string_view result) noexcept override;
    void fail(std::exception_ptr error) noexcept override;

private:
    void finish() noexcept;
    Promise<std::string> promise_;
};

// imap_unordered: outcomes go into a channel that the stream reads.
using PoolOutcome = std::variant<std::string, std::exception_ptr>;

class ChannelSink final : public PoolTaskSink {
public:
    explicit ChannelSink(std::shared_ptr<Channel<PoolOutcome>> channel)
        : channel_(std::move(channel)) {}
    void complete(std::string_view result) noexcept override;
    void fail(std::exception_ptr error) noexcept override;

private:
    std::shared_ptr<Channel<PoolOutcome>> channel_;
};

// The untyped pool (process_pool.cpp): workers, queues, dispatch, recovery.
class PoolCore {
public:
    PoolCore(std::size_t processes, PoolOptions options);
    ~PoolCore();
    PoolCore(const PoolCore&) = delete;
    PoolCore& operator=(const PoolCore&) = delete;

    // Queues the task in `message` (begun by begin_task). Never waits.
    // Throws: UsageError (closed, terminated, or another process's pool),
    // CodecError (larger than max_message_size).
    void submit(std::string& message, std::shared_ptr<PoolTaskSink> sink);
    void close();
    void join();
    void terminate();

    std::size_t processes() const noexcept;
    std::size_t max_message_size() const noexcept;
    std::vector<pid_t> worker_pids() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

[[noreturn]] void throw_result_timeout();
void report_callback_failure(const char* what) noexcept;

// Decodes a chunk's results (count, then the results) onto `out`.
template <class R>
void append_chunk_results(std::string_view bytes, std::vector<R>& out) {
    Reader r(bytes);
    const std::size_t count = r.get_length(Codec<R>::min_size);
    out.reserve(out.size() + count);
    for (std::size_t i = 0; i < count; ++i) out.push_back(r.read<R>());
    r.expect_end();
}

template <class Callback, class R>
void call_result_callback(Callback& callback, const std::string& bytes) {
    if constexpr (std::is_void_v<R>) {
        callback();
    } else {
        callback(decode<R>(bytes));
    }
}

template <class ErrorCallback>
void call_error_callback(ErrorCallback& on_error, std::exception_ptr error) {
    if constexpr (std::is_invocable_v<ErrorCallback&, std::exception_ptr>) {
        on_error(std::move(error));
    } else {
        try {
            std::rethrow_exception(std::move(error));
        } catch (const std::exception& e) {
            on_error(e);
        }
    }
}

struct NoCallback {};

// A lazily encoded input: each call appends the next chunk (count + items).
class PoolTaskSource {
public:
    virtual ~PoolTaskSource() = default;
    // False when the input is exhausted (nothing written).
    virtual bool next_chunk(Writer& w) = 0;
};

template <class View, bool Star, class R, class... A>
class RangeTaskSource final : public PoolTaskSource {
public:
    RangeTaskSource(View view, std::size_t chunksize)
        : view_(std::move(view)), it_(std::ranges::begin(view_)), chunksize_(chunksize) {}

    bool next_chunk(Writer& w) override {
        if (it_ == std::ranges::end(view_)) return false;
        begin_task(w, &invoke_chunk<R, A...>, fn_);
        const std::size_t count_at = w.size();
        w.write(std::uint64_t{0});
        std::uint64_t count = 0;
        for (; count < chunksize_ && it_ != std::ranges::end(view_); ++it_, ++count) {
            if constexpr (Star) {
                std::apply([&](auto&&... x) { (write_as<A>(w, x), ...); }, *it_);
            } else {
                (write_as<A>(w, *it_), ...);
            }
        }
        std::memcpy(w.bytes().data() + count_at, &count, sizeof count);
        return true;
    }
    std::uintptr_t fn_ = 0;

private:
    View view_;
    std::ranges::iterator_t<View> it_;
    std::size_t chunksize_;
};

}  // namespace detail

// The result of apply_async: waits for and reads one task's outcome. Copies
// share the outcome. Usable from any task or thread of this process.
template <class R>
class AsyncResult {
public:
    AsyncResult() = default;

    // Waits up to `timeout` for the result and returns it (decoded anew on
    // each call), or rethrows the task's failure.
    // Suspends. Throws: TimeoutError (not ready in time; scope() is nullptr),
    // RemoteError, WorkerLost, PoolTerminated, CodecError, Cancelled,
    // TimeoutError of an enclosing scope, UsageError if empty.
    R get(Duration timeout = forever) const {
        if (!future().wait(timeout)) detail::throw_result_timeout();
        const std::string bytes = future_.get();
        if constexpr (!std::is_void_v<R>) return decode<R>(bytes);
    }
    // Waits up to `timeout`; true once the outcome is there.
    // Suspends. Throws: Cancelled, TimeoutError (enclosing scope).
    bool wait(Duration timeout = forever) const { return future().wait(timeout); }
    // The outcome is there (never waits).
    bool ready() const { return future().ready(); }
    // The task returned normally. Throws: UsageError if not ready() yet.
    bool successful() const {
        if (!ready()) throw UsageError("ringlet::ipc::AsyncResult::successful: not ready yet");
        return future_.successful();
    }
    bool valid() const noexcept { return future_.valid(); }

private:
    friend class ProcessPool;
    explicit AsyncResult(Future<std::string> f) : future_(std::move(f)) {}
    const Future<std::string>& future() const {
        if (!future_.valid()) throw UsageError("ringlet::ipc::AsyncResult: empty result");
        return future_;
    }
    Future<std::string> future_;
};

// Results of imap() (in input order) or imap_unordered() (in completion
// order), produced while you read them: at most a few chunks per worker are
// in flight, and the input range is read as they are sent. An lvalue range
// must outlive the stream (an rvalue one is kept inside it). Move-only; one
// reader at a time. Destroying it early leaves the tasks in flight to finish
// (their results are dropped).
template <class R>
class ResultStream {
public:
    // The next result; nullopt after the last one.
    // Suspends. Throws: the failure of the chunk the next item is in
    // (RemoteError, WorkerLost, PoolTerminated, CodecError), once: the
    // chunk's items are skipped and the next call goes on with the next
    // chunk. Cancelled, TimeoutError (nothing is lost: call again).
    std::optional<R> next() {
        for (;;) {
            if (ready_pos_ < ready_.size()) return std::move(ready_[ready_pos_++]);
            ready_.clear();
            ready_pos_ = 0;
            if (!fill_one()) return std::nullopt;
        }
    }

    class iterator {
    public:
        using value_type = R;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        explicit iterator(ResultStream* s) : stream_(s) { advance(); }
        R& operator*() const { return *current_; }
        R* operator->() const { return &*current_; }
        iterator& operator++() {
            advance();
            return *this;
        }
        void operator++(int) { advance(); }
        bool operator==(std::default_sentinel_t) const { return !current_.has_value(); }

    private:
        void advance() { current_ = stream_->next(); }
        ResultStream* stream_ = nullptr;
        mutable std::optional<R> current_;
    };
    iterator begin() { return iterator(this); }
    std::default_sentinel_t end() { return {}; }

    ResultStream(ResultStream&&) noexcept = default;
    ResultStream& operator=(ResultStream&&) noexcept = default;

private:
    friend class ProcessPool;
    ResultStream(detail::PoolCore& core, std::unique_ptr<detail::PoolTaskSource> source,
                 bool ordered, std::size_t window)
        : core_(&core), source_(std::move(source)), ordered_(ordered), window_(window) {
        if (!ordered_) channel_ = std::make_shared<Channel<detail::PoolOutcome>>(window_);
        top_up();
    }

    // Sends chunks until `window_` are in flight or the input ends.
    void top_up() {
        thread_local Writer w;
        while (in_flight_ < window_ && source_) {
            if (!source_->next_chunk(w)) {
                source_.reset();
                break;
            }
            if (ordered_) {
                auto sink = std::make_shared<detail::PromiseSink>();
                pending_.push_back(sink->future());
                core_->submit(w.bytes(), std::move(sink));
            } else {
                core_->submit(w.bytes(), std::make_shared<detail::ChannelSink>(channel_));
            }
            ++in_flight_;
        }
    }

    // Waits for the next chunk and decodes it into ready_; false when done.
    bool fill_one() {
        if (in_flight_ == 0) return false;
        std::string bytes;
        std::exception_ptr error;
        if (ordered_) {
            pending_.front().wait();  // a cancel or timeout here takes nothing
            Future<std::string> f = std::move(pending_.front());
            pending_.pop_front();
            try {
                bytes = f.get();
            } catch (...) {
                error = std::current_exception();
            }
        } else {
            auto outcome = channel_->recv();
            if (!outcome) throw UsageError("ringlet::ipc::ResultStream: channel closed");
            if (auto* e = std::get_if<std::exception_ptr>(&*outcome)) {
                error = *e;
            } else {
                bytes = std::move(std::get<std::string>(*outcome));
            }
        }
        --in_flight_;
        top_up();
        if (error) std::rethrow_exception(error);
        detail::append_chunk_results(bytes, ready_);
        return true;
    }

    detail::PoolCore* core_;
    std::unique_ptr<detail::PoolTaskSource> source_;
    bool ordered_;
    std::size_t window_;
    std::size_t in_flight_ = 0;
    std::deque<Future<std::string>> pending_;                 // ordered
    std::shared_ptr<Channel<detail::PoolOutcome>> channel_;   // unordered
    std::vector<R> ready_;
    std::size_t ready_pos_ = 0;
};

class ProcessPool {
public:
    // Starts the fork server and `processes` workers (they come up in the
    // background; tasks queue meanwhile). Throws: UsageError (processes ==
    // 0), IoError (fork, memory).
    explicit ProcessPool(std::size_t processes = cpu_count(), PoolOptions options = {})
        : core_(std::make_unique<detail::PoolCore>(processes, std::move(options))) {}
    ProcessPool(ProcessPool&&) noexcept = default;
    ProcessPool& operator=(ProcessPool&&) noexcept = default;
    // terminate()s the pool unless join() has returned (as Python's `with
    // Pool()` does): join() first to let queued tasks finish.
    ~ProcessPool() = default;

    // Runs fn(args...) in a worker and returns its result.
    // Suspends. Throws: RemoteError (fn threw), WorkerLost, PoolTerminated,
    // CodecError, UsageError (pool closed), Cancelled, TimeoutError.
    // Cancellation: the task still runs in its worker; its result is dropped.
    template <class R, class... A, class... Args>
        requires detail::PoolResult<R> && detail::PoolArgs<A...> &&
                 (sizeof...(Args) == sizeof...(A))
    R apply(R (*fn)(A...), Args&&... args) {
        return apply_async(fn, std::forward<Args>(args)...).get();
    }

    // Queues fn(args...) and returns at once. Optional trailing arguments:
    // `callback` (called with the result, or with nothing for void) and then
    // `error_callback` (called with a std::exception_ptr, or a
    // const std::exception&, when the task fails). Exactly one of them runs,
    // once, in this process: when the caller is a task, on a new task of the
    // caller's scheduler (its thread; run() waits for it); when the caller is
    // a plain thread, on the pool's result thread (keep it short). Never in a
    // worker. An exception from a callback is printed on stderr.
    // Never waits. Throws: UsageError (closed), CodecError (too large).
    template <class R, class... A, class... Rest>
        requires detail::PoolResult<R> && detail::PoolArgs<A...> &&
                 (sizeof...(Rest) >= sizeof...(A)) && (sizeof...(Rest) <= sizeof...(A) + 2)
    AsyncResult<R> apply_async(R (*fn)(A...), Rest&&... rest) {
        constexpr std::size_t n = sizeof...(A);
        auto all = std::forward_as_tuple(std::forward<Rest>(rest)...);
        thread_local Writer w;
        detail::begin_task(w, &detail::invoke_one<R, A...>, reinterpret_cast<std::uintptr_t>(fn));
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (detail::write_as<A>(w, std::get<I>(all)), ...);
        }(std::make_index_sequence<n>());
        auto sink = std::make_shared<detail::PromiseSink>();
        AsyncResult<R> result(sink->future());
        if constexpr (sizeof...(Rest) == n) {
            core_->submit(w.bytes(), std::move(sink));
        } else {
            auto on_result = std::get<n>(all);
            auto on_error = [&] {
                if constexpr (sizeof...(Rest) == n + 2) {
                    return std::get<n + 1>(all);
                } else {
                    return detail::NoCallback{};
                }
            }();
            submit_with_callbacks<R>(w.bytes(), std::move(sink), std::move(on_result),
                                     std::move(on_error));
        }
        return result;
    }

    // fn applied to every item, results in input order. The range is split
    // into chunks of `chunksize` items (0: about 4 chunks per worker, as
    // Python does), one task each.
    // Suspends. Throws: the first failed chunk's error (in input order; the
    // other chunks still run), UsageError, CodecError, Cancelled, TimeoutError.
    template <class R, class A, std::ranges::input_range Range>
        requires Encodable<R> && detail::PoolArgs<A>
    std::vector<R> map(R (*fn)(A), Range&& items, std::size_t chunksize = 0) {
        return map_chunks<false, R, A>(fn, std::forward<Range>(items), chunksize);
    }
    // As map(), for a range of tuples (or pairs) unpacked into fn's parameters.
    template <class R, class... A, std::ranges::input_range Range>
        requires Encodable<R> && detail::PoolArgs<A...>
    std::vector<R> starmap(R (*fn)(A...), Range&& items, std::size_t chunksize = 0) {
        return map_chunks<true, R, A...>(fn, std::forward<Range>(items), chunksize);
    }

    // As map(), lazily: results come out of the stream in input order as they
    // arrive (chunks of `chunksize` items, default 1).
    template <class R, class A, std::ranges::viewable_range Range>
        requires Encodable<R> && detail::PoolArgs<A> && std::ranges::input_range<Range>
    ResultStream<R> imap(R (*fn)(A), Range&& items, std::size_t chunksize = 1) {
        return stream<true, false, R, A>(fn, std::forward<Range>(items), chunksize);
    }
    // As imap(), in completion order.
    template <class R, class A, std::ranges::viewable_range Range>
        requires Encodable<R> && detail::PoolArgs<A> && std::ranges::input_range<Range>
    ResultStream<R> imap_unordered(R (*fn)(A), Range&& items, std::size_t chunksize = 1) {
        return stream<false, false, R, A>(fn, std::forward<Range>(items), chunksize);
    }

    // No more tasks (submitting throws UsageError); queued ones still run.
    void close() { core_->close(); }
    // Waits for every queued task to finish and the workers to exit.
    // Suspends. Throws: UsageError unless close() or terminate() came first;
    // Cancelled (the pool keeps going; join again later).
    void join() { core_->join(); }
    // Kills the workers now (SIGKILL) and waits for them; unfinished tasks
    // fail with PoolTerminated. Idempotent. Suspends briefly.
    void terminate() { core_->terminate(); }

    // The number of workers the pool keeps alive.
    std::size_t processes() const noexcept { return core_->processes(); }
    // The pids of the workers alive now (a slot being replaced is absent).
    std::vector<pid_t> worker_pids() const { return core_->worker_pids(); }

private:
    template <class R, class OnResult, class OnError>
    void submit_with_callbacks(std::string& message, std::shared_ptr<detail::PromiseSink> sink,
                               OnResult on_result, OnError on_error) {
        auto deliver = [on_result = std::move(on_result),
                        on_error = std::move(on_error)](const Future<std::string>& f) mutable {
            std::string bytes;
            std::exception_ptr error;
            try {
                bytes = f.get();
            } catch (...) {
                error = std::current_exception();
            }
            try {
                if (!error) {
                    try {
                        detail::call_result_callback<OnResult, R>(on_result, bytes);
                        return;
                    } catch (const CodecError&) {
                        error = std::current_exception();
                    }
                }
                if constexpr (!std::is_same_v<OnError, detail::NoCallback>) {
                    detail::call_error_callback(on_error, error);
                }
            } catch (const std::exception& e) {
                detail::report_callback_failure(e.what());
            }
        };
        if (current_task() != 0) {
            Future<std::string> f = sink->future();
            core_->submit(message, std::move(sink));
            spawn(SpawnOptions{.name = "pool-callback"},
                  [f = std::move(f), deliver = std::move(deliver)]() mutable {
                      f.wait();
                      deliver(f);
                  });
        } else {
            sink->after = std::move(deliver);
            core_->submit(message, std::move(sink));
        }
    }

    template <bool Star, class R, class... A, class Range>
    std::vector<R> map_chunks(R (*fn)(A...), Range&& items, std::size_t chunksize) {
        if constexpr (!std::ranges::forward_range<Range>) {
            std::vector<std::ranges::range_value_t<Range>> copy(std::ranges::begin(items),
                                                                std::ranges::end(items));
            return map_chunks<Star, R, A...>(fn, copy, chunksize);
        } else {
            const std::size_t size =
                static_cast<std::size_t>(std::ranges::distance(items));
            if (chunksize == 0) {
                const std::size_t parts = 4 * processes();
                chunksize = (size + parts - 1) / parts;
                if (chunksize == 0) chunksize = 1;
            }
            detail::RangeTaskSource<std::views::all_t<Range&>, Star, R, A...> source(
                std::views::all(items), chunksize);
            source.fn_ = reinterpret_cast<std::uintptr_t>(fn);
            std::vector<Future<std::string>> futures;
            futures.reserve(size / chunksize + 1);
            thread_local Writer w;
            while (source.next_chunk(w)) {
                auto sink = std::make_shared<detail::PromiseSink>();
                futures.push_back(sink->future());
                core_->submit(w.bytes(), std::move(sink));
            }
            std::vector<R> out;
            out.reserve(size);
            for (auto& f : futures) detail::append_chunk_results(f.get(), out);
            return out;
        }
    }

    template <bool Ordered, bool Star, class R, class... A, class Range>
    ResultStream<R> stream(R (*fn)(A...), Range&& items, std::size_t chunksize) {
        if (chunksize == 0) chunksize = 1;
        using View = std::views::all_t<Range>;
        auto source = std::make_unique<detail::RangeTaskSource<View, Star, R, A...>>(
            std::views::all(std::forward<Range>(items)), chunksize);
        source->fn_ = reinterpret_cast<std::uintptr_t>(fn);
        return ResultStream<R>(*core_, std::move(source), Ordered, 4 * processes());
    }

    std::unique_ptr<detail::PoolCore> core_;
};

}  // namespace ringlet::ipc
