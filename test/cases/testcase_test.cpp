#define BOOST_TEST_MODULE etld test case files
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "conf/load.h"
#include "daemon/cli.h"
#include "daemon/engine_spec.h"
#include "daemon/testcase_compare.h"
#include "daemon/testcase_file.h"
#include "daemon/testcase_json.h"
#include "daemon/testcase_run.h"
#include "pipeline/kafka/topology.h"

namespace tc = etld::daemon::testcase;
namespace fs = std::filesystem;

namespace {

const std::string& source() {
    static const std::string dir = ETLD_SOURCE_DIR;
    return dir;
}

// The engine of the reference configuration, compiled once.
struct Reference {
    etld::conf::Config config;
    etld::daemon::EngineBuild build;
    Reference() {
        const std::string path = source() + "/conf/etld.toml";
        config = etld::conf::load_config_file(path).config();
        build = etld::daemon::build_engine(config, path);
    }
    const etld::pipeline::EngineSpec& spec() const { return build.engine->spec(); }
};

const Reference& reference() {
    static const Reference r;
    return r;
}

tc::CaseParse parse(const std::string& text) {
    return tc::parse_case(text, "case.jsonl", reference().spec());
}

std::vector<std::string> error_lines(const tc::CaseParse& p) {
    std::vector<std::string> lines;
    for (const auto& e : p.errors) {
        lines.push_back(tc::format_error(e));
    }
    return lines;
}

tc::Json json(const std::variant<tc::Json, tc::JsonError>& v) {
    BOOST_REQUIRE(std::holds_alternative<tc::Json>(v));
    return std::get<tc::Json>(v);
}

// One event line of the seed schema.
std::string event(const std::string& id, const std::string& time, const std::string& user,
                  const std::string& type, const std::string& product, const std::string& price,
                  int quantity, int partition) {
    return R"({"event": {"event_id": ")" + id + R"(", "timestamp": ")" + time +
           R"(", "user_id": ")" + user + R"(", "event_type": ")" + type + R"(", "product": ")" +
           product + R"(", "price": )" + price + ", \"quantity\": " + std::to_string(quantity) +
           "}, \"partition\": " + std::to_string(partition) + "}\n";
}

struct Run {
    int code = 0;
    std::string out;
    std::string err;
};

Run run_etld(const std::vector<std::string>& args) {
    std::ostringstream out;
    std::ostringstream err;
    Run run;
    run.code = etld::daemon::run_cli(args, out, err);
    run.out = out.str();
    run.err = err.str();
    return run;
}

std::string read(const fs::path& path) {
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(testcase_json)

BOOST_AUTO_TEST_CASE(keeps_columns_and_source_spans_of_values) {
    const std::string line = R"({"event": {"a": 1}, "n": -2.5e3})";
    const tc::Json& v = json(tc::parse_json(line));
    BOOST_TEST(v.members.size() == 2U);
    const tc::Json& e = *v.find("event");
    BOOST_TEST(e.column == 11U);
    BOOST_TEST(line.substr(e.begin, e.end - e.begin) == R"({"a": 1})");
    BOOST_TEST(v.members[1].key_column == 21U);
    const tc::Json& n = *v.find("n");
    BOOST_TEST(n.number == -2500.0);
    BOOST_TEST(!n.integer.has_value());
    BOOST_TEST(n.text == "-2.5e3");
}

BOOST_AUTO_TEST_CASE(integers_are_told_apart_from_other_numbers) {
    BOOST_TEST(*json(tc::parse_json("42")).integer == 42);
    BOOST_TEST(!json(tc::parse_json("42.0")).integer.has_value());
    BOOST_TEST(!json(tc::parse_json("1e2")).integer.has_value());
    // Beyond int64: a number, not an integer.
    BOOST_TEST(!json(tc::parse_json("9223372036854775808")).integer.has_value());
}

BOOST_AUTO_TEST_CASE(decodes_escapes_and_surrogate_pairs) {
    const tc::Json& v = json(tc::parse_json(R"("a\"b\\c\n\u00e9\ud83d\ude00")"));
    BOOST_TEST(v.text == "a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80");
}

BOOST_AUTO_TEST_CASE(errors_carry_the_column) {
    auto check = [](const std::string& text, std::uint32_t column, const std::string& message) {
        const auto v = tc::parse_json(text);
        BOOST_REQUIRE(std::holds_alternative<tc::JsonError>(v));
        BOOST_TEST(std::get<tc::JsonError>(v).column == column);
        BOOST_TEST(std::get<tc::JsonError>(v).message == message);
    };
    check(R"({"a": 1} x)", 10, "unexpected text after the JSON value");
    check(R"({"a": 1, "a": 2})", 10, "duplicate key 'a'");
    check(R"({"a": 01})", 7, "malformed number (leading zero)");
    check(R"({"a": "open)", 7, "string not closed");
    check(R"({"a": tru})", 7, "expected a JSON value, found 't'");
    check(R"([1, 2)", 6, "expected ',' or ']'");
}

BOOST_AUTO_TEST_CASE(writes_what_it_reads) {
    const std::string text = R"({"a":[1,2.5,"x\"y"],"b":null,"c":true})";
    BOOST_TEST(tc::to_json(json(tc::parse_json(text))) == text);
    BOOST_TEST(tc::to_json(tc::Json::make_double(0.1)) == "0.1");
    BOOST_TEST(tc::quote_json(std::string("\x01", 1)) == "\"\\u0001\"");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(testcase_file)

