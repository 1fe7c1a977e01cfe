#include <ringlet/net/udp.hpp>

#include <sys/socket.h>

#include <ringlet/errors.hpp>

#include "io_request.hpp"

namespace ringlet::net {

UdpSocket UdpSocket::bind(std::string_view host, std::uint16_t port) {
    const SocketAddress address = SocketAddress::ip(host, port);
    UdpSocket u;
    u.socket_ = Socket::open(address.family(), SOCK_DGRAM);
    u.socket_.bind(address);
    return u;
}

std::size_t UdpSocket::send_to(std::span<const std::byte> data, const SocketAddress& to) {
    iovec iov{const_cast<std::byte*>(data.data()), data.size()};
    msghdr msg{};
    msg.msg_name = const_cast<sockaddr*>(to.get());
    msg.msg_namelen = to.size();
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ringlet::detail::IoRequest r{ringlet::detail::IoOpcode::sendmsg, socket_.fd()};
    r.msg = &msg;
    const long res = ringlet::detail::perform_io(r);
    if (res < 0) throw_io_error(static_cast<int>(res), "sendto");
    return static_cast<std::size_t>(res);
}

std::pair<std::size_t, SocketAddress> UdpSocket::recv_from(std::span<std::byte> buf) {
    sockaddr_storage from{};
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ringlet::detail::IoRequest r{ringlet::detail::IoOpcode::recvmsg, socket_.fd()};
    r.msg = &msg;
    const long res = ringlet::detail::perform_io(r);
    if (res < 0) throw_io_error(static_cast<int>(res), "recvfrom");
    return {static_cast<std::size_t>(res),
            SocketAddress::from(reinterpret_cast<sockaddr*>(&from), msg.msg_namelen)};
}

}  // namespace ringlet::net
