#include <boost/test/unit_test.hpp>

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "conf/rules_internal.h"

namespace detail = etld::conf::detail;

namespace {

// Boost.Test prints both sides of a failed comparison; it cannot print an optional.
template <typename T>
std::string text(const std::optional<T>& v) {
    return v ? std::string(*v) : std::string("<nothing>");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(naming_rules)

BOOST_AUTO_TEST_CASE(kafka_topic_names_follow_kafkas_own_rules) {
    for (const std::string& ok : {std::string("shop.events"), std::string("etld-dead_letter.v2"),
                                  std::string("A"), std::string("..."), std::string(249, 'x')}) {
        BOOST_TEST_CONTEXT(ok) {
            BOOST_TEST(!detail::topic_name_problem(ok));
        }
    }
    struct Case {
        std::string text;
        const char* problem;
    };
    const Case bad[] = {
        {"", "it is empty"},
        {".", "\".\" and \"..\" are not allowed"},
        {"..", "\".\" and \"..\" are not allowed"},
        {std::string(250, 'x'), "it is longer than 249 characters"},
        {"shop events", "only letters, digits, '.', '_' and '-' are allowed"},
        {"shop/events", "only letters, digits, '.', '_' and '-' are allowed"},
        {"caf\xc3\xa9", "only letters, digits, '.', '_' and '-' are allowed"},
    };
    for (const Case& c : bad) {
        BOOST_TEST_CONTEXT(c.text) {
            BOOST_TEST(text(detail::topic_name_problem(c.text)) == c.problem);
        }
    }
}

BOOST_AUTO_TEST_CASE(pipeline_and_aggregate_names_are_lower_case_identifiers) {
    for (const std::string_view ok : {"events_by_type", "a", "top3", "a_"}) {
        BOOST_TEST(!detail::name_problem(ok));
    }
    BOOST_TEST(text(detail::name_problem("")) == "it is empty");
    BOOST_TEST(text(detail::name_problem("Events")) == "it must start with a lower-case letter");
    BOOST_TEST(text(detail::name_problem("_x")) == "it must start with a lower-case letter");
    BOOST_TEST(text(detail::name_problem("by-type")) ==
               "only lower-case letters, digits and '_' are allowed");
    BOOST_TEST(text(detail::name_problem(std::string(64, 'a'))) ==
               "it is longer than 63 characters");
    BOOST_TEST(!detail::name_problem(std::string(63, 'a')));
}

BOOST_AUTO_TEST_CASE(field_names_are_identifiers_that_are_not_expression_keywords) {
    for (const std::string_view ok : {"user_id", "_private", "Price2"}) {
        BOOST_TEST(!detail::field_name_problem(ok));
    }
    for (const std::string_view keyword : {"and", "or", "not", "in", "true", "false"}) {
        BOOST_TEST(text(detail::field_name_problem(keyword)) ==
                   "it is a word of the expression language");
    }
    BOOST_TEST(text(detail::field_name_problem("2fa")) == "it must not start with a digit");
    BOOST_TEST(text(detail::field_name_problem("user-id")) ==
               "only letters, digits and '_' are allowed");
}

BOOST_AUTO_TEST_CASE(edit_distance_counts_a_transposition_as_one_edit) {
    BOOST_TEST(detail::edit_distance("", "") == 0U);
    BOOST_TEST(detail::edit_distance("abc", "") == 3U);
    BOOST_TEST(detail::edit_distance("comit_interval", "commit_interval") == 1U);
    BOOST_TEST(detail::edit_distance("cmomit", "commit") == 1U);
    BOOST_TEST(detail::edit_distance("kafak", "kafka") == 1U);
    BOOST_TEST(detail::edit_distance("kitten", "sitting") == 3U);
}

BOOST_AUTO_TEST_CASE(closest_match_suggests_only_plausible_typos_and_abbreviations) {
    constexpr std::array<std::string_view, 4> kKeys{"commit_interval", "group_id",
                                                    "max_batch_events", "producer"};
    BOOST_TEST(text(detail::closest_match("comit_interval", kKeys)) == "commit_interval");
    BOOST_TEST(text(detail::closest_match("group", kKeys)) == "group_id");
    BOOST_TEST(text(detail::closest_match("prodcuer", kKeys)) == "producer");
    BOOST_TEST(!detail::closest_match("retention", kKeys));
    BOOST_TEST(!detail::closest_match("", kKeys));
    constexpr std::array<std::string_view, 2> kTies{"gap", "cap"};
    BOOST_TEST(text(detail::closest_match("map", kTies)) == "gap");
}

BOOST_AUTO_TEST_CASE(reserved_properties_name_the_etld_key_to_use_instead) {
    BOOST_TEST(text(detail::reserved_property_problem("group.id")) ==
               "is set by etld; use kafka.group_id instead");
    BOOST_TEST(text(detail::reserved_property_problem("bootstrap.servers")) ==
               "is set by etld; use kafka.bootstrap_servers instead");
    BOOST_TEST(text(detail::reserved_property_problem("transactional.id")) ==
               "is set by etld; use kafka.transactional_id instead");
    BOOST_TEST(detail::reserved_property_problem("enable.auto.commit").has_value());
    BOOST_TEST(detail::reserved_property_problem("isolation.level").has_value());
    BOOST_TEST(!detail::reserved_property_problem("session.timeout.ms"));
    BOOST_TEST(detail::is_secret_property("sasl.password"));
    BOOST_TEST(detail::is_secret_property("sasl.oauthbearer.client.secret"));
    BOOST_TEST(detail::is_secret_property("ssl.key.pem"));
    BOOST_TEST(!detail::is_secret_property("sasl.username"));
}

BOOST_AUTO_TEST_CASE(host_and_port_are_split_with_ipv6_in_brackets) {
    detail::HostPort hp;
    BOOST_TEST(!detail::split_host_port("127.0.0.1:9464", hp));
    BOOST_TEST(hp.host == "127.0.0.1");
    BOOST_TEST(hp.port == 9464);
    BOOST_TEST(!detail::split_host_port("[::1]:0", hp));
    BOOST_TEST(hp.host == "::1");
    BOOST_TEST(hp.port == 0);
    BOOST_TEST(!detail::split_host_port("metrics.internal:65535", hp));
    BOOST_TEST(text(detail::split_host_port("9464", hp)) == "missing \":port\"");
    BOOST_TEST(text(detail::split_host_port(":80", hp)) == "the host is empty");
    BOOST_TEST(text(detail::split_host_port("host:65536", hp)) ==
               "the port must be a number from 0 to 65535");
    BOOST_TEST(text(detail::split_host_port("host:", hp)) ==
               "the port must be a number from 0 to 65535");
    BOOST_TEST(text(detail::split_host_port("host:-1", hp)) ==
               "the port must be a number from 0 to 65535");
    BOOST_TEST(detail::split_host_port("::1:80", hp).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
