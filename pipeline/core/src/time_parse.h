#pragma once

// Internal: event-time parsing for the decoder.

#include <cstdint>
#include <string_view>

namespace etld::pipeline::detail {

enum class TimeParse : std::uint8_t { ok, malformed, out_of_range };

struct ParsedTime {
    TimeParse status = TimeParse::malformed;
    std::int64_t ms = 0;
};

// YYYY-MM-DD('T'|'t'|' ')hh:mm:ss[.f{1,9}][Z|z|(+|-)hh:mm|(+|-)hhmm|(+|-)hh].
// No offset means UTC (Python's naive datetime.isoformat()). Fractions finer
// than a millisecond are truncated. Years before 1970 parse, and are reported
// out of range by the caller's bounds.
ParsedTime parse_iso8601(std::string_view s);

// Days since 1970-01-01 of a proleptic Gregorian date.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);

}  // namespace etld::pipeline::detail
