#include "time_parse.h"

namespace etld::pipeline::detail {

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    // Shift the year to start in March so the leap day is the last day of the
    // year; then every 400-year era has the same length.
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

namespace {

bool digits(std::string_view s, std::size_t at, std::size_t n, unsigned& out) {
    if (at + n > s.size()) {
        return false;
    }
    out = 0;
    for (std::size_t i = at; i < at + n; ++i) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        out = out * 10 + static_cast<unsigned>(s[i] - '0');
    }
    return true;
}

bool leap(unsigned y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

}  // namespace

ParsedTime parse_iso8601(std::string_view s) {
    ParsedTime bad{TimeParse::malformed, 0};
    unsigned year = 0;
    unsigned month = 0;
    unsigned day = 0;
    unsigned hour = 0;
    unsigned minute = 0;
    unsigned second = 0;
    if (!digits(s, 0, 4, year) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, month) ||
        s[7] != '-' || !digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !digits(s, 11, 2, hour) || s[13] != ':' || !digits(s, 14, 2, minute) || s[16] != ':' ||
        !digits(s, 17, 2, second)) {
        return bad;
    }
    static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12 || day < 1 ||
        day > kDays[month - 1] + (month == 2 && leap(year) ? 1 : 0) || hour > 23 || minute > 59 ||
        second > 59) {
        return bad;
    }
    std::size_t at = 19;
    std::int64_t millis = 0;
    if (at < s.size() && s[at] == '.') {
        ++at;
        std::size_t n = 0;
        while (at < s.size() && s[at] >= '0' && s[at] <= '9') {
            if (n < 3) {
                millis = millis * 10 + (s[at] - '0');
            }
            ++n;
            ++at;
        }
        if (n == 0 || n > 9) {
            return bad;
        }
        for (std::size_t k = n; k < 3; ++k) {
            millis *= 10;
        }
    }
    std::int64_t offset_min = 0;
    if (at < s.size()) {
        if ((s[at] == 'Z' || s[at] == 'z') && at + 1 == s.size()) {
            at = s.size();
        } else if (s[at] == '+' || s[at] == '-') {
            const bool neg = s[at] == '-';
            unsigned oh = 0;
            unsigned om = 0;
            if (!digits(s, at + 1, 2, oh)) {
                return bad;
            }
            const std::size_t rest = at + 3;
            const bool hh = rest == s.size();
            const bool hh_colon_mm =
                !hh && s[rest] == ':' && digits(s, rest + 1, 2, om) && rest + 3 == s.size();
            const bool hhmm = !hh && !hh_colon_mm && digits(s, rest, 2, om) && rest + 2 == s.size();
            if (!hh && !hh_colon_mm && !hhmm) {
                return bad;
            }
            if (oh > 23 || om > 59) {
                return bad;
            }
            offset_min = static_cast<std::int64_t>(oh * 60 + om) * (neg ? -1 : 1);
            at = s.size();
        } else {
            return bad;
        }
    }
    const std::int64_t days = days_from_civil(year, month, day);
    const std::int64_t secs = days * 86400 + std::int64_t{hour} * 3600 + std::int64_t{minute} * 60 +
                              second - offset_min * 60;
    return ParsedTime{TimeParse::ok, secs * 1000 + millis};
}

}  // namespace etld::pipeline::detail
