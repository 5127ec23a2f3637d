#include "daemon/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

namespace etld::daemon {

namespace {

std::atomic<int> max_level{static_cast<int>(Level::info)};
std::mutex write_mutex;

}  // namespace

void set_log_level(Level level) {
    max_level = static_cast<int>(level);
}

bool log_enabled(Level level) {
    return static_cast<int>(level) <= max_level.load(std::memory_order_relaxed);
}

void log(Level level, std::string_view message) {
    if (!log_enabled(level)) {
        return;
    }
    std::string line;
    line.reserve(message.size() + 5);
    line.push_back('<');
    line.push_back(static_cast<char>('0' + static_cast<int>(level)));
    line.push_back('>');
    line.append(message);
    line.push_back('\n');
    const std::lock_guard<std::mutex> lock(write_mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

}  // namespace etld::daemon
