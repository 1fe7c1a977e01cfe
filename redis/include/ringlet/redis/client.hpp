// ringlet/redis/client.hpp — a Redis connection whose every call is a suspension point.
//
// Client talks RESP over a ringlet net::TcpStream or net::UnixStream: commands
// are formatted by hiredis (redisFormatCommandArgv) and replies parsed by
// hiredis's reader (redisReaderFeed / redisReaderGetReply), so no protocol
// code is hand-written here. Inside a task a call suspends only that task; on
// a plain thread it blocks the thread.
//
// One Client is one connection, used by one task at a time (a second task
// calling while a call is in flight gets UsageError): share connections
// between tasks with a ConnectionPool. A call that fails mid-way — lost
// connection, cancellation, a command deadline — closes the connection, so
// its replies can never be read by the next command; the next call
// reconnects (and repeats AUTH and SELECT).
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ringlet/channel.hpp>
#include <ringlet/redis/errors.hpp>
#include <ringlet/redis/reply.hpp>
#include <ringlet/task.hpp>
#include <ringlet/time.hpp>

namespace ringlet::redis {

// Where the server is: TCP host and port, or a Unix socket path.
struct Endpoint {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    std::string unix_path = {};  // non-empty: connect to this Unix socket instead

    static Endpoint tcp(std::string host, std::uint16_t port) {
        return Endpoint{std::move(host), port, {}};
    }
    static Endpoint unix_socket(std::string path) { return Endpoint{{}, 0, std::move(path)}; }
    std::string describe() const;
};

struct ClientOptions {
    std::string user = {};      // ACL user for AUTH; empty = "default" (AUTH password)
    std::string password = {};  // empty = no AUTH
    int db = 0;                 // SELECT after connecting when non-zero
    Duration connect_timeout = std::chrono::seconds(5);  // TCP connect + AUTH + SELECT
    Duration timeout = forever;  // per command (a blocking command adds its own block time)
    // A command refused with LOADING (a restarted server still reading its
    // AOF/RDB) is sent again, backing off, for this long; then its reply is
    // the LOADING error (redis::Error). Pipelines and transactions get it as is.
    Duration loading_timeout = std::chrono::seconds(30);
};

// Options of set(): at most one of ttl; nx / xx as in SET NX / SET XX.
struct SetOptions {
    Duration ttl = Duration::zero();  // zero = no expiry (PX otherwise)
    bool nx = false;                  // only if the key does not exist
    bool xx = false;                  // only if it exists
};

enum class End : std::uint8_t { left, right };  // LMOVE / BLMOVE sides

using FieldValues = std::vector<std::pair<std::string, std::string>>;

// One stream entry: its id ("1700000000000-0") and its field/value pairs.
struct StreamEntry {
    std::string id;
    FieldValues fields;
    // The value of `field`, or nullopt.
    std::optional<std::string> field(std::string_view name) const;
};

// XAUTOCLAIM's answer: the cursor to continue from ("0-0" when done), the
// entries now owned by the caller, and ids that were deleted meanwhile.
struct AutoClaim {
    std::string next;
    std::vector<StreamEntry> entries;
    std::vector<std::string> deleted;
};

// XPENDING key group (summary form).
struct PendingSummary {
    long long count = 0;
    std::string min_id, max_id;                                // empty when count == 0
    std::vector<std::pair<std::string, long long>> consumers;  // name, pending count
};

// XPENDING key group start end count (extended form): one entry.
struct PendingEntry {
    std::string id;
    std::string consumer;
    std::chrono::milliseconds idle{0};
    long long deliveries = 0;
};

// A pub/sub message. `pattern` is set for a PSUBSCRIBE match.
struct Message {
    std::string channel;
    std::string payload;
    std::string pattern;
};

class Client;

// Many commands sent in one write, replies read back in order. Error replies
// are returned in place (Reply::is_error), not thrown. Built by
// Client::pipeline(); the client must outlive it.
class Pipeline {
  public:
    // Appends one command.
    Pipeline& add(std::initializer_list<std::string_view> argv);
    Pipeline& add(std::span<const std::string_view> argv);
    Pipeline& add(const std::vector<std::string>& argv);
    std::size_t size() const noexcept { return count_; }

    // Sends every command added and returns their replies in order; the
    // pipeline is empty again afterwards.
    // Suspends. Throws: ConnectionError, UsageError (client busy).
    // Cancellation: some commands may have run; the connection is closed.
    std::vector<Reply> execute();

