#include "daemon/notify.h"

#include <systemd/sd-daemon.h>
#include <time.h>

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

bool Notifier::send(const std::string& message) {
    if (!enabled_) {
        return false;
    }
    const int r = sd_notify(0, message.c_str());
    if (r <= 0 && !failure_logged_) {
        failure_logged_ = true;
        log(Level::warning, std::string("sd_notify failed: ") +
                                (r < 0 ? std::strerror(-r) : "NOTIFY_SOCKET is not usable"));
    }
    return r > 0;
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
