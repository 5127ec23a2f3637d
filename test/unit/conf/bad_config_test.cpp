// The corpus under bad/: each NAME.toml breaks one or a few rules, and NAME.expected holds the
// exact errors the loader must report for it, one formatted error per line, in order.
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "conf/load.h"
#include "test/unit/conf/conf_test_util.h"

using namespace etld::conf;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> bad_config_names() {
    std::vector<std::string> names;
    for (const fs::directory_entry& entry : fs::directory_iterator(ETLD_CONF_BAD_DIR)) {
        if (entry.path().extension() == ".toml") {
            names.push_back(entry.path().stem().string());
        }
    }
    std::sort(names.begin(), names.end());
    return names;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Errors of `text`, named as in the .expected files: by file name, not by full path.
std::string errors_of(std::string_view text, std::string_view name) {
    return format_errors(load_config_string(text, name).errors());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(rejecting_invalid_configs)

BOOST_AUTO_TEST_CASE(the_corpus_holds_at_least_thirty_cases_each_with_its_expected_errors) {
    const std::vector<std::string> names = bad_config_names();
    BOOST_TEST(names.size() >= 30U);
    for (const std::string& name : names) {
        BOOST_TEST_CONTEXT(name) {
            const fs::path expected = fs::path(ETLD_CONF_BAD_DIR) / (name + ".expected");
            BOOST_TEST(fs::exists(expected));
            BOOST_TEST(!read_file(expected).empty());
        }
    }
}

BOOST_DATA_TEST_CASE(each_bad_config_reports_exactly_its_expected_errors,
                     boost::unit_test::data::make(bad_config_names()), name) {
    const fs::path dir(ETLD_CONF_BAD_DIR);
    const std::string text = read_file(dir / (name + ".toml"));
    const LoadResult result = load_config_string(text, name + ".toml");
    BOOST_TEST(!result.ok());
    BOOST_TEST(format_errors(result.errors()) == read_file(dir / (name + ".expected")));
}

BOOST_AUTO_TEST_CASE(loading_from_the_file_names_the_errors_by_its_path) {
    const std::string path = std::string(ETLD_CONF_BAD_DIR) + "/unknown_key_in_kafka.toml";
    BOOST_TEST(format_errors(load_config_file(path).errors()) ==
               path +
                   ":5:1: error: unknown key 'comit_interval' in [kafka]; did you mean "
                   "'commit_interval'?\n");
}

BOOST_AUTO_TEST_CASE(unknown_key_suggests_the_closest_known_one) {
    const std::string text = std::string(test::kMinimal) + R"(
[watermark]
max_out_of_ordernes = "5s"
idle_timeot = "30s"

[http]
listn = "127.0.0.1:1"
)";
    BOOST_TEST(errors_of(text, "t.toml") ==
               "t.toml:18:1: error: unknown key 'max_out_of_ordernes' in [watermark]; did you mean "
               "'max_out_of_orderness'?\n"
               "t.toml:19:1: error: unknown key 'idle_timeot' in [watermark]; did you mean "
               "'idle_timeout'?\n"
               "t.toml:22:1: error: unknown key 'listn' in [http]; did you mean 'listen'?\n");
}

BOOST_AUTO_TEST_CASE(unknown_key_far_from_every_known_one_gets_no_suggestion) {
    const std::string text = std::string(test::kMinimal) + "\n[dedup]\nwindow = \"1h\"\n";
    BOOST_TEST(errors_of(text, "t.toml") ==
               "t.toml:18:1: error: unknown key 'window' in [dedup]\n");
}

BOOST_AUTO_TEST_CASE(every_error_in_the_file_is_reported_in_one_pass_in_file_order) {
    const std::string text = R"([http]
listen = "nowhere"

[kafka]
bootstrap_servers = "b:9092"
group_id = "g"
transactional_id = "t"
max_batch_events = 0

[input]
topics = []

[[pipeline]]
name = "p"
window = { type = "tumbling", size = "1 m" }

[[pipeline.aggregate]]
name = "x"
fn = "median"
)";
    BOOST_TEST(errors_of(text, "t.toml") ==
               "t.toml:2:11: error: http.listen: expected \"host:port\" like \"127.0.0.1:9464\", "
               "got \"nowhere\": missing \":port\"\n"
               "t.toml:8:20: error: kafka.max_batch_events: must be between 1 and 10000000, got 0\n"
               "t.toml:11:10: error: input.topics: must list at least one topic\n"
               "t.toml:15:39: error: pipeline.window.size: malformed duration \"1 m\": no space "
               "allowed between the number and the unit\n"
               "t.toml:19:7: error: pipeline.aggregate.fn: \"median\" is not one of count, sum, "
               "avg, min, max, count_distinct, ratio or top_k\n");
}

BOOST_AUTO_TEST_CASE(a_toml_syntax_error_is_reported_alone_at_its_position) {
    const std::string text = "[kafka]\ncomit_interval = 5\nbootstrap_servers = \"x\n";
    const LoadResult r = load_config_string(text, "t.toml");
    BOOST_REQUIRE(r.errors().size() == 1U);
    BOOST_TEST(r.errors()[0].line == 3U);
    BOOST_TEST(r.errors()[0].file == "t.toml");
}

BOOST_AUTO_TEST_CASE(a_long_chain_of_ratios_closing_into_a_cycle_is_reported_once) {
    // r0 = r1 / events, r1 = r2 / events, ..., and the last one back to r0.
    constexpr int kChain = 3000;
    std::string text = std::string(test::kMinimal);
    for (int i = 0; i < kChain; ++i) {
        text += "\n[[pipeline.aggregate]]\nname = \"r" + std::to_string(i) +
                "\"\nfn = \"ratio\"\nnumerator = \"r" + std::to_string((i + 1) % kChain) +
                "\"\ndenominator = \"events\"\n";
    }
    const LoadResult r = load_config_string(text, "t.toml");
    BOOST_REQUIRE(r.errors().size() == 1U);
    BOOST_TEST(r.errors()[0].line == 17U);
    BOOST_TEST(r.errors()[0].message.starts_with(
        "pipeline.aggregate: ratio 'r0' depends on itself: r0 -> r1 -> r2 -> "));
    BOOST_TEST(r.errors()[0].message.ends_with(" -> r2999 -> r0"));
}

BOOST_AUTO_TEST_CASE(arbitrary_bytes_are_rejected_without_crashing) {
    const std::string inputs[] = {std::string("\0\0\0", 3),
                                  "\xff\xfe[kafka]",
                                  "[[[",
                                  "a = \"\\u",
                                  "x = 1979-05-27T07:32:00Z",
                                  "pipeline = [1, 2]",
                                  "[pipeline.aggregate]\nname = 1"};
    for (const std::string& input : inputs) {
        BOOST_TEST(!load_config_string(input, "f.toml").ok());
    }
}

BOOST_AUTO_TEST_SUITE_END()
