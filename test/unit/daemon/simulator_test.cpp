// The event simulator behind `etld simulate`: the seed's distributions, unique
// ids, reproducibility, and that each deliberate fault (disorder, duplicates,
// late and malformed records) is exactly what it claims to be. Validity is
// judged by a strict JSON reader and event check written here, independent of
// the generator's own rendering.
#include <boost/test/unit_test.hpp>

#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <unordered_set>
#include <variant>
#include <vector>

#include "daemon/simulate_command.h"
#include "daemon/simulator.h"

// Boost.Test records every passing assertion; over a million records that
// alone takes minutes in a sanitized build, so loops check with these.
#define REQUIRE_EACH(cond)                      \
    do {                                        \
        if (!(cond)) {                          \
            BOOST_FAIL("check failed: " #cond); \
        }                                       \
    } while (false)
#define REQUIRE_EACH_MESSAGE(cond, message) \
    do {                                    \
        if (!(cond)) {                      \
            BOOST_FAIL(message);            \
        }                                   \
    } while (false)

namespace sim = etld::daemon;
using namespace std::chrono_literals;

namespace {

// ---- a strict JSON reader (RFC 8259, no extensions) ------------------------

struct Json {
    enum class Type { null, boolean, number, string, array, object } type = Type::null;
    bool boolean = false;
    double number = 0.0;
    std::string text;  // string value, or a number's literal text
    std::vector<Json> array;
    // An object's members, names[i] naming values[i], in document order.
    std::vector<std::string> names;
    std::vector<Json> values;

    const Json* get(std::string_view name) const {
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (names[i] == name) {
                return &values[i];
            }
        }
        return nullptr;
    }
};

class JsonReader {
  public:
    explicit JsonReader(std::string_view s) : s_(s) {}

    std::optional<Json> document() {
        Json v;
        if (!value(v)) {
            return std::nullopt;
        }
        space();
        if (pos_ != s_.size()) {
            return std::nullopt;
        }
        return v;
    }

  private:
    void space() {
        while (pos_ < s_.size() &&
               (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
            ++pos_;
        }
    }
    bool literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) != word) {
            return false;
        }
        pos_ += word.size();
        return true;
    }
    bool digits() {
        const std::size_t start = pos_;
        while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
            ++pos_;
        }
        return pos_ > start;
    }
    bool string(std::string& out) {
        if (pos_ >= s_.size() || s_[pos_] != '"') {
            return false;
        }
        ++pos_;
        while (pos_ < s_.size()) {
            const char c = s_[pos_++];
            if (c == '"') {
                return true;
            }
            if (static_cast<unsigned char>(c) < 0x20) {
                return false;
            }
            if (c == '\\') {
                if (pos_ >= s_.size()) {
                    return false;
                }
                const char e = s_[pos_++];
                if (e == 'u') {
                    if (pos_ + 4 > s_.size()) {
                        return false;
                    }
                    pos_ += 4;
                    out.push_back('?');
                    continue;
                }
                if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
                    return false;
                }
                out.push_back(e);
                continue;
            }
            out.push_back(c);
        }
        return false;
    }
    bool number(Json& v) {
        const std::size_t start = pos_;
        if (pos_ < s_.size() && s_[pos_] == '-') {
            ++pos_;
        }
        if (pos_ < s_.size() && s_[pos_] == '0') {
            ++pos_;
        } else if (!digits()) {
            return false;
        }
        if (pos_ < s_.size() && s_[pos_] == '.') {
            ++pos_;
            if (!digits()) {
                return false;
            }
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) {
                ++pos_;
            }
            if (!digits()) {
                return false;
            }
        }
        v.type = Json::Type::number;
        v.text = std::string(s_.substr(start, pos_ - start));
        v.number = std::stod(v.text);
        return true;
    }
    bool value(Json& v) {
        space();
        if (pos_ >= s_.size()) {
            return false;
        }
        const char c = s_[pos_];
        if (c == '{') {
            ++pos_;
            v.type = Json::Type::object;
            space();
            if (pos_ < s_.size() && s_[pos_] == '}') {
                ++pos_;
                return true;
            }
            for (;;) {
                space();
                std::string name;
                if (!string(name)) {
                    return false;
                }
                space();
                if (pos_ >= s_.size() || s_[pos_++] != ':') {
                    return false;
                }
                Json member;
                if (!value(member)) {
                    return false;
                }
                v.names.push_back(std::move(name));
                v.values.push_back(std::move(member));
                space();
                if (pos_ >= s_.size()) {
                    return false;
                }
                if (s_[pos_] == ',') {
                    ++pos_;
                    continue;
                }
                if (s_[pos_] == '}') {
                    ++pos_;
                    return true;
                }
                return false;
            }
        }
        if (c == '[') {
            ++pos_;
            v.type = Json::Type::array;
            space();
            if (pos_ < s_.size() && s_[pos_] == ']') {
                ++pos_;
                return true;
            }
            for (;;) {
                Json item;
                if (!value(item)) {
                    return false;
                }
                v.array.push_back(std::move(item));
                space();
                if (pos_ >= s_.size()) {
                    return false;
                }
                if (s_[pos_] == ',') {
                    ++pos_;
                    continue;
                }
                if (s_[pos_] == ']') {
                    ++pos_;
                    return true;
                }
                return false;
            }
        }
        if (c == '"') {
            v.type = Json::Type::string;
            return string(v.text);
        }
        if (literal("true")) {
            v.type = Json::Type::boolean;
            v.boolean = true;
            return true;
        }
        if (literal("false")) {
            v.type = Json::Type::boolean;
            return true;
        }
        if (literal("null")) {
            v.type = Json::Type::null;
            return true;
        }
        return number(v);
    }

    std::string_view s_;
    std::size_t pos_ = 0;
};

