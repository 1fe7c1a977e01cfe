// task_queue.cpp — TaskQueue: submit (XADD + a promise per task), the reply
// reader (BLPOP on this submitter's reply list), and the worker loop
// (XAUTOCLAIM / XREADGROUP, run, one finishing script per entry).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cxxabi.h>
#include <random>
#include <typeinfo>
#include <unistd.h>
#include <unordered_map>

#include <ringlet/errors.hpp>
#include <ringlet/group.hpp>
#include <ringlet/redis/pool.hpp>
#include <ringlet/redis/queue.hpp>
#include <ringlet/redis/task_queue.hpp>
#include <ringlet/task.hpp>
#include <ringlet/time.hpp>

#include "describe_exception.hpp"

namespace ringlet::redis {

std::string default_consumer_name() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "host");
    return std::string(host) + ":" + std::to_string(::getpid());
}

namespace detail {

std::string open_outcome(const std::string& bytes) {
    auto [status, a, b] = ipc::decode<Outcome>(bytes);
    if (status == 0) return std::move(a);
    if (status == 1) throw ipc::RemoteError(std::move(a), std::move(b));
    throw DeadLetter(a);
}

}  // namespace detail

namespace {

// The finishing script: the first result wins (SET NX), only it notifies the
// submitter; the entry is acknowledged and deleted either way, and a dead
// letter is copied to the dead-letter stream.
//   KEYS: result key, reply list, task stream, dead-letter stream
//   ARGV: outcome, ttl seconds, group, entry id, task id, dead ("1"/"0"), fn, args
constexpr std::string_view finish_script = R"lua(
local first = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
if first then
  redis.call('RPUSH', KEYS[2], ARGV[5] .. '\0' .. ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
redis.call('XACK', KEYS[3], ARGV[3], ARGV[4])
redis.call('XDEL', KEYS[3], ARGV[4])
if ARGV[6] == '1' then
  redis.call('XADD', KEYS[4], '*', 'id', ARGV[5], 'fn', ARGV[7], 'args', ARGV[8])
end
if first then return 1 end
return 0
)lua";

constexpr std::string_view group_name = "workers";

std::string seconds_of(Duration d) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    return std::to_string(s < 1 ? 1 : s);
}

}  // namespace

struct TaskQueue::State {
    std::string name;
    TaskQueueOptions options;
    ConnectionPool pool;
    Client reply_client;  // BLPOP on the reply list (its own connection)
    std::string stream, dead, result_prefix, reply_list, consumer;
    std::unordered_map<std::string, std::function<std::string(std::string_view)>> functions;
    std::unordered_map<std::string, Promise<std::string>> pending;
    Task<void> reader;
    bool reader_running = false;
    Group* workers = nullptr;  // while work() runs
    bool stopping = false;
    std::size_t executed = 0;
    TimePoint next_claim{};
    std::mt19937_64 rng{std::random_device{}()};
    std::uint64_t counter = 0;

    State(Client c, std::string n, TaskQueueOptions o)
        : name(std::move(n)),
          options(o),
          pool(c.endpoint(),
               PoolOptions{.max_connections = o.max_connections, .client = c.options()}),
          reply_client(std::move(c)),
          stream(name + ":tasks"),
          dead(name + ":dead"),
          result_prefix(name + ":result:") {
        char buf[40];
        std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
        consumer = default_consumer_name() + ":" + buf;
        reply_list = name + ":reply:" + consumer;
    }

    std::string next_id() {
        char buf[48];
        std::snprintf(buf, sizeof buf, "%016llx%08llx", static_cast<unsigned long long>(rng()),
                      static_cast<unsigned long long>(++counter));
        return buf;
    }

    // ---- submitter side ----------------------------------------------------

    void deliver(const std::string& item) {
        const std::size_t cut = item.find('\0');
        if (cut == std::string::npos) return;
        auto it = pending.find(item.substr(0, cut));
        if (it == pending.end()) return;  // abandoned, or not ours
        Promise<std::string> p = std::move(it->second);
        pending.erase(it);
        p.set_value(item.substr(cut + 1));
    }