BOOST_AUTO_TEST_CASE(utc_times_parse_and_print) {
    // Epoch values computed independently (Python's datetime).
    BOOST_TEST(*tc::parse_utc("2026-01-15T10:00:20Z") == 1768471220000);
    BOOST_TEST(*tc::parse_utc("2026-01-15T11:00:20+01:00") == 1768471220000);
    BOOST_TEST(*tc::parse_utc("2026-01-15T10:00:20.25Z") == 1768471220250);
    BOOST_TEST(*tc::parse_utc("2024-02-29T00:00:00Z") == 1709164800000);
    BOOST_TEST(*tc::parse_utc("1970-01-01T00:00:00Z") == 0);
    BOOST_TEST(!tc::parse_utc("2023-02-29T00:00:00Z").has_value());
    BOOST_TEST(!tc::parse_utc("2026-01-15T10:00:20").has_value());  // no zone
    BOOST_TEST(!tc::parse_utc("2026-01-15 10:00").has_value());
    BOOST_TEST(tc::format_utc(1768471220000) == "2026-01-15T10:00:20Z");
    BOOST_TEST(tc::format_utc(1768471220250) == "2026-01-15T10:00:20.250Z");
    BOOST_TEST(tc::format_utc(1709164800000) == "2024-02-29T00:00:00Z");
}

BOOST_AUTO_TEST_CASE(reads_steps_and_expectations_in_file_order) {
    const std::string text =
        "# a comment\n"
        "{\"case\": \"named\", \"tolerance\": 0.01, \"ignore_unexpected\": [\"late\"]}\n" +
        event("e1", "2026-01-15T10:00:05Z", "user_1", "view", "laptop", "10.5", 1, 2) +
        "{\"raw\": \"not json\", \"at\": \"2s\"}\n"
        "{\"advance\": \"1m\", \"caught_up\": false}\n"
        "\n"
        "{\"flush\": true}\n"
        "{\"expect\": \"result\", \"pipeline\": \"events_by_type\", \"window_start\": "
        "\"2026-01-15T10:00:00Z\", \"window_end\": 1768471260000, \"group\": {\"event_type\": "
        "\"view\"}, \"values\": {\"events\": 1}, \"tolerance\": 0.5}\n"
        "{\"expect\": \"dead_letter\", \"reason\": \"not_json\", \"event_id\": 7}\n";
    const tc::CaseParse p = parse(text);
    BOOST_REQUIRE(p.errors.empty());
    const tc::CaseFile& f = *p.file;
    BOOST_TEST(f.name == "named");
    BOOST_TEST(f.tolerance == 0.01);
    BOOST_TEST(f.ignore_unexpected == std::vector<std::string>{"late"});
    BOOST_REQUIRE(f.steps.size() == 4U);
    BOOST_TEST(f.steps[0].line == 3U);
    BOOST_TEST(f.steps[0].partition == 2);
    BOOST_TEST(f.steps[0].raw.starts_with(R"({"event_id": "e1")"));
    BOOST_TEST(f.steps[0].raw.ends_with(R"("quantity": 1})"));
    BOOST_TEST(f.steps[1].raw == "not json");
    BOOST_TEST(*f.steps[1].at == 2000);
    BOOST_TEST((f.steps[2].kind == tc::Step::Kind::advance));
    BOOST_TEST(*f.steps[2].at == 60000);
    BOOST_TEST(!f.steps[2].caught_up);
    BOOST_TEST((f.steps[3].kind == tc::Step::Kind::flush));
    BOOST_REQUIRE(f.expectations.size() == 2U);
    const tc::Expectation& r = f.expectations[0];
    BOOST_TEST(r.record.line == 8U);
    BOOST_TEST(r.tolerance == 0.5);
    BOOST_TEST(*r.record.get("window_start")->integer == 1768471200000);
    BOOST_TEST(*r.record.get("window_end")->integer == 1768471260000);
    BOOST_TEST(r.record.get("group.event_type")->text == "view");
    BOOST_TEST(*r.record.get("values.events")->integer == 1);
    BOOST_TEST(r.record.get("kind") == nullptr);  // not given: not checked
    // An integer id means the same as its decimal text, as in the decoder.
    BOOST_TEST(f.expectations[1].record.get("event_id")->text == "7");
    BOOST_TEST(f.expectations[1].tolerance == 0.01);
    BOOST_TEST(f.is_expectation[7]);
    BOOST_TEST(!f.is_expectation[2]);
}

