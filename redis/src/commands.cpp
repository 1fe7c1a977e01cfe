// commands.cpp — Client's typed helpers: argv in, checked reply out.
#include <cstdio>

#include <ringlet/redis/client.hpp>

#include "reply_builder.hpp"

namespace ringlet::redis {

namespace {

using Argv = std::vector<std::string_view>;

// Reply of `argv`, with an error reply thrown.
Reply checked(Client& c, const Argv& argv, Duration extra = Duration::zero()) {
    Reply r = c.command_blocking(argv, extra);
    r.throw_if_error();
    return r;
}

std::string ms(Duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

// A blocking command's timeout in seconds for the server: 0 means forever.
std::string block_seconds(Duration d) {
    if (d == forever) return "0";
    const auto msec = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(msec < 1 ? 1 : msec) / 1000.0);
    return buf;
}

// How much longer than options.timeout a blocking command may take.
Duration block_allowance(Duration d) { return d == forever ? forever : d; }

std::vector<std::string> strings(const Reply& r) {
    std::vector<std::string> out;
    for (const Reply& e : r.as_array()) out.push_back(e.as_string());
    return out;
}

std::string_view side(End e) { return e == End::left ? "LEFT" : "RIGHT"; }

FieldValues pairs_of(const Reply& r) {
    FieldValues out;
    const auto& a = r.as_array();
    for (std::size_t i = 0; i + 1 < a.size(); i += 2) {
        out.emplace_back(a[i].as_string(), a[i + 1].as_string());
    }
    return out;
}

// [[id, [f, v, …]], …]; a deleted entry (nil fields, XAUTOCLAIM) has none.
std::vector<StreamEntry> entries_of(const Reply& r) {
    std::vector<StreamEntry> out;
    if (r.is_nil()) return out;
    for (const Reply& e : r.as_array()) {
        const auto& pair = e.as_array();
        if (pair.size() < 2) continue;
        StreamEntry entry;
        entry.id = pair[0].as_string();
        if (!pair[1].is_nil()) entry.fields = pairs_of(pair[1]);
        out.push_back(std::move(entry));
    }
    return out;
}

}  // namespace

// ---- connection ------------------------------------------------------------------

std::string Client::ping() { return checked(*this, {"PING"}).as_string(); }

void Client::auth(std::string_view password) {
    Reply r = command({"AUTH", password});
    if (r.is_error()) throw AuthError("ringlet::redis: AUTH refused: " + r.error_text());
    const_cast<ClientOptions&>(options()).password = std::string(password);
    const_cast<ClientOptions&>(options()).user.clear();
}

void Client::auth(std::string_view user, std::string_view password) {
    Reply r = command({"AUTH", user, password});
    if (r.is_error()) throw AuthError("ringlet::redis: AUTH refused: " + r.error_text());
    const_cast<ClientOptions&>(options()).password = std::string(password);
    const_cast<ClientOptions&>(options()).user = std::string(user);
}

void Client::select(int db) {
    const std::string n = std::to_string(db);
    checked(*this, {"SELECT", n});
    const_cast<ClientOptions&>(options()).db = db;
}

void Client::flushdb() { checked(*this, {"FLUSHDB"}); }

// ---- strings ---------------------------------------------------------------------

std::optional<std::string> Client::get(std::string_view key) {
    return checked(*this, {"GET", key}).as_optional_string();
}

bool Client::set(std::string_view key, std::string_view value, SetOptions o) {
    Argv argv{"SET", key, value};
    std::string px;
    if (o.ttl > Duration::zero()) {
        px = ms(o.ttl);
        if (px == "0") px = "1";
        argv.insert(argv.end(), {"PX", px});
    }
    if (o.nx) argv.push_back("NX");
    if (o.xx) argv.push_back("XX");
    return !checked(*this, argv).is_nil();
}

std::vector<std::optional<std::string>> Client::mget(std::span<const std::string> keys) {
    Argv argv{"MGET"};
    argv.insert(argv.end(), keys.begin(), keys.end());
    std::vector<std::optional<std::string>> out;
    const Reply r = checked(*this, argv);
    for (const Reply& e : r.as_array()) out.push_back(e.as_optional_string());
    return out;
}

void Client::mset(const FieldValues& pairs) {
    Argv argv{"MSET"};
    for (const auto& [k, v] : pairs) argv.insert(argv.end(), {k, v});
    checked(*this, argv);
}

long long Client::incr(std::string_view key) { return checked(*this, {"INCR", key}).as_integer(); }
long long Client::incrby(std::string_view key, long long by) {
    const std::string n = std::to_string(by);
    return checked(*this, {"INCRBY", key, n}).as_integer();
}
long long Client::decr(std::string_view key) { return checked(*this, {"DECR", key}).as_integer(); }
long long Client::append(std::string_view key, std::string_view value) {
    return checked(*this, {"APPEND", key, value}).as_integer();
}
long long Client::strlen(std::string_view key) {
    return checked(*this, {"STRLEN", key}).as_integer();
}
std::optional<std::string> Client::getdel(std::string_view key) {
    return checked(*this, {"GETDEL", key}).as_optional_string();
}

// ---- keys ------------------------------------------------------------------------

long long Client::del(std::initializer_list<std::string_view> keys) {
    Argv argv{"DEL"};
    argv.insert(argv.end(), keys.begin(), keys.end());
    return checked(*this, argv).as_integer();
}
long long Client::exists(std::initializer_list<std::string_view> keys) {
    Argv argv{"EXISTS"};
    argv.insert(argv.end(), keys.begin(), keys.end());
    return checked(*this, argv).as_integer();
}
bool Client::expire(std::string_view key, Duration ttl) {
    std::string t = ms(ttl);
    return checked(*this, {"PEXPIRE", key, t}).as_integer() == 1;
}
std::optional<std::chrono::milliseconds> Client::pttl(std::string_view key) {
    const long long v = checked(*this, {"PTTL", key}).as_integer();
    if (v < 0) return std::nullopt;
    return std::chrono::milliseconds(v);
}
bool Client::persist(std::string_view key) {
    return checked(*this, {"PERSIST", key}).as_integer() == 1;
}
std::string Client::type(std::string_view key) { return checked(*this, {"TYPE", key}).as_string(); }
void Client::rename(std::string_view from, std::string_view to) {
    checked(*this, {"RENAME", from, to});
}
std::vector<std::string> Client::keys(std::string_view pattern) {
    return strings(checked(*this, {"KEYS", pattern}));
}

// ---- lists -----------------------------------------------------------------------

long long Client::lpush(std::string_view key, std::span<const std::string> values) {
    Argv argv{"LPUSH", key};
    argv.insert(argv.end(), values.begin(), values.end());
    return checked(*this, argv).as_integer();
}
long long Client::lpush(std::string_view key, std::string_view value) {
    return checked(*this, {"LPUSH", key, value}).as_integer();
}
long long Client::rpush(std::string_view key, std::span<const std::string> values) {
    Argv argv{"RPUSH", key};
    argv.insert(argv.end(), values.begin(), values.end());
    return checked(*this, argv).as_integer();
}
long long Client::rpush(std::string_view key, std::string_view value) {
    return checked(*this, {"RPUSH", key, value}).as_integer();
}
std::optional<std::string> Client::lpop(std::string_view key) {
    return checked(*this, {"LPOP", key}).as_optional_string();
}
std::optional<std::string> Client::rpop(std::string_view key) {
    return checked(*this, {"RPOP", key}).as_optional_string();
}
std::vector<std::string> Client::lpop(std::string_view key, std::size_t count) {
    const std::string n = std::to_string(count);
    Reply r = checked(*this, {"LPOP", key, n});
    if (r.is_nil()) return {};
    return strings(r);
}
long long Client::llen(std::string_view key) { return checked(*this, {"LLEN", key}).as_integer(); }
std::vector<std::string> Client::lrange(std::string_view key, long long start, long long stop) {
    const std::string a = std::to_string(start), b = std::to_string(stop);
    return strings(checked(*this, {"LRANGE", key, a, b}));
}
long long Client::lrem(std::string_view key, long long count, std::string_view value) {
    const std::string n = std::to_string(count);
    return checked(*this, {"LREM", key, n, value}).as_integer();
}
std::optional<std::string> Client::lmove(std::string_view src, std::string_view dst, End from,
                                         End to) {
    return checked(*this, {"LMOVE", src, dst, side(from), side(to)}).as_optional_string();
}
std::optional<std::string> Client::blmove(std::string_view src, std::string_view dst, End from,
                                          End to, Duration timeout) {
    const std::string t = block_seconds(timeout);
    return checked(*this, {"BLMOVE", src, dst, side(from), side(to), t}, block_allowance(timeout))
        .as_optional_string();
}

namespace {
std::optional<std::pair<std::string, std::string>> bpop(Client& c, std::string_view cmd,
                                                        std::span<const std::string> keys,
                                                        Duration timeout) {
    const std::string t = block_seconds(timeout);
    Argv argv{cmd};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.push_back(t);
    Reply r = checked(c, argv, block_allowance(timeout));
    if (r.is_nil()) return std::nullopt;
    const auto& a = r.as_array();
    if (a.size() != 2) throw Error("ringlet::redis: unexpected reply to " + std::string(cmd));
    return std::pair{a[0].as_string(), a[1].as_string()};
}
}  // namespace

std::optional<std::pair<std::string, std::string>> Client::blpop(std::span<const std::string> keys,
                                                                 Duration timeout) {
    return bpop(*this, "BLPOP", keys, timeout);
}
std::optional<std::pair<std::string, std::string>> Client::brpop(std::span<const std::string> keys,
                                                                 Duration timeout) {
    return bpop(*this, "BRPOP", keys, timeout);
}

// ---- hashes ----------------------------------------------------------------------

long long Client::hset(std::string_view key, std::string_view field, std::string_view value) {
    return checked(*this, {"HSET", key, field, value}).as_integer();
}
long long Client::hset(std::string_view key, const FieldValues& fields) {
    Argv argv{"HSET", key};
    for (const auto& [f, v] : fields) argv.insert(argv.end(), {f, v});
    return checked(*this, argv).as_integer();
}
std::optional<std::string> Client::hget(std::string_view key, std::string_view field) {
    return checked(*this, {"HGET", key, field}).as_optional_string();
}
std::map<std::string, std::string> Client::hgetall(std::string_view key) {
    std::map<std::string, std::string> out;
    for (auto& [f, v] : pairs_of(checked(*this, {"HGETALL", key}))) out.emplace(f, v);
    return out;
}
long long Client::hdel(std::string_view key, std::initializer_list<std::string_view> fields) {
    Argv argv{"HDEL", key};
    argv.insert(argv.end(), fields.begin(), fields.end());
    return checked(*this, argv).as_integer();
}
bool Client::hexists(std::string_view key, std::string_view field) {
    return checked(*this, {"HEXISTS", key, field}).as_integer() == 1;
}
long long Client::hincrby(std::string_view key, std::string_view field, long long by) {
    const std::string n = std::to_string(by);
    return checked(*this, {"HINCRBY", key, field, n}).as_integer();
}
long long Client::hlen(std::string_view key) { return checked(*this, {"HLEN", key}).as_integer(); }
std::vector<std::string> Client::hkeys(std::string_view key) {
    return strings(checked(*this, {"HKEYS", key}));
}

// ---- streams ---------------------------------------------------------------------

std::string Client::xadd(std::string_view key, const FieldValues& fields, std::string_view id,
                         std::size_t approx_maxlen) {
    Argv argv{"XADD", key};
    std::string maxlen;
    if (approx_maxlen != 0) {
        maxlen = std::to_string(approx_maxlen);
        argv.insert(argv.end(), {"MAXLEN", "~", maxlen});
    }
    argv.push_back(id);
    for (const auto& [f, v] : fields) argv.insert(argv.end(), {f, v});
    return checked(*this, argv).as_string();
}
long long Client::xlen(std::string_view key) { return checked(*this, {"XLEN", key}).as_integer(); }
std::vector<StreamEntry> Client::xrange(std::string_view key, std::string_view start,
                                        std::string_view end, std::size_t count) {
    Argv argv{"XRANGE", key, start, end};
    std::string n;
    if (count != 0) {
        n = std::to_string(count);
        argv.insert(argv.end(), {"COUNT", n});
    }
    return entries_of(checked(*this, argv));
}
long long Client::xdel(std::string_view key, std::initializer_list<std::string_view> ids) {
    Argv argv{"XDEL", key};
    argv.insert(argv.end(), ids.begin(), ids.end());
    return checked(*this, argv).as_integer();
}
bool Client::xgroup_create(std::string_view key, std::string_view group, std::string_view id,
                           bool mkstream) {
    Argv argv{"XGROUP", "CREATE", key, group, id};
    if (mkstream) argv.push_back("MKSTREAM");
    Reply r = command(argv);
    if (r.is_error() && r.error_text().starts_with("BUSYGROUP")) return false;
    r.throw_if_error();
    return true;
}
std::vector<StreamEntry> Client::xreadgroup(std::string_view group, std::string_view consumer,
                                            std::string_view key, std::size_t count, Duration block,
                                            std::string_view id) {
    const std::string n = std::to_string(count == 0 ? 1 : count);
    Argv argv{"XREADGROUP", "GROUP", group, consumer, "COUNT", n};
    std::string b;
    Duration extra = Duration::zero();
    if (block != Duration::zero()) {
        b = block == forever ? "0" : ms(block);
        if (b == "0" && block != forever) b = "1";
        argv.insert(argv.end(), {"BLOCK", b});
        extra = block_allowance(block);
    }
    argv.insert(argv.end(), {"STREAMS", key, id});
    Reply r = checked(*this, argv, extra);
    if (r.is_nil()) return {};
    std::vector<StreamEntry> out;
    for (const Reply& stream : r.as_array()) {
        const auto& pair = stream.as_array();
        if (pair.size() < 2) continue;
        for (auto& e : entries_of(pair[1])) out.push_back(std::move(e));
    }
    return out;
}
long long Client::xack(std::string_view key, std::string_view group,
                       std::span<const std::string> ids) {
    Argv argv{"XACK", key, group};
    argv.insert(argv.end(), ids.begin(), ids.end());
    return checked(*this, argv).as_integer();
}
long long Client::xack(std::string_view key, std::string_view group, std::string_view id) {
    return checked(*this, {"XACK", key, group, id}).as_integer();
}
AutoClaim Client::xautoclaim(std::string_view key, std::string_view group,
                             std::string_view consumer, Duration min_idle, std::string_view start,
                             std::size_t count) {
    const std::string idle = ms(min_idle), n = std::to_string(count == 0 ? 1 : count);
    Reply r = checked(*this, {"XAUTOCLAIM", key, group, consumer, idle, start, "COUNT", n});
    const auto& a = r.as_array();
    if (a.size() < 2)
        throw Error("ringlet::redis: unexpected reply to XAUTOCLAIM: " + r.describe());
    AutoClaim out;
    out.next = a[0].as_string();
    out.entries = entries_of(a[1]);
    if (a.size() >= 3) out.deleted = strings(a[2]);
    return out;
}
PendingSummary Client::xpending(std::string_view key, std::string_view group) {
    Reply r = checked(*this, {"XPENDING", key, group});
    const auto& a = r.as_array();
    PendingSummary out;
    if (a.size() < 4) return out;
    out.count = a[0].as_integer();
    if (out.count == 0) return out;
    out.min_id = a[1].as_string();
    out.max_id = a[2].as_string();
    if (a[3].is_array()) {
        for (const Reply& c : a[3].as_array()) {
            out.consumers.emplace_back(c[0].as_string(), std::stoll(c[1].as_string()));
        }
    }
    return out;
}
std::vector<PendingEntry> Client::xpending(std::string_view key, std::string_view group,
                                           std::string_view start, std::string_view end,
                                           std::size_t count, std::string_view consumer) {
    const std::string n = std::to_string(count == 0 ? 1 : count);
    Argv argv{"XPENDING", key, group, start, end, n};
    if (!consumer.empty()) argv.push_back(consumer);
    std::vector<PendingEntry> out;
    const Reply r = checked(*this, argv);
    for (const Reply& e : r.as_array()) {
        const auto& a = e.as_array();
        if (a.size() < 4) continue;
        out.push_back(PendingEntry{a[0].as_string(), a[1].as_string(),
                                   std::chrono::milliseconds(a[2].as_integer()),
                                   a[3].as_integer()});
    }
    return out;
}

// ---- scripting / pub-sub ---------------------------------------------------------

Reply Client::eval(std::string_view script, std::span<const std::string> keys,
                   std::span<const std::string> args) {
    const std::string nkeys = std::to_string(keys.size());
    Argv argv{"EVAL", script, nkeys};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return checked(*this, argv);
}

long long Client::publish(std::string_view channel, std::string_view message) {
    return checked(*this, {"PUBLISH", channel, message}).as_integer();
}

}  // namespace ringlet::redis