std::optional<Json> parse_json(std::string_view s) {
    return JsonReader(s).document();
}

// ---- what a valid event is ------------------------------------------------

constexpr std::array<std::string_view, 4> kTypes{"view", "add_to_cart", "purchase",
                                                 "remove_from_cart"};
constexpr std::array<std::string_view, 5> kProducts{"laptop", "mouse", "keyboard", "monitor",
                                                    "headphones"};

bool one_of(std::string_view s, const auto& allowed) {
    return std::find(allowed.begin(), allowed.end(), s) != allowed.end();
}

// Strict "YYYY-MM-DDTHH:MM:SS.mmmZ" with a real calendar date.
std::optional<sim::SimTime> parse_timestamp(const std::string& s) {
    if (s.size() != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != '.' || s[23] != 'Z') {
        return std::nullopt;
    }
    for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22}) {
        if (s[i] < '0' || s[i] > '9') {
            return std::nullopt;
        }
    }
    auto num = [&](std::size_t at, std::size_t n) { return std::stoi(s.substr(at, n)); };
    const std::chrono::year_month_day ymd{std::chrono::year(num(0, 4)),
                                          std::chrono::month(static_cast<unsigned>(num(5, 2))),
                                          std::chrono::day(static_cast<unsigned>(num(8, 2)))};
    if (!ymd.ok() || num(11, 2) > 23 || num(14, 2) > 59 || num(17, 2) > 59) {
        return std::nullopt;
    }
    return sim::SimTime(std::chrono::sys_days(ymd)) + std::chrono::hours(num(11, 2)) +
           std::chrono::minutes(num(14, 2)) + std::chrono::seconds(num(17, 2)) +
           std::chrono::milliseconds(num(20, 3));
}

struct Event {
    std::string id;
    sim::SimTime time;
    std::string user;
    std::string type;
    std::string product;
    std::string price_text;
    double price = 0;
    int quantity = 0;
};

