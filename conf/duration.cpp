#include "conf/duration.h"

#include <array>
#include <cstdint>
#include <limits>

namespace etld::conf {
namespace {

struct Unit {
    std::string_view suffix;
    std::int64_t ms;
};

// Largest first: format_duration picks the first unit that divides the value.
constexpr std::array<Unit, 5> kUnits{{
    {"d", 86'400'000},
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

std::string quoted(std::string_view text) {
    std::string out = "\"";
    out.append(text);
    out.push_back('"');
    return out;
}

ParsedDuration fail(std::string_view text, std::string_view why) {
    ParsedDuration r;
    r.error = "malformed duration " + quoted(text) + ": " + std::string(why);
    return r;
}

}  // namespace

ParsedDuration parse_duration(std::string_view text) {
    constexpr std::string_view kHint =
        R"(write an integer and a unit (ms, s, m, h, d), e.g. "250ms")";
    if (text.empty()) {
        ParsedDuration r;
        r.error = "empty duration; " + std::string(kHint);
        return r;
    }
    if (text.front() == '-') {
        return fail(text, "durations cannot be negative");
    }
    if (text.front() == '+') {
        return fail(text, "no sign allowed; " + std::string(kHint));
    }
    std::size_t i = 0;
    std::int64_t count = 0;
    bool overflow = false;
    while (i < text.size() && is_digit(text[i])) {
        const std::int64_t digit = text[i] - '0';
        if (count > (std::numeric_limits<std::int64_t>::max() - digit) / 10) {
            overflow = true;
        } else {
            count = count * 10 + digit;
        }
        ++i;
    }
    if (i == 0) {
        return fail(text, std::string(kHint));
    }
    const std::string_view unit = text.substr(i);
    if (unit.empty()) {
        return fail(text, "missing unit; " + std::string(kHint));
    }
    if (unit.front() == '.' || unit.front() == ',') {
        return fail(text, "fractions are not supported; use a smaller unit, e.g. \"1500ms\"");
    }
    if (unit.front() == ' ' || unit.front() == '\t') {
        return fail(text, "no space allowed between the number and the unit");
    }
    for (const Unit& u : kUnits) {
        if (unit == u.suffix) {
            if (overflow || count > std::numeric_limits<std::int64_t>::max() / u.ms) {
                return fail(text, "too large");
            }
            ParsedDuration r;
            r.value = Duration{count * u.ms};
            return r;
        }
    }
    return fail(text, "unknown unit " + quoted(unit) + "; units are ms, s, m, h, d");
}

std::string format_duration(Duration d) {
    std::int64_t ms = d.count();
    if (ms == 0) {
        return "0s";
    }
    std::string sign;
    if (ms < 0) {
        sign = "-";
        // -INT64_MIN does not exist; in milliseconds it is not a whole second either.
        if (ms == std::numeric_limits<std::int64_t>::min()) {
            return "-9223372036854775808ms";
        }
        ms = -ms;
    }
    for (const Unit& u : kUnits) {
        if (ms % u.ms == 0) {
            return sign + std::to_string(ms / u.ms) + std::string(u.suffix);
        }
    }
    return sign + std::to_string(ms) + "ms";  // unreachable: "ms" divides everything
}

}  // namespace etld::conf
