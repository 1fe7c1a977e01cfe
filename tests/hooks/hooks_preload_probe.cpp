// tests/hooks/hooks_preload_probe.cpp — a program that links ringlet but not the hooks.
//
// Prints "cooperative" and exits 0 when another task ran while one sat in a
// blocking read (the hooks are in: LD_PRELOAD=libringlet_preload.so), else
// prints "blocking" and exits 1 (the read blocked the whole thread until
// its SO_RCVTIMEO passed).
#include <cstdio>
#include <unistd.h>

#include <sys/socket.h>

#include <ringlet/run.hpp>
#include <ringlet/task.hpp>

int main() {
    return ringlet::run([] {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 2;
        timeval tv{1, 0};
        ::setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        bool returned = false;
        auto reader = ringlet::spawn([&] {
            char c;
            const ssize_t n = ::read(sv[0], &c, 1);
            returned = true;
            return n;
        });
        ringlet::yield();  // the reader runs until its read suspends it, or returns
        const bool cooperative = !returned;
        if (cooperative) ::write(sv[1], "x", 1);
        reader.join();
        std::puts(cooperative ? "cooperative" : "blocking");
        return cooperative ? 0 : 1;
    });
}