std::optional<Event> parse_event(std::string_view bytes) {
    const auto doc = parse_json(bytes);
    if (!doc || doc->type != Json::Type::object || doc->names.size() != 7) {
        return std::nullopt;
    }
    if (std::set<std::string>(doc->names.begin(), doc->names.end()).size() != 7) {
        return std::nullopt;
    }
    auto str = [&](const char* name) -> std::optional<std::string> {
        const Json* v = doc->get(name);
        if (v == nullptr || v->type != Json::Type::string) {
            return std::nullopt;
        }
        return v->text;
    };
    const auto id = str("event_id");
    const auto ts = str("timestamp");
    const auto user = str("user_id");
    const auto type = str("event_type");
    const auto product = str("product");
    const Json* price = doc->get("price");
    const Json* quantity = doc->get("quantity");
    if (!id || id->empty() || !ts || !user || !type || !product || price == nullptr ||
        price->type != Json::Type::number || quantity == nullptr ||
        quantity->type != Json::Type::number) {
        return std::nullopt;
    }
    const auto time = parse_timestamp(*ts);
    if (!time || !one_of(*type, kTypes) || !one_of(*product, kProducts)) {
        return std::nullopt;
    }
    if (user->rfind("user_", 0) != 0) {
        return std::nullopt;
    }
    const std::string n = user->substr(5);
    if (n.empty() || n.size() > 3 || n[0] == '0' ||
        n.find_first_not_of("0123456789") != std::string::npos || std::stoi(n) < 1 ||
        std::stoi(n) > 100) {
        return std::nullopt;
    }
    if (quantity->text.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
    }
    return Event{*id,      *time,       *user,         *type,
                 *product, price->text, price->number, static_cast<int>(quantity->number)};
}

// The text of a string field of a valid event, without a full parse.
std::string string_field(const std::string& value, const std::string& name) {
    const std::string marker = "\"" + name + "\":\"";
    const std::size_t at = value.find(marker);
    if (at == std::string::npos) {
        return {};
    }
    const std::size_t begin = at + marker.size();
    return value.substr(begin, value.find('"', begin) - begin);
}

double number_field(const std::string& value, const std::string& name) {
    const std::string marker = "\"" + name + "\":";
    const std::size_t at = value.find(marker);
    return at == std::string::npos ? -1.0
                                   : std::strtod(value.c_str() + at + marker.size(), nullptr);
}

std::optional<sim::SimTime> timestamp_of(const std::string& value) {
    return parse_timestamp(string_field(value, "timestamp"));
}

std::vector<sim::SimulatedRecord> generate(const sim::SimulatorOptions& options, std::size_t n) {
    sim::EventSimulator simulator(options);
    std::vector<sim::SimulatedRecord> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(simulator.next());
    }
    return out;
}

sim::SimulatorOptions deterministic(std::uint64_t seed = 42) {
    sim::SimulatorOptions o;
    o.seed = seed;
    o.event_time_start =
        sim::SimTime(std::chrono::sys_days(std::chrono::year(2026) / std::chrono::November / 25)) +
        10h + 30min;
    o.event_time_step = 250ms;
    return o;
}

sim::SimulatorOptions with_every_fault(std::uint64_t seed = 42) {
    sim::SimulatorOptions o = deterministic(seed);
    o.disorder = 5s;
    o.duplicate_rate = 0.02;
    o.late_rate = 0.01;
    o.late_by = 10min;
    o.malformed_rate = 0.005;
    o.partitions = 3;
    return o;
}

void check_share(const std::string& what, std::size_t count, std::size_t total, double expected,
                 double tolerance) {
    const double share = static_cast<double>(count) / static_cast<double>(total);
    BOOST_CHECK_MESSAGE(std::abs(share - expected) <= tolerance, what << ": share " << share
                                                                      << ", expected " << expected
                                                                      << " ± " << tolerance);
}

