#include "daemon/notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "daemon/log.h"

namespace etld::daemon {

Notifier::Notifier() {
    const char* socket = std::getenv("NOTIFY_SOCKET");
    enabled_ = socket != nullptr && socket[0] != '\0';
    std::uint64_t usec = 0;
    if (enabled_ && sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        watchdog_ = std::chrono::microseconds(usec / 2);
    }
}

std::string one_line(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c == '\n' || c == '\r') {
            c = ' ';
        }
    }
    return out;
}

// Written out rather than sd_notify(), which blocks when the receiver's queue
// is full: the signal thread must never wait on its reader.
bool Notifier::send(const std::string& message) {
    if (!enabled_) {
        return false;
    }
    const char* socket_name = std::getenv("NOTIFY_SOCKET");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::size_t length = socket_name != nullptr ? std::strlen(socket_name) : 0;
    const bool usable = length > 0 && length < sizeof(addr.sun_path) &&
                        (socket_name[0] == '/' || socket_name[0] == '@');
    int error = EINVAL;
    if (usable) {
        std::memcpy(addr.sun_path, socket_name, length);
        if (socket_name[0] == '@') {
            addr.sun_path[0] = '\0';  // abstract namespace
        }
        const auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length +
                                                     (socket_name[0] == '/' ? 1 : 0));
        const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd >= 0) {
            const ssize_t sent =
                ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                         reinterpret_cast<const sockaddr*>(&addr), addr_len);
            error = sent == static_cast<ssize_t>(message.size()) ? 0 : errno;
            ::close(fd);
        } else {
            error = errno;
        }
    }
    if (error != 0 && !failure_logged_) {
        failure_logged_ = true;
        log(Level::warning, std::string("sd_notify to NOTIFY_SOCKET failed (") +
                                std::strerror(error) + "); later failures are not logged");
    }
    return error == 0;
}

void Notifier::ready(std::string_view status) {
    send("READY=1\nSTATUS=" + one_line(status));
}

void Notifier::reloading() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const std::uint64_t usec = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000ULL +
                               static_cast<std::uint64_t>(ts.tv_nsec) / 1000ULL;
    send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=reloading");
}

void Notifier::stopping(std::string_view status) {
    send("STOPPING=1\nSTATUS=" + one_line(status));
}

void Notifier::status(std::string_view status) {
    send("STATUS=" + one_line(status));
}

void Notifier::watchdog() {
    send("WATCHDOG=1");
}

void Notifier::extend_timeout(std::chrono::microseconds by) {
    send("EXTEND_TIMEOUT_USEC=" + std::to_string(by.count()));
}

}  // namespace etld::daemon
