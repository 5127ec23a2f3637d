// The systemd readiness protocol (sd_notify), for Type=notify units.
//
// Without NOTIFY_SOCKET in the environment (not started by systemd) every
// call does nothing. Messages: READY=1 once state is restored, RELOADING=1
// with MONOTONIC_USEC around a reload, STOPPING=1, WATCHDOG=1 at half of
// WATCHDOG_USEC, EXTEND_TIMEOUT_USEC while draining, STATUS= one-liners.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace etld::daemon {

class Notifier {
  public:
    // Reads NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID once.
    Notifier();

    bool enabled() const { return enabled_; }
    // How often to send WATCHDOG=1 (half the watchdog timeout), if enabled.
    std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_; }

    void ready(std::string_view status);
    void reloading();  // RELOADING=1 and MONOTONIC_USEC=<now>
    void stopping(std::string_view status);
    void status(std::string_view status);
    void watchdog();
    void extend_timeout(std::chrono::microseconds by);

    // Sends one datagram of newline-separated assignments; false on failure
    // (logged once). Public for tests.
    bool send(const std::string& message);

  private:
    bool enabled_ = false;
    bool failure_logged_ = false;
    std::optional<std::chrono::microseconds> watchdog_;
};

// A STATUS= value must be one line.
std::string one_line(std::string_view text);

}  // namespace etld::daemon