    // Runs while results are pending; a connection loss is retried with
    // backoff (the reply list keeps the notifications meanwhile).
    void read_replies() {
        struct Done {
            bool& running;
            ~Done() { running = false; }
        } done{reader_running};
        Duration backoff = std::chrono::milliseconds(10);
        const std::string keys[] = {reply_list};
        while (!pending.empty()) {
            try {
                auto first = reply_client.blpop(keys, std::chrono::milliseconds(500));
                backoff = std::chrono::milliseconds(10);
                if (!first) continue;
                deliver(first->second);
                for (;;) {
                    std::vector<std::string> more = reply_client.lpop(reply_list, 256);
                    for (const std::string& m : more) deliver(m);
                    if (more.size() < 256) break;
                }
            } catch (const ConnectionError&) {
                sleep(backoff);
                backoff = std::min<Duration>(backoff * 2, std::chrono::seconds(1));
            }
        }
    }

    // ---- worker side -------------------------------------------------------

    // The outcome of running `entry` here (never throws but Cancelled).
    std::string run_entry(const StreamEntry& entry) {
        const std::string fn = entry.field("fn").value_or("");
        auto it = functions.find(fn);
        try {
            if (it == functions.end()) {
                throw ipc::RemoteError("ringlet::redis::TaskQueue",
                                       "no function named \"" + fn + "\" on worker " + consumer);
            }
            std::string value = it->second(entry.field("args").value_or(""));
            return ipc::encode(detail::Outcome{0, std::move(value), {}});
        } catch (const Cancelled&) {
            throw;
        } catch (const ipc::RemoteError& e) {
            return ipc::encode(detail::Outcome{1, e.type_name(), e.message()});
        } catch (...) {
            auto [type, message] = ringlet::detail::exception_parts(std::current_exception());
            return ipc::encode(detail::Outcome{1, std::move(type), std::move(message)});
        }
    }

    // Entries for one round: reclaimed ones first (when it is time to look),
    // else new ones, waiting up to half a second.
    std::vector<StreamEntry> fetch(Client& c, std::vector<bool>& dead_flags) {
        dead_flags.clear();
        const TimePoint now = Clock::now();
        if (now >= next_claim) {
            next_claim = now + options.visibility_timeout / 4;
            AutoClaim claim = c.xautoclaim(stream, group_name, consumer, options.visibility_timeout,
                                           "0-0", options.prefetch);
            if (!claim.entries.empty()) {
                if (claim.entries.size() == options.prefetch) next_claim = now;  // more may wait
                for (const StreamEntry& e : claim.entries) {
                    auto p = c.xpending(stream, group_name, e.id, e.id, 1);
                    const long long deliveries = p.empty() ? 1 : p.front().deliveries;
                    dead_flags.push_back(deliveries >
                                         static_cast<long long>(options.max_deliveries));
                }
                return std::move(claim.entries);
            }
        }
        std::vector<StreamEntry> fresh = c.xreadgroup(
            group_name, consumer, stream, options.prefetch, std::chrono::milliseconds(500));
        dead_flags.assign(fresh.size(), false);
        return fresh;
    }

    void run_worker() {
        Duration backoff = std::chrono::milliseconds(10);
        const std::string ttl = seconds_of(options.result_ttl);
        std::vector<bool> dead_flags;
        while (!stopping) {
            try {
                auto lease = pool.get();
                std::vector<StreamEntry> entries = fetch(*lease, dead_flags);
                backoff = std::chrono::milliseconds(10);
                if (entries.empty()) continue;
                Pipeline finish = lease->pipeline();
                std::size_t ran = 0;
                for (std::size_t i = 0; i < entries.size(); ++i) {
                    const StreamEntry& e = entries[i];
                    const std::string id = e.field("id").value_or(e.id);
                    const std::string reply = e.field("reply").value_or(reply_list);
                    std::string outcome;
                    if (dead_flags[i]) {
                        outcome = ipc::encode(detail::Outcome{
                            2,
                            "ringlet::redis::TaskQueue: task " + id + " (" +
                                e.field("fn").value_or("?") + ") was delivered more than " +
                                std::to_string(options.max_deliveries) +
                                " times without a result; moved to " + dead,
                            {}});
                    } else {
                        outcome = run_entry(e);
                        ++ran;
                    }
                    const std::string result_key = result_prefix + id;
                    // Only a dead letter carries its call to the dead-letter stream.
                    const std::string fn = dead_flags[i] ? e.field("fn").value_or("") : "";
                    const std::string args = dead_flags[i] ? e.field("args").value_or("") : "";
                    const std::string_view argv[] = {"EVAL",
                                                     finish_script,
                                                     "4",
                                                     result_key,
                                                     reply,
                                                     stream,
                                                     dead,
                                                     outcome,
                                                     ttl,
                                                     group_name,
                                                     e.id,
                                                     id,
                                                     dead_flags[i] ? "1" : "0",
                                                     fn,
                                                     args};
                    finish.add(std::span<const std::string_view>(argv));
                }
                executed += ran;  // before the results can reach a submitter
                for (const Reply& r : finish.execute()) {
                    if (r.is_error()) {
                        std::fprintf(stderr, "ringlet::redis::TaskQueue: finishing failed: %s\n",
                                     r.error_text().c_str());
                    }
                }
            } catch (const ConnectionError&) {
                if (stopping) break;
                sleep(backoff);
                backoff = std::min<Duration>(backoff * 2, std::chrono::seconds(1));
            }
        }
    }
};