BOOST_AUTO_TEST_CASE(every_error_of_a_file_is_reported_with_line_and_column) {
    const tc::CaseParse p = parse(
        "{\"flush\": true, \"extra\": 1}\n"
        "{\"expect\": \"result\"}\n"
        "{\"expect\": \"results\", \"pipeline\": \"events_by_type\"}\n"
        "{\"expect\": \"late\", \"pipeline\": \"user_sessions\", \"watermark\": \"soon\"}\n");
    const std::vector<std::string> expected = {
        "case.jsonl:1:17: error: unknown key 'extra' in a flush line (allowed: 'flush')",
        "case.jsonl:2:1: error: a result expectation needs 'pipeline'",
        "case.jsonl:3:12: error: 'expect' must be \"result\", \"late\" or \"dead_letter\"; did you "
        "mean 'result'?",
        "case.jsonl:4:62: error: 'watermark' must be a time like \"2026-01-15T10:00:00Z\" or "
        "epoch milliseconds",
    };
    BOOST_TEST(error_lines(p) == expected, boost::test_tools::per_element());
    BOOST_TEST(!p.file.has_value());
}

BOOST_AUTO_TEST_CASE(a_retraction_has_no_values_and_a_case_needs_input) {
    const tc::CaseParse retract = parse(
        "{\"flush\": true}\n{\"expect\": \"result\", \"pipeline\": \"user_sessions\", "
        "\"kind\": \"retract\", \"values\": {\"events\": 1}}\n");
    BOOST_TEST(error_lines(retract) ==
               std::vector<std::string>{"case.jsonl:2:80: error: a retraction has no values"});
    const tc::CaseParse empty = parse("# nothing\n");
    BOOST_TEST(error_lines(empty) ==
               std::vector<std::string>{"case.jsonl: error: the case has no input: add "
                                        "\"event\", \"raw\", \"advance\" or \"flush\" lines"});
}