  private:
    friend class Client;
    explicit Pipeline(Client& c) : client_(&c) {}
    Client* client_;
    std::string wire_;
    std::size_t count_ = 0;
};

// Messages of SUBSCRIBE / PSUBSCRIBE on a connection of its own, delivered by
// a reader task into a Channel. The subscriptions are active when
// Client::subscribe returns. If the connection is lost, the channel is closed
// and error() says why. Destroying it cancels the reader and drops the
// connection. Used on the thread that created it. Move-only.
class Subscriber {
  public:
    Subscriber() = default;
    Subscriber(Subscriber&&) noexcept;
    Subscriber& operator=(Subscriber&&) noexcept;
    ~Subscriber();

    // The next message; nullopt once the connection is gone (see error()).
    // Suspends. Cancellation: no message was taken.
    std::optional<Message> recv();
    // As recv(), waiting at most `timeout`: nullopt on timeout too.
    std::optional<Message> recv_for(Duration timeout);
    // The channel the reader fills (capacity: subscribe's `capacity`).
    Channel<Message>& messages();
    // Why the reader stopped (a ConnectionError), or null while it runs.
    std::exception_ptr error() const;

    struct State;

  private:
    friend class Client;
    explicit Subscriber(std::shared_ptr<State> s, Task<void> reader);
    std::shared_ptr<State> state_;
    Task<void> reader_;
};

class Client {
  public:
    Client() noexcept;
    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;
    ~Client();

    // Connects, then AUTH (if options.password) and SELECT (if options.db).
    // Suspends. Throws: ConnectionError (refused, unreachable), AuthError,
    // TimeoutError after options.connect_timeout, Cancelled.
    static Client connect(std::string_view host, std::uint16_t port, ClientOptions options = {});
    static Client connect_unix(std::string_view path, ClientOptions options = {});
    static Client connect(const Endpoint& endpoint, ClientOptions options = {});

    const Endpoint& endpoint() const;
    const ClientOptions& options() const;
    // True while the connection is open (false after a failed call; the next
    // call reconnects).
    bool is_connected() const noexcept;
    // Closes the connection now. Never throws.
    void close() noexcept;

    // Sends one command and returns its reply; an error reply is returned,
    // not thrown (the typed helpers below throw redis::Error); a LOADING
    // refusal is retried for options.loading_timeout first.
    // Suspends. Throws: ConnectionError, TimeoutError (options.timeout or an
    // enclosing scope), Cancelled, UsageError if another task is mid-call.
    // Cancellation: the command may have run; the connection is closed.
    Reply command(std::initializer_list<std::string_view> argv);
    Reply command(std::span<const std::string_view> argv);
    Reply command(const std::vector<std::string>& argv);
    // As command(), allowing `extra` beyond options.timeout (blocking commands).
    Reply command_blocking(std::span<const std::string_view> argv, Duration extra);

    Pipeline pipeline() { return Pipeline(*this); }

    // ---- connection --------------------------------------------------------
    // Every helper below suspends and throws ConnectionError, redis::Error for
    // an error reply, TimeoutError and Cancelled as command() does.
    std::string ping();                    // "PONG"
    void auth(std::string_view password);  // AuthError if refused
    void auth(std::string_view user, std::string_view password);
    void select(int db);  // remembered for reconnects
    void flushdb();

    // ---- strings -----------------------------------------------------------
    std::optional<std::string> get(std::string_view key);
    // false when NX / XX prevented the write.
    bool set(std::string_view key, std::string_view value, SetOptions options = {});
    std::vector<std::optional<std::string>> mget(std::span<const std::string> keys);
    void mset(const FieldValues& pairs);
    long long incr(std::string_view key);
    long long incrby(std::string_view key, long long by);
    long long decr(std::string_view key);
    long long append(std::string_view key, std::string_view value);  // new length
    long long strlen(std::string_view key);
    std::optional<std::string> getdel(std::string_view key);

    // ---- keys --------------------------------------------------------------
    long long del(std::initializer_list<std::string_view> keys);  // how many existed
    long long exists(std::initializer_list<std::string_view> keys);
    bool expire(std::string_view key, Duration ttl);  // PEXPIRE; false: no key
    // Remaining time to live; nullopt if the key has none or does not exist.
    std::optional<std::chrono::milliseconds> pttl(std::string_view key);
    bool persist(std::string_view key);
    std::string type(std::string_view key);  // "string", "none" …
    void rename(std::string_view from, std::string_view to);
    std::vector<std::string> keys(std::string_view pattern);

