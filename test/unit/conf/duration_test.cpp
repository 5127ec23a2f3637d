#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>

#include "conf/duration.h"

using etld::conf::Duration;
using etld::conf::format_duration;
using etld::conf::parse_duration;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(duration_parsing)

BOOST_AUTO_TEST_CASE(accepts_an_unsigned_integer_followed_by_a_unit) {
    struct Case {
        const char* text;
        Duration expected;
    };
    const Case cases[] = {
        {"0ms", 0ms},
        {"0s", 0ms},
        {"1ms", 1ms},
        {"250ms", 250ms},
        {"30s", 30s},
        {"10m", 10min},
        {"2h", 2h},
        {"7d", std::chrono::days{7}},
        {"007s", 7s},
        {"106751991167d", std::chrono::days{106751991167}},
        {"9223372036854775807ms", Duration{9223372036854775807}},
    };
    for (const Case& c : cases) {
        BOOST_TEST_CONTEXT(c.text) {
            const auto parsed = parse_duration(c.text);
            BOOST_TEST(parsed.ok());
            BOOST_TEST(parsed.error.empty());
            BOOST_TEST(parsed.value.count() == c.expected.count());
        }
    }
}

BOOST_AUTO_TEST_CASE(rejects_malformed_text_and_says_why) {
    struct Case {
        const char* text;
        const char* error;
    };
    const Case cases[] = {
        {"", R"(empty duration; write an integer and a unit (ms, s, m, h, d), e.g. "250ms")"},
        {"250",
         R"(malformed duration "250": missing unit; write an integer and a unit (ms, s, m, h, d), e.g. "250ms")"},
        {"5 sec",
         R"(malformed duration "5 sec": no space allowed between the number and the unit)"},
        {"-1s", R"(malformed duration "-1s": durations cannot be negative)"},
        {"+1s",
         R"(malformed duration "+1s": no sign allowed; write an integer and a unit (ms, s, m, h, d), e.g. "250ms")"},
        {"1.5s",
         R"(malformed duration "1.5s": fractions are not supported; use a smaller unit, e.g. "1500ms")"},
        {"5sec", R"(malformed duration "5sec": unknown unit "sec"; units are ms, s, m, h, d)"},
        {"5S", R"(malformed duration "5S": unknown unit "S"; units are ms, s, m, h, d)"},
        {"1h30m", R"(malformed duration "1h30m": unknown unit "h30m"; units are ms, s, m, h, d)"},
        {"s",
         R"(malformed duration "s": write an integer and a unit (ms, s, m, h, d), e.g. "250ms")"},
        {" 5s",
         R"(malformed duration " 5s": write an integer and a unit (ms, s, m, h, d), e.g. "250ms")"},
        {"106751991168d", R"(malformed duration "106751991168d": too large)"},
        {"9223372036854775808ms", R"(malformed duration "9223372036854775808ms": too large)"},
        {"99999999999999999999999s", R"(malformed duration "99999999999999999999999s": too large)"},
    };
    for (const Case& c : cases) {
        BOOST_TEST_CONTEXT("'" << c.text << "'") {
            const auto parsed = parse_duration(c.text);
            BOOST_TEST(!parsed.ok());
            BOOST_TEST(parsed.error == c.error);
        }
    }
}

BOOST_AUTO_TEST_CASE(format_uses_the_largest_unit_that_divides_exactly) {
    struct Case {
        Duration value;
        const char* text;
    };
    const Case cases[] = {
        {0ms, "0s"},   {1ms, "1ms"}, {1500ms, "1500ms"},           {90s, "90s"},   {60s, "1m"},
        {3600s, "1h"}, {25h, "25h"}, {std::chrono::days{7}, "7d"}, {-30s, "-30s"},
    };
    for (const Case& c : cases) {
        BOOST_TEST(format_duration(c.value) == c.text);
    }
}

BOOST_AUTO_TEST_CASE(formatting_then_parsing_gives_back_the_same_duration) {
    for (const std::int64_t ms :
         {0LL, 1LL, 999LL, 1000LL, 61000LL, 86400000LL, 86400001LL, 9223372036854775807LL}) {
        const auto parsed = parse_duration(format_duration(Duration{ms}));
        BOOST_TEST_CONTEXT(ms) {
            BOOST_TEST(parsed.ok());
            BOOST_TEST(parsed.value.count() == ms);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
