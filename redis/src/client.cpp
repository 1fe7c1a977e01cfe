// client.cpp — the connection: connect, AUTH/SELECT, write a command, read
// replies through hiredis's reader; Pipeline and Subscriber.
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <utility>

#include <ringlet/errors.hpp>
#include <ringlet/net/tcp.hpp>
#include <ringlet/net/unix.hpp>
#include <ringlet/redis/client.hpp>

#include "reply_builder.hpp"

namespace ringlet::redis {

ReaderPtr make_reader() {
    ReaderPtr r(redisReaderCreateWithFunctions(&ReplyBuilder::functions));
    if (!r) throw std::bad_alloc();
    return r;
}

void format_command(std::string& out, std::span<const std::string_view> argv) {
    constexpr std::size_t small = 16;
    std::array<const char*, small> ptr_small;
    std::array<size_t, small> len_small;
    std::vector<const char*> ptr_big;
    std::vector<size_t> len_big;
    const char** ptrs = ptr_small.data();
    size_t* lens = len_small.data();
    if (argv.size() > small) {
        ptr_big.resize(argv.size());
        len_big.resize(argv.size());
        ptrs = ptr_big.data();
        lens = len_big.data();
    }
    for (std::size_t i = 0; i < argv.size(); ++i) {
        ptrs[i] = argv[i].data();
        lens[i] = argv[i].size();
    }
    char* cmd = nullptr;
    const int n = redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), ptrs, lens);
    if (n < 0 || cmd == nullptr) throw std::bad_alloc();
    out.append(cmd, static_cast<std::size_t>(n));
    redisFreeCommand(cmd);
}

std::string Endpoint::describe() const {
    if (!unix_path.empty()) return "unix:" + unix_path;
    return host + ":" + std::to_string(port);
}

std::optional<std::string> StreamEntry::field(std::string_view name) const {
    for (const auto& [f, v] : fields)
        if (f == name) return v;
    return std::nullopt;
}

// ---- Client::Impl --------------------------------------------------------------

struct Client::Impl {
    Endpoint endpoint;
    ClientOptions options;
    net::Stream stream;
    ReaderPtr reader;
    bool open = false;
    bool busy = false;
    std::string wire;  // scratch for connect()'s AUTH and SELECT
    std::string cmd;   // scratch for command()
    std::array<char, 64 * 1024> buf;

    void close() noexcept {
        open = false;
        reader.reset();
        try {
            if (stream.is_open()) stream.close();
        } catch (...) {
        }
    }

    [[noreturn]] void lost(const std::string& why) {
        close();
        throw ConnectionError("ringlet::redis: " + endpoint.describe() + ": " + why);
    }

    // The next reply from the stream. Throws ConnectionError on EOF, an IO
    // error or bytes that are not RESP (the connection is then closed).
    Reply read_reply() {
        for (;;) {
            void* obj = nullptr;
            if (redisReaderGetReply(reader.get(), &obj) != REDIS_OK) {
                lost(std::string("protocol error: ") + reader->errstr);
            }
            if (obj != nullptr) {
                std::unique_ptr<Reply> r(static_cast<Reply*>(obj));
                return std::move(*r);
            }
            std::size_t n = 0;
            try {
                n = stream.read(buf.data(), buf.size());
            } catch (const IoError& e) {
                lost(e.what());
            }
            if (n == 0) lost("the server closed the connection");
            if (redisReaderFeed(reader.get(), buf.data(), n) != REDIS_OK) {
                lost(std::string("protocol error: ") + reader->errstr);
            }
        }
    }

    void write(std::string_view bytes) {
        try {
            stream.write_all(bytes);
        } catch (const IoError& e) {
            lost(e.what());
        }
    }

    // One command on the open connection, no deadline of its own.
    Reply simple(std::initializer_list<std::string_view> argv) {
        wire.clear();
        format_command(wire, std::span<const std::string_view>(argv.begin(), argv.size()));
        write(wire);
        return read_reply();
    }

    void connect() {
        close();
        std::optional<Timeout> deadline;
        if (options.connect_timeout != forever) deadline.emplace(options.connect_timeout);
        try {
            if (!endpoint.unix_path.empty()) {
                stream = net::UnixStream::connect(endpoint.unix_path);
            } else {
                net::TcpStream s = net::TcpStream::connect(endpoint.host, endpoint.port);
                s.set_nodelay();
                stream = std::move(s);
            }
        } catch (const IoError& e) {
            lost(std::string("connect: ") + e.what());
        }
        reader = make_reader();
        open = true;
        try {
            if (!options.password.empty()) {
                Reply r = options.user.empty() ? simple({"AUTH", options.password})
                                               : simple({"AUTH", options.user, options.password});
                if (r.is_error())
                    throw AuthError("ringlet::redis: AUTH refused by " + endpoint.describe() +
                                    ": " + r.error_text());
            }
            if (options.db != 0) {
                const std::string db = std::to_string(options.db);
                Reply r = simple({"SELECT", db});
                if (r.is_error()) {
                    r.throw_if_error();
                }
            }
        } catch (...) {
            close();
            throw;
        }
    }
};

