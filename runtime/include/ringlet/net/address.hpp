// ringlet/net/address.hpp — socket addresses and name resolution.
//
// SocketAddress holds any IPv4, IPv6 or Unix-domain address by value.
// resolve() turns a host name into addresses without stalling the scheduler:
// numeric hosts are parsed directly; names go through getaddrinfo on the
// blocking pool.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringlet::net {

class SocketAddress {
public:
    SocketAddress() = default;
    // IPv4/IPv6 literal ("127.0.0.1", "::1", "" = any IPv6/IPv4) and port.
    // Throws: UsageError if `ip` is not a numeric address.
    static SocketAddress ip(std::string_view ip, std::uint16_t port);
    // Unix-domain path; a leading '@' names an abstract socket (Linux).
    // Throws: UsageError if the path is too long.
    static SocketAddress unix_path(std::string_view path);
    static SocketAddress from(const sockaddr* addr, socklen_t len);

    int family() const noexcept { return storage_.ss_family; }
    std::uint16_t port() const noexcept;   // 0 for Unix addresses
    std::string host() const;              // "127.0.0.1", "::1", or the Unix path
    std::string to_string() const;         // "127.0.0.1:80", "[::1]:80", "/tmp/s", "@name"
    const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
    sockaddr* get() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
    socklen_t size() const noexcept { return size_; }
    friend bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept;

private:
    sockaddr_storage storage_{};
    socklen_t size_ = 0;
};

// Addresses for `host`:`port` (numeric or a name), IPv4 and IPv6.
// Suspends (names only). Throws: IoError (code from getaddrinfo as
// std::errc::host_unreachable … see what()), Cancelled, TimeoutError.
std::vector<SocketAddress> resolve(std::string_view host, std::uint16_t port);

}  // namespace ringlet::net
