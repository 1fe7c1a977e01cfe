// ringlet/net/udp.hpp — UDP datagrams.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

#include <ringlet/net/address.hpp>
#include <ringlet/net/socket.hpp>

namespace ringlet::net {

class UdpSocket {
public:
    UdpSocket() noexcept = default;
    // Binds to a numeric `host` ("" = any IPv4, "::" = any IPv6) and port
    // (0 = any). Throws: IoError, UsageError.
    static UdpSocket bind(std::string_view host, std::uint16_t port);

    // Sends one datagram. Suspends. Throws: IoError, Cancelled, TimeoutError.
    std::size_t send_to(std::span<const std::byte> data, const SocketAddress& to);
    std::size_t send_to(std::string_view text, const SocketAddress& to) {
        return send_to(std::as_bytes(std::span(text.data(), text.size())), to);
    }
    // Receives one datagram (truncated to buf.size()) and its sender.
    // Suspends. Throws: IoError, Cancelled, TimeoutError.
    std::pair<std::size_t, SocketAddress> recv_from(std::span<std::byte> buf);
    std::uint16_t port() const { return socket_.local_address().port(); }
    SocketAddress local_address() const { return socket_.local_address(); }
    void close() { socket_.close(); }

private:
    Socket socket_;
};

}  // namespace ringlet::net