std::filesystem::path temp_path(const std::string& name) {
    return std::filesystem::temp_directory_path() /
           ("etld-simulator-test-" + std::to_string(::getpid()) + "-" + name);
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(simulator)

BOOST_AUTO_TEST_CASE(every_event_is_valid_and_within_the_seed_ranges) {
    const auto records = generate(deterministic(), 100'000);
    std::set<std::string> users;
    std::set<std::string> products;
    std::set<std::string> types;
    for (const auto& r : records) {
        REQUIRE_EACH(r.kind == sim::RecordKind::normal);
        const auto e = parse_event(r.value);
        REQUIRE_EACH_MESSAGE(e, "not a valid event: " << r.value);
        const std::size_t dot = e->price_text.find('.');
        REQUIRE_EACH_MESSAGE(dot != std::string::npos && e->price_text.size() - dot == 3,
                             "price without exactly 2 decimals: " << e->price_text);
        REQUIRE_EACH(e->price >= 10.0 && e->price <= 2000.0);
        REQUIRE_EACH(e->quantity >= 1 && e->quantity <= 4);
        REQUIRE_EACH(r.key && *r.key == e->user);
        REQUIRE_EACH(r.event_time && *r.event_time == e->time);
        users.insert(e->user);
        products.insert(e->product);
        types.insert(e->type);
    }
    BOOST_TEST(users.size() == 100U);
    BOOST_TEST(products.size() == 5U);
    BOOST_TEST(types.size() == 4U);
}

BOOST_AUTO_TEST_CASE(types_products_users_prices_and_quantities_follow_their_proportions) {
    const std::size_t n = 100'000;
    const auto records = generate(deterministic(7), n);
    std::map<std::string, std::size_t> types;
    std::map<std::string, std::size_t> products;
    std::map<std::string, std::size_t> users;
    std::map<int, std::size_t> quantities;
    double price_sum = 0;
    std::size_t cheap = 0;
    // Validity is the previous case's business; a light reading is enough here.
    for (const auto& r : records) {
        ++types[string_field(r.value, "event_type")];
        ++products[string_field(r.value, "product")];
        ++users[string_field(r.value, "user_id")];
        ++quantities[static_cast<int>(number_field(r.value, "quantity"))];
        const double price = number_field(r.value, "price");
        price_sum += price;
        cheap += price < 505.0 ? 1 : 0;  // the first quarter of [10, 2000]
    }
    for (const auto& [type, count] : types) {
        check_share(type, count, n, 0.25, 0.01);
    }
    for (const auto& [product, count] : products) {
        check_share(product, count, n, 0.20, 0.01);
    }
    for (const auto& [user, count] : users) {
        check_share(user, count, n, 0.01, 0.0015);
    }
    for (const auto& [q, count] : quantities) {
        check_share("quantity " + std::to_string(q), count, n, 0.25, 0.01);
    }
    BOOST_TEST(std::abs(price_sum / static_cast<double>(n) - 1005.0) < 10.0);
    check_share("prices below 505", cheap, n, 0.25, 0.01);
}

BOOST_AUTO_TEST_CASE(an_event_type_mix_changes_the_type_proportions) {
    sim::SimulatorOptions o = deterministic();
    o.type_weights = {70, 15, 5, 10};
    const std::size_t n = 100'000;
    std::map<std::string, std::size_t> types;
    for (const auto& r : generate(o, n)) {
        ++types[string_field(r.value, "event_type")];
    }
    check_share("view", types["view"], n, 0.70, 0.01);
    check_share("add_to_cart", types["add_to_cart"], n, 0.15, 0.01);
    check_share("purchase", types["purchase"], n, 0.05, 0.01);
    check_share("remove_from_cart", types["remove_from_cart"], n, 0.10, 0.01);
}

BOOST_AUTO_TEST_CASE(event_ids_are_unique_over_a_million_events) {
    sim::SimulatorOptions o = deterministic();
    o.late_rate = 0.01;
    o.malformed_rate = 0.01;
    sim::EventSimulator simulator(o);
    std::unordered_set<std::string> ids;
    ids.reserve(1'100'000);
    const std::string marker = "\"event_id\":\"";
    for (int i = 0; i < 1'000'000; ++i) {
        const auto r = simulator.next();
        if (r.kind == sim::RecordKind::malformed) {
            continue;
        }
        const std::size_t at = r.value.find(marker) + marker.size();
        const std::string id = r.value.substr(at, r.value.find('"', at) - at);
        REQUIRE_EACH_MESSAGE(ids.insert(id).second, "event id repeated: " << id);
    }
    BOOST_TEST(ids.size() == simulator.tally().distinct);
    BOOST_TEST(sim::event_id(0xabcULL, 42) == "0000000000000abc-000000000042");
}

BOOST_AUTO_TEST_CASE(the_same_seed_and_options_give_byte_identical_records) {
    const auto a = generate(with_every_fault(99), 20'000);
    const auto b = generate(with_every_fault(99), 20'000);
    REQUIRE_EACH((a.size()) == (b.size()));
    for (std::size_t i = 0; i < a.size(); ++i) {
        REQUIRE_EACH(a[i].value == b[i].value);
        REQUIRE_EACH(a[i].key == b[i].key);
        REQUIRE_EACH(a[i].partition == b[i].partition);
        REQUIRE_EACH(a[i].kind == b[i].kind);
    }
    const auto other_seed = generate(with_every_fault(100), 100);
    std::size_t same = 0;
    for (std::size_t i = 0; i < other_seed.size(); ++i) {
        same += other_seed[i].value == a[i].value ? 1 : 0;
    }
    BOOST_TEST(same == 0U);
}

BOOST_AUTO_TEST_CASE(record_bytes_do_not_depend_on_the_partition_count) {
    sim::SimulatorOptions unknown = with_every_fault(5);
    unknown.partitions = 0;
    sim::SimulatorOptions seven = with_every_fault(5);
    seven.partitions = 7;
    seven.key = sim::KeyMode::none;  // draws partitions at random for every record
    sim::SimulatorOptions none_unknown = unknown;
    none_unknown.key = sim::KeyMode::none;
    const auto a = generate(none_unknown, 10'000);
    const auto b = generate(seven, 10'000);
    for (std::size_t i = 0; i < a.size(); ++i) {
        REQUIRE_EACH(a[i].value == b[i].value);
        REQUIRE_EACH(!a[i].partition);
        REQUIRE_EACH(b[i].partition && *b[i].partition >= 0 && *b[i].partition < 7);
    }
}

BOOST_AUTO_TEST_CASE(no_event_is_more_than_the_disorder_behind_the_highest_time_so_far) {
    const sim::SimulatorOptions o = with_every_fault();
    std::optional<sim::SimTime> highest;
    std::size_t out_of_order = 0;
    for (const auto& r : generate(o, 100'000)) {
        if (r.kind != sim::RecordKind::normal) {
            continue;
        }
        const auto e = timestamp_of(r.value);
        REQUIRE_EACH(e);
        if (highest) {
            REQUIRE_EACH_MESSAGE(*e >= *highest - o.disorder, "event " << r.sequence << " is "
                                                                       << (*highest - *e).count()
                                                                       << " ms behind");
            out_of_order += *e < *highest ? 1 : 0;
        }
        highest = highest ? std::max(*highest, *e) : *e;
    }
    // The disorder is real, not only permitted.
    BOOST_TEST(out_of_order > 10'000U);
}

BOOST_AUTO_TEST_CASE(late_events_are_at_least_late_by_behind_the_stream) {
    const sim::SimulatorOptions o = with_every_fault();
    std::optional<sim::SimTime> highest;
    std::size_t late = 0;
    for (const auto& r : generate(o, 100'000)) {
        if (!r.event_time) {
            continue;
        }
        const auto e = timestamp_of(r.value);
        REQUIRE_EACH(e && *e == *r.event_time);
        if (r.kind == sim::RecordKind::late) {
            ++late;
            REQUIRE_EACH(highest);
            REQUIRE_EACH_MESSAGE(*e <= *highest - o.late_by,
                                 "late event only " << (*highest - *e).count() << " ms behind");
            REQUIRE_EACH(*e >= *highest - o.late_by - o.disorder);
        }
        highest = highest ? std::max(*highest, *e) : *e;
    }
    check_share("late", late, 100'000, 0.01, 0.002);
}

BOOST_AUTO_TEST_CASE(duplicates_are_byte_identical_copies_of_an_earlier_event) {
    const sim::SimulatorOptions o = with_every_fault();
    std::map<std::uint64_t, sim::SimulatedRecord> seen;
    std::size_t duplicates = 0;
    std::size_t elsewhere = 0;
    for (auto& r : generate(o, 100'000)) {
        if (r.kind == sim::RecordKind::duplicate) {
            ++duplicates;
            REQUIRE_EACH(r.original_sequence && *r.original_sequence < r.sequence);
            REQUIRE_EACH(r.sequence - *r.original_sequence <= 2 * sim::kDuplicateWindow);
            const auto it = seen.find(*r.original_sequence);
            REQUIRE_EACH(it != seen.end());
            const sim::SimulatedRecord& original = it->second;
            REQUIRE_EACH(original.kind == sim::RecordKind::normal ||
                         original.kind == sim::RecordKind::late);
            REQUIRE_EACH(r.value == original.value);
            REQUIRE_EACH(r.key == original.key);
            REQUIRE_EACH(r.partition && original.partition);
            REQUIRE_EACH((r.other_partition) == (*r.partition != *original.partition));
            elsewhere += r.other_partition ? 1 : 0;
        }
        seen.emplace(r.sequence, std::move(r));
    }
    check_share("duplicates", duplicates, 100'000, 0.02, 0.003);
    check_share("duplicates sent elsewhere", elsewhere, duplicates, o.duplicate_other_partition,
                0.05);
}

BOOST_AUTO_TEST_CASE(every_malformed_record_fails_the_event_check_in_its_own_way) {
    sim::SimulatorOptions o = with_every_fault();
    o.malformed_rate = 0.2;
    std::map<sim::MalformedKind, std::size_t> kinds;
    for (const auto& r : generate(o, 20'000)) {
        if (r.kind != sim::RecordKind::malformed) {
            REQUIRE_EACH(!r.malformed);
            REQUIRE_EACH_MESSAGE(parse_event(r.value), "not valid: " << r.value);
            continue;
        }
        REQUIRE_EACH(r.malformed);
        REQUIRE_EACH(!r.event_time);
        ++kinds[*r.malformed];
        REQUIRE_EACH_MESSAGE(!parse_event(r.value), "malformed record passes: " << r.value);
        REQUIRE_EACH(r.value.find_first_of("\t\n\r") == std::string::npos);
        const auto doc = parse_json(r.value);
        switch (*r.malformed) {
            case sim::MalformedKind::broken_json:
                REQUIRE_EACH_MESSAGE(!doc, "broken JSON parses: " << r.value);
                break;
            case sim::MalformedKind::missing_field:
                REQUIRE_EACH(doc && doc->type == Json::Type::object);
                REQUIRE_EACH((doc->names.size()) == (6U));
                break;
            case sim::MalformedKind::wrong_type:
                REQUIRE_EACH(doc && doc->type == Json::Type::object);
                REQUIRE_EACH((doc->names.size()) == (7U));
                break;
            case sim::MalformedKind::bad_timestamp: {
                REQUIRE_EACH(doc && doc->type == Json::Type::object);
                const Json* ts = doc->get("timestamp");
                REQUIRE_EACH(ts && ts->type == Json::Type::string);
                REQUIRE_EACH_MESSAGE(!parse_timestamp(ts->text), "valid: " << ts->text);
                break;
            }
        }
    }
    BOOST_TEST(kinds.size() == sim::kMalformedKindCount);
    for (const auto& [kind, count] : kinds) {
        BOOST_TEST_MESSAGE(sim::to_string(kind) << ": " << count);
        check_share(std::string(sim::to_string(kind)), count, 4'000, 0.25, 0.05);
    }
}

BOOST_AUTO_TEST_CASE(the_tally_counts_exactly_the_records_generated) {
    sim::EventSimulator simulator(with_every_fault(3));
    std::map<sim::RecordKind, std::uint64_t> kinds;
    std::array<std::uint64_t, sim::kMalformedKindCount> malformed{};
    std::uint64_t elsewhere = 0;
    std::optional<sim::SimTime> lowest;
    std::optional<sim::SimTime> highest;
    for (int i = 0; i < 50'000; ++i) {
        const auto r = simulator.next();
        ++kinds[r.kind];
        if (r.malformed) {
            ++malformed.at(static_cast<std::size_t>(*r.malformed));
        }
        elsewhere += r.other_partition ? 1 : 0;
        if (r.event_time) {
            lowest = lowest ? std::min(*lowest, *r.event_time) : *r.event_time;
            highest = highest ? std::max(*highest, *r.event_time) : *r.event_time;
        }
    }
    const sim::SimulatorTally& t = simulator.tally();
    BOOST_TEST(t.records == 50'000U);
    BOOST_TEST(t.distinct == kinds[sim::RecordKind::normal] + kinds[sim::RecordKind::late]);
    BOOST_TEST(t.late == kinds[sim::RecordKind::late]);
    BOOST_TEST(t.duplicates == kinds[sim::RecordKind::duplicate]);
    BOOST_TEST(t.duplicates_other_partition == elsewhere);
    BOOST_TEST(t.malformed_total() == kinds[sim::RecordKind::malformed]);
    BOOST_TEST(t.malformed == malformed);
    BOOST_TEST(t.records == t.distinct + t.duplicates + t.malformed_total());
    std::uint64_t by_type = 0;
    for (auto n : t.distinct_by_type) {
        by_type += n;
    }
    BOOST_TEST(by_type == t.distinct);
    BOOST_TEST((t.min_event_time == lowest));
    BOOST_TEST((t.max_event_time == highest));
}

BOOST_AUTO_TEST_CASE(keyed_records_go_to_the_partition_a_java_producer_would_choose) {
    // librdkafka's murmur2 partitioner is documented as Java-compatible; it
    // needs no topic handle for a non-null key.
    for (const std::string key :
         {"user_1", "user_42", "user_100", "", "a", "ab", "abc", "0000000000000abc-000000000042"}) {
        for (int partitions : {1, 3, 7, 64}) {
            const int expected = rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(),
                                                                  partitions, nullptr, nullptr);
            BOOST_TEST(sim::murmur2_partition(key, partitions) == expected,
                       "key '" << key << "' over " << partitions);
        }
    }
    sim::SimulatorOptions o = deterministic();
    o.partitions = 3;
    for (const auto& r : generate(o, 1'000)) {
        REQUIRE_EACH(r.partition == sim::murmur2_partition(*r.key, 3));
    }
}

BOOST_AUTO_TEST_CASE(timestamps_are_utc_iso8601_with_milliseconds) {
    using std::chrono::sys_days;
    namespace c = std::chrono;
    BOOST_TEST(sim::format_timestamp(sim::SimTime{}) == "1970-01-01T00:00:00.000Z");
    BOOST_TEST(sim::format_timestamp(sim::SimTime(sys_days(c::year(2026) / c::November / 25)) +
                                     10h + 30min + 123ms) == "2026-11-25T10:30:00.123Z");
    BOOST_TEST(sim::format_timestamp(sim::SimTime(sys_days(c::year(2028) / c::February / 29)) +
                                     23h + 59min + 59s + 999ms) == "2028-02-29T23:59:59.999Z");
}

BOOST_AUTO_TEST_CASE(event_time_follows_scaled_wall_time_when_no_step_is_set) {
    sim::SimulatorOptions o = deterministic();
    o.event_time_step.reset();
    o.time_scale = 60.0;
    sim::EventSimulator simulator(o);
    BOOST_TEST((simulator.next(0s).event_time == o.event_time_start));
    BOOST_TEST((simulator.next(1s).event_time == o.event_time_start + 1min));
    // Elapsed time that goes backwards is ignored.
    BOOST_TEST((simulator.next(500ms).event_time == o.event_time_start + 1min));
    BOOST_TEST((simulator.next(1500ms).event_time == o.event_time_start + 90s));
}

BOOST_AUTO_TEST_CASE(inconsistent_options_are_refused) {
    sim::SimulatorOptions o = deterministic();
    o.duplicate_rate = 0.6;
    o.malformed_rate = 0.6;
    BOOST_TEST(!sim::validate(o).empty());
    BOOST_CHECK_THROW(sim::EventSimulator{o}, std::invalid_argument);
    o = deterministic();
    o.late_rate = 0.1;
    o.late_by = 0ms;
    BOOST_TEST(!sim::validate(o).empty());
    o = deterministic();
    o.type_weights = {0, 0, 0, 0};
    BOOST_TEST(!sim::validate(o).empty());
}

BOOST_AUTO_TEST_CASE(the_command_refuses_bad_usage_with_exit_64) {
    const std::vector<std::vector<std::string>> bad{
        {},
        {"--count", "10"},                                   // no target
        {"--output", "-"},                                   // no count or duration
        {"--output", "-", "--count", "x"},                   // not a number
        {"--output", "-", "--count", "1", "--key", "user"},  // unknown key mode
        {"--output", "-", "--count", "1", "--duration", "5 seconds"},
        {"--output", "-", "--count", "1", "--event-time-start", "2026-11-25 10:30"},
        {"--output", "-", "--count", "1", "--time-scale", "2", "--event-time-step", "1s"},
        {"--output", "-", "--count", "1", "--duplicate-rate", "1.5"},
        {"--output", "-", "--count", "1", "--frobnicate"},
    };
    for (const auto& args : bad) {
        std::ostringstream out;
        std::ostringstream err;
        BOOST_TEST(sim::simulate_command(args, out, err) == 64);
        BOOST_TEST(err.str().find("etld simulate: ") == 0U);
    }
    std::ostringstream out;
    std::ostringstream err;
    BOOST_TEST(sim::simulate_command({"--help"}, out, err) == 0);
    BOOST_TEST(out.str().find("--duplicate-rate") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_dry_run_writes_reproducible_key_tab_value_lines_and_their_summary) {
    const auto records = temp_path("records.tsv");
    const auto again = temp_path("again.tsv");
    const auto summary = temp_path("summary.json");
    auto args = [&](const std::filesystem::path& output) {
        return std::vector<std::string>{"--output",
                                        output.string(),
                                        "--count",
                                        "2000",
                                        "--seed",
                                        "0x2a",
                                        "--event-time-start",
                                        "2026-11-25T10:30:00.000+01:00",
                                        "--event-time-step=250ms",
                                        "--disorder",
                                        "5s",
                                        "--duplicate-rate",
                                        "0.05",
                                        "--late-rate",
                                        "0.01",
                                        "--malformed-rate",
                                        "0.02",
                                        "--summary-json",
                                        summary.string()};
    };
    std::ostringstream out;
    std::ostringstream err;
    BOOST_REQUIRE_EQUAL(sim::simulate_command(args(records), out, err), 0);
    BOOST_TEST(out.str().find("sent                2000 of 2000 records") != std::string::npos,
               out.str());
    std::ostringstream out2;
    BOOST_REQUIRE_EQUAL(sim::simulate_command(args(again), out2, err), 0);
    const std::string text = slurp(records);
    BOOST_TEST(text == slurp(again));

    // The same records as the generator yields for the same options.
    sim::SimulatorOptions o;
    o.seed = 0x2a;
    o.event_time_start =
        sim::SimTime(std::chrono::sys_days(std::chrono::year(2026) / std::chrono::November / 25)) +
        9h + 30min;
    o.event_time_step = 250ms;
    o.disorder = 5s;
    o.duplicate_rate = 0.05;
    o.late_rate = 0.01;
    o.malformed_rate = 0.02;
    std::ostringstream expected;
    for (const auto& r : generate(o, 2000)) {
        expected << r.key.value_or("") << '\t' << r.value << '\n';
    }
    BOOST_TEST(text == expected.str());

    const auto doc = parse_json(slurp(summary));
    BOOST_REQUIRE(doc && doc->type == Json::Type::object);
    BOOST_TEST(doc->get("sent")->number == 2000.0);
    BOOST_TEST(doc->get("generated")->number == 2000.0);
    BOOST_TEST(doc->get("delivery_failures")->number == 0.0);
    BOOST_TEST(doc->get("seed")->text == "42");
    const double distinct = doc->get("distinct_events")->number;
    const double duplicates = doc->get("duplicates")->number;
    const double malformed = doc->get("malformed")->get("total")->number;
    BOOST_TEST(distinct + duplicates + malformed == 2000.0);
    BOOST_TEST(duplicates > 0.0);
    BOOST_TEST(malformed > 0.0);
    std::filesystem::remove(records);
    std::filesystem::remove(again);
    std::filesystem::remove(summary);
}

BOOST_AUTO_TEST_SUITE_END()