// Each file in test/cases/bad is a malformed case; <name>.expected lists
// the errors `etld test` must print for it, exactly.
BOOST_AUTO_TEST_CASE(malformed_case_files_get_their_errors_with_file_and_line) {
    std::size_t files = 0;
    for (const auto& entry : fs::directory_iterator(source() + "/test/cases/bad")) {
        if (entry.path().extension() != ".jsonl") {
            continue;
        }
        ++files;
        BOOST_TEST_CONTEXT(entry.path().filename().string()) {
            const Run run =
                run_etld({"test", "--config", source() + "/conf/etld.toml", entry.path().string()});
            BOOST_TEST(run.code == etld::daemon::kExitDataErr);
            std::vector<std::string> printed;
            std::istringstream lines(run.out);
            for (std::string line; std::getline(lines, line);) {
                if (line.find(": error: ") != std::string::npos) {
                    BOOST_REQUIRE(line.starts_with(source() + "/"));
                    printed.push_back(line.substr(source().size() + 1));
                }
            }
            std::vector<std::string> expected;
            std::istringstream want(read(fs::path(entry.path()).replace_extension(".expected")));
            for (std::string line; std::getline(want, line);) {
                expected.push_back(line);
            }
            BOOST_TEST(printed == expected, boost::test_tools::per_element());
        }
    }
    BOOST_TEST(files >= 6U);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(testcase_compare)

tc::Json num(double v) {
    return tc::Json::make_double(v);
}

BOOST_AUTO_TEST_CASE(numbers_compare_within_the_tolerance) {
    // |a - e| <= tolerance * max(1, |e|)
    BOOST_TEST(tc::values_equal(num(0.3333333333), num(1.0 / 3.0), 1e-9));
    BOOST_TEST(!tc::values_equal(num(0.333), num(1.0 / 3.0), 1e-9));
    BOOST_TEST(tc::values_equal(num(0.333), num(1.0 / 3.0), 1e-3));
    // Relative for large values: 1e6 with tolerance 1e-9 allows 0.001.
    BOOST_TEST(tc::values_equal(num(1e6), num(1e6 + 0.0009), 1e-9));
    BOOST_TEST(!tc::values_equal(num(1e6), num(1e6 + 0.002), 1e-9));
    // Absolute below 1.
    BOOST_TEST(tc::values_equal(num(0), num(5e-10), 1e-9));
    BOOST_TEST(!tc::values_equal(num(0), num(2e-9), 1e-9));
    // Integers compare exactly, whatever the tolerance.
    BOOST_TEST(!tc::values_equal(tc::Json::make_int(3), tc::Json::make_int(4), 10));
    BOOST_TEST(tc::values_equal(tc::Json::make_int(3), num(3.0000000001), 1e-9));
    // Types must agree: null is not 0, "1" is not 1.
    BOOST_TEST(!tc::values_equal(tc::Json::make_null(), num(0), 1));
    BOOST_TEST(!tc::values_equal(tc::Json::make_string("1"), tc::Json::make_int(1), 1));
}

BOOST_AUTO_TEST_CASE(top_k_lists_compare_element_by_element) {
    const tc::Json expected = json(tc::parse_json(R"([["mouse", 2], ["laptop", 1]])"));
    BOOST_TEST(
        tc::values_equal(expected, json(tc::parse_json(R"([["mouse",2],["laptop",1]])")), 1e-9));
    BOOST_TEST(
        !tc::values_equal(expected, json(tc::parse_json(R"([["laptop",1],["mouse",2]])")), 1e-9));
    BOOST_TEST(!tc::values_equal(expected, json(tc::parse_json(R"([["mouse",2]])")), 1e-9));
}

// A tiny actual result of events_by_type.
tc::Record result(const std::string& type, std::int64_t start, std::int64_t events,
                  double revenue) {
    tc::Record r;
    r.category = tc::Category::result;
    r.line = 9;
    r.fields = {{"pipeline", tc::Json::make_string("events_by_type")},
                {"window_start", tc::Json::make_int(start)},
                {"window_end", tc::Json::make_int(start + 60000)},
                {"group.event_type", tc::Json::make_string(type)},
                {"kind", tc::Json::make_string("final")},
                {"revision", tc::Json::make_int(0)},
                {"values.events", tc::Json::make_int(events)},
                {"values.revenue", num(revenue)}};
    return r;
}

tc::CaseFile case_with(const std::string& expectations) {
    tc::CaseParse p = parse("{\"flush\": true}\n" + expectations);
    BOOST_REQUIRE(p.file.has_value());
    return *p.file;
}

const std::int64_t k10 = 1768471200000;  // 2026-01-15T10:00:00Z

BOOST_AUTO_TEST_CASE(partial_expectations_check_only_the_given_fields_and_windows) {
    const std::vector<tc::Record> actual = {result("view", k10, 3, 0),
                                            result("purchase", k10, 2, 1050.99),
                                            result("purchase", k10 + 60000, 1, 225)};
    // Only the revenue of one window, ignoring the other windows.
    const tc::CaseFile partial = case_with(
        "{\"expect\": \"result\", \"pipeline\": \"events_by_type\", \"group\": {\"event_type\": "
        "\"purchase\"}, \"window_start\": \"2026-01-15T10:00:00Z\", \"values\": {\"revenue\": "
        "1050.99}}\n");
    tc::CaseFile ignoring = partial;
    ignoring.ignore_unexpected = {"events_by_type"};
    BOOST_TEST(tc::compare(ignoring, actual).passed);
    // Without "ignore_unexpected" the two other windows are unexpected.
    const tc::CaseOutcome strict = tc::compare(partial, actual);
    BOOST_TEST(!strict.passed);
    BOOST_TEST(strict.report.find("unexpected result") != std::string::npos);
    BOOST_TEST(strict.report.find(R"("group":{"event_type":"view"})") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_vague_expectation_does_not_take_the_record_a_precise_one_needs) {
    const std::vector<tc::Record> actual = {result("purchase", k10, 2, 10),
                                            result("view", k10, 3, 0)};
    // The first line would match either record; the second only the purchase.
    const tc::CaseFile file = case_with(
        "{\"expect\": \"result\", \"pipeline\": \"events_by_type\"}\n"
        "{\"expect\": \"result\", \"pipeline\": \"events_by_type\", \"group\": {\"event_type\": "
        "\"purchase\"}}\n");
    BOOST_TEST(tc::compare(file, actual).passed);
    // Two expectations cannot share one record.
    const std::vector<tc::Record> one = {result("purchase", k10, 2, 10)};
    BOOST_TEST(!tc::compare(file, one).passed);
}

BOOST_AUTO_TEST_CASE(a_failure_shows_both_records_and_marks_the_differing_fields) {
    const std::vector<tc::Record> actual = {result("view", k10, 3, 0),
                                            result("purchase", k10, 2, 1050.99)};
    const tc::CaseFile file = case_with(
        "{\"expect\": \"result\", \"pipeline\": \"events_by_type\", \"group\": {\"event_type\": "
        "\"view\"}, \"values\": {\"events\": 3}}\n"
        "{\"expect\": \"result\", \"pipeline\": \"events_by_type\", \"group\": {\"event_type\": "
        "\"purchase\"}, \"kind\": \"final\", \"values\": {\"events\": 2, \"revenue\": 1000}}\n");
    const tc::CaseOutcome outcome = tc::compare(file, actual);
    BOOST_TEST(!outcome.passed);
    const std::string expected =
        "  case.jsonl:3: expected result not produced; the closest actual result (caused by line "
        "9) differs in the fields marked '!':\n"
        "      field             expected          actual\n"
        "      pipeline          \"events_by_type\"  \"events_by_type\"\n"
        "      window_start      -                 2026-01-15T10:00:00Z\n"
        "      window_end        -                 2026-01-15T10:01:00Z\n"
        "      group.event_type  \"purchase\"        \"purchase\"\n"
        "      kind              \"final\"           \"final\"\n"
        "      revision          -                 0\n"
        "      values.events     2                 2\n"
        "    ! values.revenue    1000              1050.99\n";
    BOOST_TEST(outcome.report == expected);
}

BOOST_AUTO_TEST_CASE(a_missing_record_is_shown_as_its_expectation) {
    const tc::CaseFile file =
        case_with("{\"expect\": \"late\", \"pipeline\": \"user_sessions\", \"event_id\": \"x\"}\n");
    const tc::CaseOutcome outcome = tc::compare(file, {result("view", k10, 1, 0)});
    BOOST_TEST(!outcome.passed);
    BOOST_TEST(outcome.report.find("case.jsonl:2: expected late not produced; no other late "
                                   "record of pipeline 'user_sessions' was produced\n"
                                   "      expected: {\"expect\":\"late\",\"pipeline\":\"user_"
                                   "sessions\",\"event_id\":\"x\"}") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(recording_keeps_the_input_lines_and_writes_every_output) {
    const tc::CaseFile file =
        case_with("# expected\n{\"expect\": \"result\", \"pipeline\": \"events_by_type\"}\n");
    const std::vector<tc::Record> actual = {result("view", k10 + 60000, 1, 0),
                                            result("purchase", k10, 2, 1050.99)};
    const std::string recorded = tc::recorded_case(file, actual, reference().spec());
    const std::string expected =
        "{\"flush\": true}\n"
        "# expected\n"
        "\n"
        "# Recorded by `etld test --record`: check every value before committing.\n"
        "{\"expect\":\"result\",\"pipeline\":\"events_by_type\",\"window_start\":\"2026-01-15T10:"
        "00:00Z\",\"window_end\":\"2026-01-15T10:01:00Z\",\"group\":{\"event_type\":\"purchase\"},"
        "\"kind\":\"final\",\"revision\":0,\"values\":{\"events\":2,\"revenue\":1050.99}}\n"
        "{\"expect\":\"result\",\"pipeline\":\"events_by_type\",\"window_start\":\"2026-01-15T10:"
        "01:00Z\",\"window_end\":\"2026-01-15T10:02:00Z\",\"group\":{\"event_type\":\"view\"},"
        "\"kind\":\"final\",\"revision\":0,\"values\":{\"events\":1,\"revenue\":0}}\n";
    BOOST_TEST(recorded == expected);
    // What was recorded is met exactly by what was produced.
    const tc::CaseParse again = parse(recorded);
    BOOST_REQUIRE(again.file.has_value());
    BOOST_TEST(tc::compare(*again.file, actual).passed);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(testcase_run)

BOOST_AUTO_TEST_CASE(repartitioning_uses_the_daemons_hash) {
    // Computed independently with the runner's constants (offset basis
    // 1469598103934665603, prime 1099511628211, 64-bit wrap-around).
    BOOST_TEST(etld::pipeline::kafka::repartition_partition("", 3) == 1);
    BOOST_TEST(etld::pipeline::kafka::repartition_partition("view", 3) == 0);
    BOOST_TEST(etld::pipeline::kafka::repartition_partition("purchase", 3) == 2);
    BOOST_TEST(etld::pipeline::kafka::repartition_partition("add_to_cart", 3) == 2);
    BOOST_TEST(etld::pipeline::kafka::repartition_partition("a", 7) == 5);
}

tc::Routing routing() {
    tc::Routing r;
    r.input_topics = reference().config.input.topics;
    r.partitioned_by = reference().config.input.partitioned_by;
    r.partitions = reference().config.topics.partitions;
    return r;
}

std::vector<tc::Record> run(const std::string& text) {
    const tc::CaseParse p = parse(text);
    BOOST_REQUIRE(p.file.has_value());
    return tc::run_case(*p.file, reference().build.engine, routing());
}

std::vector<const tc::Record*> of(const std::vector<tc::Record>& records,
                                  const std::string& pipeline) {
    std::vector<const tc::Record*> out;
    for (const auto& r : records) {
        const tc::Json* p = r.get("pipeline");
        if (r.category == tc::Category::result && p != nullptr && p->text == pipeline) {
            out.push_back(&r);
        }
    }
    return out;
}

BOOST_AUTO_TEST_CASE(each_task_keeps_its_own_watermark) {
    // The view at 10:05 moves the view task of events_by_type; the purchase
    // at 10:00:30 goes to another task (FNV-1a routing), which has no
    // watermark yet, so it is not late there.
    const auto records =
        run(event("v", "2026-01-15T10:05:00Z", "user_1", "view", "mouse", "1", 1, 0) +
            event("p", "2026-01-15T10:00:30Z", "user_1", "purchase", "mouse", "1", 1, 0) +
            event("w", "2026-01-15T10:00:40Z", "user_1", "view", "mouse", "1", 1, 0) +
            "{\"flush\": true}\n");
    std::vector<std::string> late;
    for (const auto& r : records) {
        if (r.category == tc::Category::late) {
            late.push_back(r.get("pipeline")->text + ":" + r.get("event_id")->text);
        }
    }
    // product_metrics is one task: both earlier events are late there.
    const std::vector<std::string> expected = {"product_metrics:p", "events_by_type:w",
                                               "product_metrics:w"};
    BOOST_TEST(late == expected, boost::test_tools::per_element());
    BOOST_TEST(of(records, "events_by_type").size() == 2U);  // view 10:05, purchase 10:00
}

BOOST_AUTO_TEST_CASE(without_processing_time_only_the_flush_closes_quiet_windows) {
    const std::string one = event("a", "2026-01-15T10:00:00Z", "user_1", "view", "x", "1", 1, 0);
    BOOST_TEST(run(one).empty());
    const auto flushed = run(one + "{\"flush\": true}\n");
    BOOST_TEST(of(flushed, "events_by_type").size() == 1U);
    BOOST_TEST(of(flushed, "product_metrics").size() == 4U);
    BOOST_TEST(of(flushed, "user_sessions").size() == 1U);
    BOOST_TEST(flushed.front().get("emitted_at")->text == "flush");
}

BOOST_AUTO_TEST_SUITE_END()