TaskQueue::TaskQueue(Client client, std::string name, TaskQueueOptions options)
    : state_(std::make_shared<State>(std::move(client), std::move(name), options)) {
    if (options.max_connections < 2) {
        throw UsageError("ringlet::redis::TaskQueue: max_connections must be at least 2");
    }
    state_->pool.get()->xgroup_create(state_->stream, group_name, "0", true);
}

TaskQueue::TaskQueue(TaskQueue&&) noexcept = default;
TaskQueue& TaskQueue::operator=(TaskQueue&&) noexcept = default;

TaskQueue::~TaskQueue() {
    if (!state_) return;
    state_->stopping = true;
    try {
        if (state_->reader.valid() && !state_->reader.done()) state_->reader.cancel();
        if (state_->workers != nullptr) state_->workers->cancel();
    } catch (...) {
    }
}

void TaskQueue::add_function(std::string name,
                             std::function<std::string(std::string_view)> invoker) {
    state_->functions[std::move(name)] = std::move(invoker);
}

Future<std::string> TaskQueue::submit_encoded(std::string_view fn, std::string args,
                                              std::string& id) {
    State& s = *state_;
    id = s.next_id();
    Promise<std::string> promise;
    Future<std::string> future = promise.get_future();
    auto [it, inserted] = s.pending.emplace(id, std::move(promise));
    (void)inserted;
    try {
        s.pool.get()->xadd(s.stream, FieldValues{{"id", id},
                                                 {"fn", std::string(fn)},
                                                 {"args", std::move(args)},
                                                 {"reply", s.reply_list}});
    } catch (...) {
        s.pending.erase(id);
        throw;
    }
    if (!s.reader_running) {
        s.reader_running = true;
        s.reader = spawn(SpawnOptions{.name = "redis-task-replies"},
                         [st = state_] { st->read_replies(); });
    }
    return future;
}

void TaskQueue::work(std::size_t concurrency) {
    State& s = *state_;
    if (s.workers != nullptr) throw UsageError("ringlet::redis::TaskQueue::work: already working");
    s.stopping = false;
    Group group;
    s.workers = &group;
    struct Unset {
        State& s;
        Group& g;
        ~Unset() {
            g.cancel();  // on Cancelled: the workers stop too (never suspends)
            s.workers = nullptr;
        }
    } unset{s, group};
    for (std::size_t i = 0; i < (concurrency == 0 ? 1 : concurrency); ++i) {
        group.spawn(SpawnOptions{.name = "redis-task-worker"}, [st = state_] { st->run_worker(); });
    }
    group.join();
}

void TaskQueue::stop() noexcept {
    if (state_) state_->stopping = true;
}

std::size_t TaskQueue::executed() const noexcept { return state_ ? state_->executed : 0; }

std::size_t TaskQueue::dead_letter_count() {
    return static_cast<std::size_t>(state_->pool.get()->xlen(state_->dead));
}

const std::string& TaskQueue::stream() const noexcept { return state_->stream; }
const std::string& TaskQueue::dead_letter_stream() const noexcept { return state_->dead; }
const std::string& TaskQueue::consumer() const noexcept { return state_->consumer; }

}  // namespace ringlet::redis
