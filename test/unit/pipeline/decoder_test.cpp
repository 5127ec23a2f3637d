#define BOOST_TEST_MODULE etld_pipeline
// GCC 12 at -O3 reports false -Wrestrict overlaps inside std::string's
// operator+ (GCC bug 105651); -Werror would make them build failures.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
#include <string>

#include "test_support.h"
#include "time_parse.h"

namespace etld::pipeline::test {
namespace {

constexpr const char* kGood =
    R"({"event_id":"e1","timestamp":"2024-01-15T10:30:00.123+01:00","user_id":"u7",)"
    R"("event_type":"purchase","product":"mouse","price":25.5,"quantity":2})";

std::optional<Rejection> decode(const std::string& json, Event& e,
                                EventSchema schema = default_seed_schema()) {
    Decoder d(std::move(schema));
    return d.decode(json, e);
}

RejectReason reason_of(const std::string& json, EventSchema schema = default_seed_schema()) {
    Event e;
    auto r = decode(json, e, std::move(schema));
    BOOST_REQUIRE_MESSAGE(r.has_value(), "expected a rejection for " + json);
    return r->reason;
}

std::string with(const std::string& field, const std::string& value) {
    std::string out = "{";
    const std::pair<std::string, std::string> fields[] = {
        {"event_id", "\"e1\""},    {"timestamp", "\"2024-01-15T10:30:00Z\""},
        {"user_id", "\"u1\""},     {"event_type", "\"view\""},
        {"product", "\"laptop\""}, {"price", "10.5"},
        {"quantity", "1"},
    };
    bool first = true;
    for (const auto& [k, v] : fields) {
        const std::string val = k == field ? value : v;
        if (val.empty()) {
            continue;  // drop the field
        }
        out.append(first ? "" : ",").append("\"").append(k).append("\":").append(val);
        first = false;
    }
    return out + "}";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(decoder)

BOOST_AUTO_TEST_CASE(decodes_the_seed_event_with_typed_fields) {
    Event e;
    const std::string record = kGood;  // the event may refer to its bytes
    BOOST_REQUIRE(!decode(record, e));
    // 10:30:00.123 at +01:00 is 09:30:00.123 UTC.
    BOOST_TEST(e.time.value == 1705311000123);
    BOOST_TEST(e.string_at(0) == "u7");
    BOOST_TEST(e.string_at(1) == "purchase");
    BOOST_TEST(e.string_at(2) == "mouse");
    BOOST_TEST(e.double_at(3) == 25.5);
    BOOST_TEST(e.int_at(4) == 2);
    BOOST_TEST((e.id == hash_id("e1")));
}

BOOST_AUTO_TEST_CASE(naive_iso_timestamps_mean_utc_and_microseconds_truncate) {
    Event e;
    BOOST_REQUIRE(!decode(with("timestamp", R"("2024-01-15T10:30:00.123456")"), e));
    BOOST_TEST(e.time.value == 1705314600123);
    BOOST_REQUIRE(!decode(with("timestamp", R"("2024-01-15T10:30:00")"), e));
    BOOST_TEST(e.time.value == 1705314600000);
    BOOST_REQUIRE(!decode(with("timestamp", R"("2024-01-15 10:30:00Z")"), e));
    BOOST_TEST(e.time.value == 1705314600000);
    BOOST_REQUIRE(!decode(with("timestamp", R"("2024-01-15T10:30:00-0530")"), e));
    BOOST_TEST(e.time.value == 1705314600000 + std::int64_t{330} * 60000);
}

BOOST_AUTO_TEST_CASE(leap_days_are_valid_only_in_leap_years) {
    BOOST_TEST(detail::parse_iso8601("2024-02-29T00:00:00Z").ms == 1709164800000);
    BOOST_TEST(
        (detail::parse_iso8601("2023-02-29T00:00:00Z").status == detail::TimeParse::malformed));
    BOOST_TEST((detail::parse_iso8601("2000-02-29T00:00:00Z").status == detail::TimeParse::ok));
    BOOST_TEST(
        (detail::parse_iso8601("1900-02-29T00:00:00Z").status == detail::TimeParse::malformed));
}

BOOST_AUTO_TEST_CASE(epoch_seconds_and_milliseconds_are_supported) {
    EventSchema s = default_seed_schema();
    s.time_format = TimeFormat::epoch_ms;
    Event e;
    BOOST_REQUIRE(!decode(with("timestamp", "1705314600123"), e, s));
    BOOST_TEST(e.time.value == 1705314600123);
    s.time_format = TimeFormat::epoch_s;
    BOOST_REQUIRE(!decode(with("timestamp", "1705314600"), e, s));
    BOOST_TEST(e.time.value == 1705314600000);
    BOOST_TEST((reason_of(with("timestamp", "1705314600.5"), s) == RejectReason::bad_timestamp));
}

BOOST_AUTO_TEST_CASE(integer_ids_are_the_same_id_as_their_decimal_text) {
    Event a;
    Event b;
    BOOST_REQUIRE(!decode(with("event_id", "1234567"), a));
    BOOST_REQUIRE(!decode(with("event_id", "\"1234567\""), b));
    BOOST_TEST((a.id == b.id));
}

BOOST_AUTO_TEST_CASE(doubles_accept_json_integers_and_unknown_fields_are_ignored) {
    Event e;
    std::string json = with("price", "12");
    json.insert(1, R"("extra":{"a":[1,2,{"b":null}]},"price_old":"x",)");
    BOOST_REQUIRE(!decode(json, e));
    BOOST_TEST(e.double_at(3) == 12.0);
}

BOOST_AUTO_TEST_CASE(the_decoder_reuses_the_event_without_leaking_old_strings) {
    Decoder d(default_seed_schema());
    Event e;
    const std::string first = with("user_id", "\"a-very-long-user-name-that-does-not-fit-sso\"");
    BOOST_REQUIRE(!d.decode(first, e));
    // The event may refer to the record it came from: keep it alive.
    const std::string second = with("user_id", "\"u2\"");
    BOOST_REQUIRE(!d.decode(second, e));
    BOOST_TEST(e.string_at(0) == "u2");
    BOOST_TEST(e.string_at(1) == "view");
}

BOOST_AUTO_TEST_CASE(rejects_records_over_the_size_limit_as_too_large) {
    EventSchema s = default_seed_schema();
    s.max_record_bytes = 50;
    BOOST_TEST((reason_of(kGood, s) == RejectReason::too_large));
}

BOOST_AUTO_TEST_CASE(rejects_invalid_utf8_as_invalid_utf8) {
    BOOST_TEST((reason_of(with("user_id", "\"u\xc3\x28\"")) == RejectReason::invalid_utf8));
}

BOOST_AUTO_TEST_CASE(rejects_malformed_json_as_not_json) {
    BOOST_TEST((reason_of("{\"event_id\": ") == RejectReason::not_json));
    BOOST_TEST((reason_of("") == RejectReason::not_json));
    BOOST_TEST((reason_of(std::string(kGood) + " trailing") == RejectReason::not_json));
    BOOST_TEST((reason_of(R"({"event_id":"e1","junk":[1,2,}])") == RejectReason::not_json));
}

BOOST_AUTO_TEST_CASE(rejects_json_that_is_not_an_object_as_not_an_object) {
    BOOST_TEST((reason_of("[1,2,3]") == RejectReason::not_an_object));
    BOOST_TEST((reason_of("\"text\"") == RejectReason::not_an_object));
    BOOST_TEST((reason_of("42") == RejectReason::not_an_object));
}

BOOST_AUTO_TEST_CASE(rejects_a_missing_field_as_missing_field_and_names_it) {
    Event e;
    auto r = decode(with("product", ""), e);
    BOOST_REQUIRE(r);
    BOOST_TEST((r->reason == RejectReason::missing_field));
    BOOST_TEST(r->detail == "field 'product': missing");
    BOOST_TEST((reason_of(with("timestamp", "")) == RejectReason::missing_field));
    BOOST_TEST((reason_of(with("event_id", "")) == RejectReason::missing_field));
}

BOOST_AUTO_TEST_CASE(rejects_a_mistyped_field_as_wrong_type) {
    Event e;
    auto r = decode(with("price", "\"12.5\""), e);
    BOOST_REQUIRE(r);
    BOOST_TEST((r->reason == RejectReason::wrong_type));
    BOOST_TEST(r->detail == "field 'price': expected a number, got string");
    BOOST_TEST((reason_of(with("quantity", "1.5")) == RejectReason::wrong_type));
    BOOST_TEST((reason_of(with("quantity", "18446744073709551615")) == RejectReason::wrong_type));
    BOOST_TEST((reason_of(with("user_id", "7")) == RejectReason::wrong_type));
    BOOST_TEST((reason_of(with("event_id", "true")) == RejectReason::wrong_type));
    BOOST_TEST((reason_of(with("timestamp", "1705314600")) == RejectReason::wrong_type));
    BOOST_TEST((reason_of(with("product", "null")) == RejectReason::wrong_type));
}

BOOST_AUTO_TEST_CASE(rejects_a_repeated_schema_field_as_duplicate_field) {
    std::string json = with("price", "1");
    json.insert(1, R"("price":2,)");
    BOOST_TEST((reason_of(json) == RejectReason::duplicate_field));
}

BOOST_AUTO_TEST_CASE(rejects_an_empty_string_id_as_empty_id) {
    BOOST_TEST((reason_of(with("event_id", "\"\"")) == RejectReason::empty_id));
}

BOOST_AUTO_TEST_CASE(rejects_unparseable_timestamps_as_bad_timestamp) {
    for (const char* t :
         {"\"yesterday\"", "\"2024-01-15\"", "\"2024-01-15T25:00:00Z\"", "\"2024-01-32T10:00:00Z\"",
          "\"2024-01-15T10:00:00.Z\"", "\"2024-01-15T10:00:00+1\"", "\"2024-01-15T10:00:60Z\"",
          "\"2024-01-15T10:00:00Zjunk\""}) {
        BOOST_TEST_INFO(t);
        BOOST_TEST((reason_of(with("timestamp", t)) == RejectReason::bad_timestamp));
    }
}

BOOST_AUTO_TEST_CASE(rejects_absurd_timestamps_as_timestamp_out_of_range) {
    BOOST_TEST((reason_of(with("timestamp", "\"1969-12-31T23:59:59.999Z\"")) ==
                RejectReason::timestamp_out_of_range));
    BOOST_TEST((reason_of(with("timestamp", "\"9999-12-31T23:59:59-01:00\"")) ==
                RejectReason::timestamp_out_of_range));
    EventSchema s = default_seed_schema();
    s.time_format = TimeFormat::epoch_ms;
    BOOST_TEST((reason_of(with("timestamp", "-5"), s) == RejectReason::timestamp_out_of_range));
    s.time_format = TimeFormat::epoch_s;
    BOOST_TEST((reason_of(with("timestamp", "9223372036854775807"), s) ==
                RejectReason::timestamp_out_of_range));
}

BOOST_AUTO_TEST_CASE(events_too_far_ahead_of_processing_time_are_out_of_range) {
    EventSchema s = default_seed_schema();
    s.max_future_skew = DurationMs{60000};
    Decoder d(s);
    Event e;
    const std::int64_t t = 1705314600000;  // 2024-01-15T10:30:00Z
    d.set_processing_time(ProcessingTimeMs{t - 60000});
    BOOST_TEST(!d.decode(with("timestamp", "\"2024-01-15T10:30:00Z\""), e));
    d.set_processing_time(ProcessingTimeMs{t - 60001});
    auto r = d.decode(with("timestamp", "\"2024-01-15T10:30:00Z\""), e);
    BOOST_REQUIRE(r);
    BOOST_TEST((r->reason == RejectReason::timestamp_out_of_range));
}

BOOST_AUTO_TEST_CASE(every_reject_reason_has_a_stable_snake_case_name) {
    const char* expected[] = {
        "too_large",  "invalid_utf8",    "not_json", "not_an_object", "missing_field",
        "wrong_type", "duplicate_field", "empty_id", "bad_timestamp", "timestamp_out_of_range"};
    for (std::size_t i = 0; i < kRejectReasonCount; ++i) {
        BOOST_TEST(name_of(static_cast<RejectReason>(i)) == expected[i]);
    }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace etld::pipeline::test
