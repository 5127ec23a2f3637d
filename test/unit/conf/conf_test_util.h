// Shared helpers of the conf tests.
#pragma once

#include <boost/test/unit_test.hpp>

#include <ostream>
#include <string_view>
#include <type_traits>

#include "conf/config.h"
#include "conf/load.h"

namespace etld::conf {

// Lets Boost.Test print the model's enums in failed comparisons.
template <typename E>
requires std::is_enum_v<E> && requires(E e) {
    to_string(e);
}
std::ostream& operator<<(std::ostream& out, E value) {
    return out << to_string(value);
}

}  // namespace etld::conf

namespace etld::conf::test {

// The smallest valid file: only the required keys, one pipeline with one aggregate.
inline constexpr std::string_view kMinimal = R"([kafka]
bootstrap_servers = "127.0.0.1:9092"
group_id = "etld"
transactional_id = "etld-1"

[input]
topics = ["shop.events"]

[[pipeline]]
name = "counts"
window = { type = "tumbling", size = "1m" }

[[pipeline.aggregate]]
name = "events"
fn = "count"
)";

// Loads `text`, failing the test with every error when it does not load.
inline Config must_load(std::string_view text) {
    const LoadResult result = load_config_string(text, "test.toml");
    BOOST_TEST_INFO(format_errors(result.errors()));
    BOOST_REQUIRE(result.ok());
    return result.config();
}

}  // namespace etld::conf::test
