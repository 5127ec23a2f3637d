// The decoder's fast path against simdjson's DOM parser as the reference:
// whatever the fast path accepts, the DOM must parse to the same values.
#include <simdjson.h>

#include <bit>
#include <random>
#include <string>
#include <vector>

#include "fast_decode.h"
#include "test_support.h"
#include "time_parse.h"

namespace etld::pipeline::test {
namespace {

EventSchema schema_with_flag(TimeFormat format) {
    EventSchema s = default_seed_schema();
    s.time_format = format;
    s.fields.push_back({"flag", FieldType::boolean});
    return s;
}

// Checks an event the fast path accepted against the DOM of the record.
void check_against_dom(const EventSchema& s, const std::string& record, const Event& e) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    const simdjson::padded_string padded(record);
    BOOST_REQUIRE_MESSAGE(!parser.parse(padded).get(root), "DOM rejects " + record);
    simdjson::dom::object obj;
    BOOST_REQUIRE_MESSAGE(!root.get_object().get(obj), "not an object: " + record);
    auto only = [&](const std::string& name) {
        int n = 0;
        simdjson::dom::element v;
        for (auto kv : obj) {
            if (kv.key == name) {
                ++n;
                v = kv.value;
            }
        }
        BOOST_REQUIRE_MESSAGE(
            n == 1, "field " + name + " appears " + std::to_string(n) + " times in " + record);
        return v;
    };
    using T = simdjson::dom::element_type;
    const auto id = only(s.id_field);
    if (id.type() == T::STRING) {
        const std::string_view text = id.get_string().value();
        BOOST_TEST(!text.empty());
        BOOST_TEST((e.id == hash_id(text)), record);
    } else {
        BOOST_REQUIRE_MESSAGE(id.type() == T::INT64, "id type in " + record);
        BOOST_TEST((e.id == hash_id(std::to_string(id.get_int64().value()))), record);
    }
    const auto tv = only(s.time_field);
    if (s.time_format == TimeFormat::iso8601) {
        BOOST_REQUIRE(tv.type() == T::STRING);
        const auto parsed = detail::parse_iso8601(tv.get_string().value());
        BOOST_REQUIRE((parsed.status == detail::TimeParse::ok));
        BOOST_TEST(e.time.value == parsed.ms, record);
    } else {
        BOOST_REQUIRE(tv.type() == T::INT64);
        const std::int64_t scale = s.time_format == TimeFormat::epoch_s ? 1000 : 1;
        BOOST_TEST(e.time.value == tv.get_int64().value() * scale, record);
    }
    for (std::size_t i = 0; i < s.fields.size(); ++i) {
        const auto v = only(s.fields[i].name);
        switch (s.fields[i].type) {
            case FieldType::string:
                BOOST_REQUIRE(v.type() == T::STRING);
                BOOST_TEST(e.string_at(i) == v.get_string().value(), record);
                break;
            case FieldType::int64:
                BOOST_REQUIRE(v.type() == T::INT64);
                BOOST_TEST(e.int_at(i) == v.get_int64().value(), record);
                break;
            case FieldType::float64: {
                double want = 0;
                if (v.type() == T::DOUBLE) {
                    want = v.get_double().value();
                } else {
                    BOOST_REQUIRE(v.type() == T::INT64);
                    want = static_cast<double>(v.get_int64().value());
                }
                BOOST_TEST(std::bit_cast<std::uint64_t>(e.double_at(i)) ==
                               std::bit_cast<std::uint64_t>(want),
                           record);
                break;
            }
            case FieldType::boolean:
                BOOST_REQUIRE(v.type() == T::BOOL);
                BOOST_TEST(e.bool_at(i) == v.get_bool().value(), record);
                break;
        }
    }
}

const std::vector<std::string> kWs = {"", "", "", " ", "\n", "\t", " \r\n "};
const std::vector<std::string> kStrings = {"\"u7\"",          "\"purchase\"",    "\"\"",
                                           "\"with space\"",  "\"caf\xc3\xa9\"", "\"bad\xc3\x28\"",
                                           "\"esc\\\"aped\"", "\"tab\\tbed\"",   "\"\\u00e9\"",
                                           "\"ctl\x01\"",     "\"del\x7f\"",     "\"unterminated"};
const std::vector<std::string> kNumbers = {"0",
                                           "-0",
                                           "12",
                                           "-12",
                                           "1.5",
                                           "-1.25e-2",
                                           "1e3",
                                           "1E+3",
                                           "2.5e0",
                                           "1e400",
                                           "-1e400",
                                           "1e-400",
                                           "01",
                                           "1.",
                                           ".5",
                                           "-",
                                           "+1",
                                           "123456789012345678",
                                           "-123456789012345678",
                                           "1234567890123456789",
                                           "99999999999999999999",
                                           "0.1",
                                           "3.141592653589793238462643383279",
                                           "5e-324",
                                           "1.7976931348623157e308"};
const std::vector<std::string> kOthers = {"true", "false",     "null", "[1,2]",
                                          "{}",   "{\"a\":1}", "tru",  "nul"};
const std::vector<std::string> kTimes = {"\"2024-01-15T10:30:00Z\"",
                                         "\"2024-01-15T10:30:00.123456\"",
                                         "\"2024-01-15 10:30:00+01:00\"",
                                         "\"2024-02-30T10:30:00Z\"",
                                         "\"1969-12-31T23:59:59Z\"",
                                         "\"yesterday\"",
                                         "1705312800",
                                         "1705312800000",
                                         "-5",
                                         "92233720368547758"};

std::string pick(std::mt19937_64& rng, const std::vector<std::string>& v) {
    return v[rng() % v.size()];
}

// A value for a field of `type`: mostly the right type, sometimes anything.
std::string value_for(std::mt19937_64& rng, FieldType type) {
    if (rng() % 16 == 0) {
        switch (rng() % 3) {
            case 0:
                return pick(rng, kStrings);
            case 1:
                return pick(rng, kNumbers);
            default:
                return pick(rng, kOthers);
        }
    }
    switch (type) {
        case FieldType::string:
            return rng() % 4 != 0 ? "\"v" + std::to_string(rng() % 100) + "\""
                                  : pick(rng, kStrings);
        case FieldType::int64:
            return rng() % 4 != 0 ? std::to_string(rng() % 10) : pick(rng, kNumbers);
        case FieldType::float64:
            return rng() % 2 == 0 ? std::to_string(rng() % 1000) + "." + std::to_string(rng() % 100)
                                  : pick(rng, kNumbers);
        case FieldType::boolean:
            return rng() % 2 == 0 ? "true" : "false";
    }
    return "null";
}

std::string random_record(std::mt19937_64& rng, const EventSchema& s) {
    std::vector<std::pair<std::string, std::string>> members;
    members.emplace_back(s.id_field, rng() % 3 == 0 ? std::to_string(rng() % 100000)
                                                    : value_for(rng, FieldType::string));
    std::string time = pick(rng, kTimes);
    if (rng() % 2 == 0) {
        time = s.time_format == TimeFormat::iso8601 ? "\"2024-01-15T10:30:00.5Z\"" : "1705312800";
    }
    members.emplace_back(s.time_field, time);
    for (const auto& f : s.fields) {
        members.emplace_back(f.name, value_for(rng, f.type));
    }
    if (rng() % 16 == 0) {
        members.erase(members.begin() + static_cast<std::ptrdiff_t>(rng() % members.size()));
    }
    if (rng() % 16 == 0) {
        members.push_back(members[rng() % members.size()]);  // a duplicate
    }
    if (rng() % 3 == 0) {
        members.emplace_back("extra", rng() % 2 == 0 ? pick(rng, kOthers) : pick(rng, kNumbers));
    }
    std::shuffle(members.begin(), members.end(), rng);
    std::string r = pick(rng, kWs) + "{";
    for (std::size_t i = 0; i < members.size(); ++i) {
        if (i > 0) {
            r += pick(rng, kWs) + ",";
        }
        r += pick(rng, kWs) + "\"" + members[i].first + "\"" + pick(rng, kWs) + ":" +
             pick(rng, kWs) + members[i].second;
    }
    r += pick(rng, kWs) + "}" + pick(rng, kWs);
    switch (rng() % 16) {
        case 0:
            r.resize(rng() % r.size());  // truncated
            break;
        case 1:
            r += "x";  // trailing junk
            break;
        case 2:
            r = "[" + r + "]";
            break;
        default:
            break;
    }
    return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fast_decode)

BOOST_AUTO_TEST_CASE(decodes_a_plain_seed_record_like_the_dom) {
    const EventSchema s = default_seed_schema();
    detail::FastDecoder fast(s);
    const std::string record =
        R"({"event_id": 1000042, "timestamp": "2024-01-15T10:00:01.250123", )"
        R"("user_id": "user_17", "event_type": "purchase", "product": "mouse", )"
        R"("price": 1234.56, "quantity": 3})";
    Event e;
    BOOST_REQUIRE(fast.decode(record, e, std::nullopt));
    check_against_dom(s, record, e);
    BOOST_TEST(e.time.value == kT0 + 1250);
    BOOST_TEST(e.string_at(1) == "purchase");
    BOOST_TEST(e.double_at(3) == 1234.56);
    BOOST_TEST(e.int_at(4) == 3);
}

BOOST_AUTO_TEST_CASE(a_changed_field_order_or_a_lookalike_key_defeats_the_predicted_keys) {
    // The fast path first tries the keys in the order the last record had
    // them; a record in another order, or with a key that only starts like
    // the predicted one, must still decode exactly as the DOM reads it.
    const EventSchema s = default_seed_schema();
    detail::FastDecoder fast(s);
    const std::string first =
        R"({"event_id":"a1","timestamp":"2024-01-15T10:00:01Z","user_id":"u1",)"
        R"("event_type":"view","product":"mouse","price":10.5,"quantity":1})";
    const std::string shuffled =
        R"({"price":99.25,"product":"laptop","timestamp":"2024-01-15T10:00:02Z",)"
        R"("quantity":2,"event_id":"a2","user_id":"u2","event_type":"purchase"})";
    const std::string lookalike =
        R"({"price_old":1,"pric":2,"price":3.5,"product":"desk","timestamp":"2024-01-15T10:00:03Z",)"
        R"("quantity":4,"event_id":"a3","user_id":"u3","event_type":"view"})";
    const std::string repeated =
        R"({"price":1,"price":2,"product":"desk","timestamp":"2024-01-15T10:00:03Z",)"
        R"("quantity":4,"event_id":"a3","user_id":"u3","event_type":"view"})";
    for (const std::string* r : {&first, &shuffled, &shuffled, &lookalike, &first, &lookalike}) {
        Event e;
        BOOST_REQUIRE_MESSAGE(fast.decode(*r, e, std::nullopt), *r);
        check_against_dom(s, *r, e);
    }
    Event e;
    BOOST_TEST(!fast.decode(repeated, e, std::nullopt));
    BOOST_REQUIRE(fast.decode(lookalike, e, std::nullopt));
    BOOST_TEST(e.double_at(3) == 3.5);
    BOOST_TEST(e.string_at(2) == "desk");
}

BOOST_AUTO_TEST_CASE(declines_what_the_full_decoder_must_judge) {
    const EventSchema s = default_seed_schema();
    detail::FastDecoder fast(s);
    const std::string base =
        R"("timestamp":"2024-01-15T10:00:00Z","user_id":"u","event_type":"view",)"
        R"("product":"p","price":1.5,"quantity":1)";
    const std::vector<std::string> declined = {
        "{\"event_id\":\"a\\\"b\"," + base + "}",                           // escape
        "{\"event_id\":\"\"," + base + "}",                                 // empty id
        "{\"event_id\":-0," + base + "}",                                   // -0
        "{\"event_id\":1234567890123456789," + base + "}",                  // 19 digits
        "{\"event_id\":\"a\",\"x\":[1]," + base + "}",                      // nested
        "{\"event_id\":\"a\",\"x\":1e999," + base + "}",                    // overflow
        "{\"event_id\":\"a\",\"event_id\":\"b\"," + base + "}",             // duplicate
        "{\"event_id\":\"a\xff\"," + base + "}",                            // invalid UTF-8
        "{\"event_id\":\"a\"," + base + "} x",                              // trailing bytes
        "{" + base + "}",                                                   // missing id
        "{\"event_id\":\"a\"," + base + ",\"price\":2}",                    // duplicate field
        "{\"event_id\":\"a\"," + base.substr(0, base.size() - 1) + "1.5}",  // int field as 1.5
    };
    for (const auto& r : declined) {
        Event e;
        BOOST_TEST(!fast.decode(r, e, std::nullopt), r);
    }
}

BOOST_AUTO_TEST_CASE(accepts_only_records_the_dom_reads_the_same_way) {
    std::mt19937_64 rng(20240115);
    std::size_t accepted = 0;
    std::size_t total = 0;
    for (TimeFormat format : {TimeFormat::iso8601, TimeFormat::epoch_s, TimeFormat::epoch_ms}) {
        const EventSchema s = schema_with_flag(format);
        detail::FastDecoder fast(s);
        Event e;
        for (int i = 0; i < 20000; ++i) {
            const std::string record = random_record(rng, s);
            ++total;
            if (!fast.decode(record, e, std::nullopt)) {
                continue;
            }
            ++accepted;
            check_against_dom(s, record, e);
        }
    }
    // The generator must exercise both outcomes.
    BOOST_TEST_MESSAGE("fast path accepted " << accepted << " of " << total);
    BOOST_TEST(accepted > total / 20);
    BOOST_TEST(accepted < total * 9 / 10);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace etld::pipeline::test