Client::Client() noexcept = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Client Client::connect(const Endpoint& endpoint, ClientOptions options) {
    Client c;
    c.impl_ = std::make_unique<Impl>();
    c.impl_->endpoint = endpoint;
    c.impl_->options = std::move(options);
    c.impl_->connect();
    return c;
}

Client Client::connect(std::string_view host, std::uint16_t port, ClientOptions options) {
    return connect(Endpoint::tcp(std::string(host), port), std::move(options));
}

Client Client::connect_unix(std::string_view path, ClientOptions options) {
    return connect(Endpoint::unix_socket(std::string(path)), std::move(options));
}

namespace {
[[noreturn]] void throw_busy() {
    throw UsageError(
        "ringlet::redis::Client: a call is already in flight on this connection (one task at a "
        "time; share connections between tasks with a ConnectionPool)");
}

Client::Impl& checked(const std::unique_ptr<Client::Impl>& impl) {
    if (!impl) throw UsageError("ringlet::redis::Client: empty client (use Client::connect)");
    return *impl;
}
}  // namespace

const Endpoint& Client::endpoint() const { return checked(impl_).endpoint; }
const ClientOptions& Client::options() const { return checked(impl_).options; }
bool Client::is_connected() const noexcept { return impl_ && impl_->open; }
void Client::close() noexcept {
    if (impl_) impl_->close();
}

void Client::roundtrip(std::string_view wire, std::size_t replies, Duration extra,
                       std::vector<Reply>* many, Reply* one) {
    Impl& c = checked(impl_);
    if (c.busy) throw_busy();
    c.busy = true;
    struct Unbusy {
        Impl& c;
        ~Unbusy() { c.busy = false; }
    } unbusy{c};
    if (!c.open) c.connect();
    std::optional<Timeout> deadline;
    if (c.options.timeout != forever && extra != forever) {
        deadline.emplace(c.options.timeout + extra);
    }
    try {
        c.write(wire);
        if (one != nullptr) {
            *one = c.read_reply();
            // A server still loading its dataset refuses every command before
            // running it, so sending it again is safe (go-redis does the same).
            const TimePoint give_up = deadline_after(c.options.loading_timeout);
            Duration backoff = std::chrono::milliseconds(5);
            while (one->is_error() && one->error_text().starts_with("LOADING") &&
                   Clock::now() + backoff < give_up) {
                sleep(backoff);  // the server says nothing when it is done
                backoff = std::min<Duration>(backoff * 2, std::chrono::milliseconds(200));
                c.write(wire);
                *one = c.read_reply();
            }
        } else {
            many->reserve(replies);
            for (std::size_t i = 0; i < replies; ++i) many->push_back(c.read_reply());
        }
    } catch (...) {
        // A reply we did not read would be taken by the next command: the
        // connection cannot be kept (Cancelled, TimeoutError, lost).
        c.close();
        throw;
    }
}

Reply Client::command_blocking(std::span<const std::string_view> argv, Duration extra) {
    Impl& c = checked(impl_);
    // Not while another task's call is in flight: its write may still be
    // reading the scratch buffer.
    if (c.busy) throw_busy();
    c.cmd.clear();
    format_command(c.cmd, argv);
    Reply r;
    roundtrip(c.cmd, 1, extra, nullptr, &r);
    return r;
}

Reply Client::command(std::span<const std::string_view> argv) {
    return command_blocking(argv, Duration::zero());
}

Reply Client::command(std::initializer_list<std::string_view> argv) {
    return command(std::span<const std::string_view>(argv.begin(), argv.size()));
}

Reply Client::command(const std::vector<std::string>& argv) {
    std::vector<std::string_view> v(argv.begin(), argv.end());
    return command(std::span<const std::string_view>(v));
}

// ---- Pipeline --------------------------------------------------------------------

Pipeline& Pipeline::add(std::span<const std::string_view> argv) {
    format_command(wire_, argv);
    ++count_;
    return *this;
}

Pipeline& Pipeline::add(std::initializer_list<std::string_view> argv) {
    return add(std::span<const std::string_view>(argv.begin(), argv.size()));
}

