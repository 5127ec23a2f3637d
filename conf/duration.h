// Durations as written in the configuration file: an unsigned integer followed by a unit,
// "250ms", "30s", "10m", "2h", "7d". No sign, no fraction, no space, no compound ("1h30m").
#pragma once

#include <string>
#include <string_view>

#include "conf/config.h"

namespace etld::conf {

/// Either a duration or the reason the text is not one (`error` is then non-empty and reads
/// well after "<key>: ").
struct ParsedDuration {
    Duration value{0};
    std::string error;

    bool ok() const noexcept { return error.empty(); }
};

ParsedDuration parse_duration(std::string_view text);

/// The shortest exact spelling in the largest unit that divides the value: 90000ms -> "90s",
/// 3600000ms -> "1h", 0 -> "0s". parse_duration(format_duration(d)) == d for every d >= 0.
/// A negative value (never produced by the loader) is written with a leading '-'.
std::string format_duration(Duration d);

}  // namespace etld::conf