    // ---- lists -------------------------------------------------------------
    long long lpush(std::string_view key, std::span<const std::string> values);  // new length
    long long lpush(std::string_view key, std::string_view value);
    long long rpush(std::string_view key, std::span<const std::string> values);
    long long rpush(std::string_view key, std::string_view value);
    std::optional<std::string> lpop(std::string_view key);
    std::optional<std::string> rpop(std::string_view key);
    std::vector<std::string> lpop(std::string_view key, std::size_t count);
    long long llen(std::string_view key);
    std::vector<std::string> lrange(std::string_view key, long long start, long long stop);
    long long lrem(std::string_view key, long long count, std::string_view value);
    std::optional<std::string> lmove(std::string_view src, std::string_view dst, End from, End to);
    // Blocking pops wait up to `timeout` (forever = 0 to the server); nullopt
    // on timeout. Suspends (only this task); the connection is busy meanwhile.
    std::optional<std::string> blmove(std::string_view src, std::string_view dst, End from, End to,
                                      Duration timeout);
    // (key, value) of the first non-empty list.
    std::optional<std::pair<std::string, std::string>> blpop(std::span<const std::string> keys,
                                                             Duration timeout);
    std::optional<std::pair<std::string, std::string>> brpop(std::span<const std::string> keys,
                                                             Duration timeout);

    // ---- hashes ------------------------------------------------------------
    long long hset(std::string_view key, std::string_view field, std::string_view value);
    long long hset(std::string_view key, const FieldValues& fields);  // fields added
    std::optional<std::string> hget(std::string_view key, std::string_view field);
    std::map<std::string, std::string> hgetall(std::string_view key);
    long long hdel(std::string_view key, std::initializer_list<std::string_view> fields);
    bool hexists(std::string_view key, std::string_view field);
    long long hincrby(std::string_view key, std::string_view field, long long by);
    long long hlen(std::string_view key);
    std::vector<std::string> hkeys(std::string_view key);

    // ---- streams -----------------------------------------------------------
    // XADD key [MAXLEN ~ n] id field value …; returns the entry id.
    std::string xadd(std::string_view key, const FieldValues& fields, std::string_view id = "*",
                     std::size_t approx_maxlen = 0);
    long long xlen(std::string_view key);
    std::vector<StreamEntry> xrange(std::string_view key, std::string_view start = "-",
                                    std::string_view end = "+", std::size_t count = 0);
    long long xdel(std::string_view key, std::initializer_list<std::string_view> ids);
    // XGROUP CREATE key group id [MKSTREAM]; false if the group exists already.
    bool xgroup_create(std::string_view key, std::string_view group, std::string_view id = "$",
                       bool mkstream = true);
    // XREADGROUP GROUP group consumer COUNT count [BLOCK ms] STREAMS key id.
    // `block` zero = do not block; forever = block without limit. Empty on timeout.
    std::vector<StreamEntry> xreadgroup(std::string_view group, std::string_view consumer,
                                        std::string_view key, std::size_t count,
                                        Duration block = Duration::zero(),
                                        std::string_view id = ">");
    long long xack(std::string_view key, std::string_view group, std::span<const std::string> ids);
    long long xack(std::string_view key, std::string_view group, std::string_view id);
    AutoClaim xautoclaim(std::string_view key, std::string_view group, std::string_view consumer,
                         Duration min_idle, std::string_view start = "0-0",
                         std::size_t count = 100);
    PendingSummary xpending(std::string_view key, std::string_view group);
    // [IDLE min_idle] start end count [consumer]
    std::vector<PendingEntry> xpending(std::string_view key, std::string_view group,
                                       std::string_view start, std::string_view end,
                                       std::size_t count, std::string_view consumer = {});

    // ---- scripting ---------------------------------------------------------
    // EVAL script numkeys keys… args…; the script's reply (error replies thrown).
    Reply eval(std::string_view script, std::span<const std::string> keys,
               std::span<const std::string> args);

    // ---- pub/sub -----------------------------------------------------------
    long long publish(std::string_view channel, std::string_view message);  // receivers
    // Opens a second connection (same endpoint and options), subscribes to
    // `channels` (SUBSCRIBE) and `patterns` (PSUBSCRIBE), waits for the
    // confirmations, and starts the reader task. `capacity` bounds the
    // channel; a full channel makes the reader wait (the server buffers).
    // Throws: ConnectionError, AuthError, TimeoutError, UsageError (no
    // scheduler on this thread: the reader is a task).
    Subscriber subscribe(std::span<const std::string> channels,
                         std::span<const std::string> patterns = {}, std::size_t capacity = 1024);
    Subscriber subscribe(std::initializer_list<std::string> channels);

    struct Impl;

  private:
    friend class Pipeline;
    friend struct Subscriber::State;
    // Writes `wire`, reads `replies` replies into *many (or one into *one).
    void roundtrip(std::string_view wire, std::size_t replies, Duration extra,
                   std::vector<Reply>* many, Reply* one);
    std::unique_ptr<Impl> impl_;
};

}  // namespace ringlet::redis