Pipeline& Pipeline::add(const std::vector<std::string>& argv) {
    std::vector<std::string_view> v(argv.begin(), argv.end());
    return add(std::span<const std::string_view>(v));
}

std::vector<Reply> Pipeline::execute() {
    std::string wire = std::move(wire_);
    const std::size_t n = std::exchange(count_, 0);
    wire_.clear();
    if (n == 0) return {};
    std::vector<Reply> out;
    client_->roundtrip(wire, n, Duration::zero(), &out, nullptr);
    return out;
}

// ---- Subscriber --------------------------------------------------------------------

struct Subscriber::State {
    Client client;
    Channel<Message> channel;
    std::exception_ptr error;
    explicit State(std::size_t capacity) : channel(capacity) {}

    // The reader task: messages into the channel until the connection ends.
    void read_loop() {
        struct CloseChannel {
            Channel<Message>& ch;
            ~CloseChannel() { ch.close(); }
        } closer{channel};
        Client::Impl& c = *client.impl_;
        try {
            for (;;) {
                Reply r = c.read_reply();
                if (!r.is_array() || r.size() < 3) continue;
                const std::string& kind = r[0].text();
                if (kind == "message") {
                    channel.send(Message{r[1].text(), r[2].text(), {}});
                } else if (kind == "pmessage" && r.size() >= 4) {
                    channel.send(Message{r[2].text(), r[3].text(), r[1].text()});
                }
            }
        } catch (const ConnectionError&) {
            error = std::current_exception();
        } catch (const ChannelClosed&) {
        }
    }
};

Subscriber::Subscriber(std::shared_ptr<State> s, Task<void> reader)
    : state_(std::move(s)), reader_(std::move(reader)) {}
Subscriber::Subscriber(Subscriber&&) noexcept = default;
Subscriber& Subscriber::operator=(Subscriber&& o) noexcept {
    if (this != &o) {
        if (reader_.valid() && !reader_.done()) reader_.cancel();
        state_ = std::move(o.state_);
        reader_ = std::move(o.reader_);
    }
    return *this;
}
Subscriber::~Subscriber() {
    // Never suspends: the reader is cancelled and left to unwind on its own;
    // it holds the state (connection, channel) until it has.
    if (reader_.valid() && !reader_.done()) {
        try {
            reader_.cancel();
        } catch (...) {
        }
    }
}

namespace {
Subscriber::State& state_of(const std::shared_ptr<Subscriber::State>& s) {
    if (!s) throw UsageError("ringlet::redis::Subscriber: empty subscriber");
    return *s;
}
}  // namespace

std::optional<Message> Subscriber::recv() { return state_of(state_).channel.recv(); }
std::optional<Message> Subscriber::recv_for(Duration timeout) {
    return state_of(state_).channel.recv_for(timeout);
}
Channel<Message>& Subscriber::messages() { return state_of(state_).channel; }
std::exception_ptr Subscriber::error() const { return state_of(state_).error; }

Subscriber Client::subscribe(std::span<const std::string> channels,
                             std::span<const std::string> patterns, std::size_t capacity) {
    if (channels.empty() && patterns.empty()) {
        throw UsageError("ringlet::redis::Client::subscribe: no channel and no pattern given");
    }
    Impl& self = checked(impl_);
    auto state = std::make_shared<Subscriber::State>(capacity);
    ClientOptions opts = self.options;
    opts.timeout = forever;  // a subscriber waits for messages without limit
    state->client = Client::connect(self.endpoint, opts);
    Client::Impl& c = *state->client.impl_;
    {
        std::optional<Timeout> deadline;
        if (self.options.timeout != forever) deadline.emplace(self.options.timeout);
        std::string wire;
        std::vector<std::string_view> argv;
        if (!channels.empty()) {
            argv.assign({"SUBSCRIBE"});
            for (const auto& ch : channels) argv.push_back(ch);
            format_command(wire, argv);
        }
        if (!patterns.empty()) {
            argv.assign({"PSUBSCRIBE"});
            for (const auto& p : patterns) argv.push_back(p);
            format_command(wire, argv);
        }
        c.write(wire);
        for (std::size_t i = 0; i < channels.size() + patterns.size(); ++i) {
            Reply r = c.read_reply();
            r.throw_if_error();
        }
    }
    Task<void> reader =
        spawn(SpawnOptions{.name = "redis-subscriber"}, [s = state] { s->read_loop(); });
    return Subscriber(std::move(state), std::move(reader));
}

Subscriber Client::subscribe(std::initializer_list<std::string> channels) {
    return subscribe(std::span<const std::string>(channels.begin(), channels.size()));
}

}  // namespace ringlet::redis
