#include <ringlet/net/address.hpp>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <ringlet/blocking.hpp>
#include <ringlet/errors.hpp>

namespace ringlet::net {

SocketAddress SocketAddress::ip(std::string_view ip_text, std::uint16_t port) {
    SocketAddress a;
    const std::string text(ip_text);
    if (text.empty() || text == "0.0.0.0") {
        auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
        a.size_ = sizeof(sockaddr_in);
        return a;
    }
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
    if (::inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        a.size_ = sizeof(sockaddr_in);
        return a;
    }
    std::string v6text = text;
    if (v6text.size() > 2 && v6text.front() == '[' && v6text.back() == ']') {
        v6text = v6text.substr(1, v6text.size() - 2);
    }
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
    if (::inet_pton(AF_INET6, v6text.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        a.size_ = sizeof(sockaddr_in6);
        return a;
    }
    throw UsageError("ringlet::net::SocketAddress::ip: not a numeric IP address: '" + text + "'");
}

SocketAddress SocketAddress::unix_path(std::string_view path) {
    SocketAddress a;
    auto* un = reinterpret_cast<sockaddr_un*>(&a.storage_);
    if (path.empty() || path.size() >= sizeof un->sun_path) {
        throw UsageError("ringlet::net: Unix socket path must have 1 to 107 bytes: '" +
                         std::string(path) + "'");
    }
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, path.data(), path.size());
    if (path.front() == '@') un->sun_path[0] = '\0';  // abstract namespace
    a.size_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                     (path.front() == '@' ? 0 : 1));
    return a;
}

SocketAddress SocketAddress::from(const sockaddr* addr, socklen_t len) {
    SocketAddress a;
    if (len > sizeof a.storage_) len = sizeof a.storage_;
    std::memcpy(&a.storage_, addr, len);
    a.size_ = len;
    return a;
}

std::uint16_t SocketAddress::port() const noexcept {
    if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    if (family() == AF_INET6) {
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    }
    return 0;
}

std::string SocketAddress::host() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family() == AF_INET) {
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf,
                    sizeof buf);
        return buf;
    }
    if (family() == AF_INET6) {
        ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf,
                    sizeof buf);
        return buf;
    }
    if (family() == AF_UNIX) {
        const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
        const std::size_t n = size_ > offsetof(sockaddr_un, sun_path)
                                  ? size_ - offsetof(sockaddr_un, sun_path)
                                  : 0;
        if (n == 0) return "";
        if (un->sun_path[0] == '\0') {
            std::string name(1, '@');  // built with append: GCC 12 -Wrestrict misfires on "@" + s
            name.append(un->sun_path + 1, n - 1);
            return name;
        }
        return std::string(un->sun_path, ::strnlen(un->sun_path, n));
    }
    return "";
}

std::string SocketAddress::to_string() const {
    if (family() == AF_INET) return host() + ":" + std::to_string(port());
    if (family() == AF_INET6) {
        std::string text(1, '[');
        text += host();
        text += "]:";
        text += std::to_string(port());
        return text;
    }
    return host();
}

bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept {
    return a.size_ == b.size_ && std::memcmp(&a.storage_, &b.storage_, a.size_) == 0;
}

std::vector<SocketAddress> resolve(std::string_view host, std::uint16_t port) {
    try {
        return {SocketAddress::ip(host, port)};  // numeric: no lookup, no thread
    } catch (const UsageError&) {
    }
    const std::string name(host);
    addrinfo* list = nullptr;
    const int rc = blocking([&] {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_ADDRCONFIG;
        return ::getaddrinfo(name.c_str(), nullptr, &hints, &list);
    });
    if (rc != 0) {
        const int err = rc == EAI_SYSTEM ? errno : (rc == EAI_NONAME ? EHOSTUNREACH : EIO);
        throw IoError(err, "resolve " + name + ": " + ::gai_strerror(rc));
    }
    std::vector<SocketAddress> out;
    for (addrinfo* ai = list; ai; ai = ai->ai_next) {
        SocketAddress a = SocketAddress::from(ai->ai_addr, ai->ai_addrlen);
        if (a.family() == AF_INET) {
            reinterpret_cast<sockaddr_in*>(a.get())->sin_port = htons(port);
        } else if (a.family() == AF_INET6) {
            reinterpret_cast<sockaddr_in6*>(a.get())->sin6_port = htons(port);
        }
        out.push_back(a);
    }
    ::freeaddrinfo(list);
    return out;
}

}  // namespace ringlet::net
