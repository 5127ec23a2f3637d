#include "daemon/simulator.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <utility>

namespace etld::daemon {

namespace {

constexpr std::array<std::string_view, kEventTypeCount> kEventTypeNames{
    "view", "add_to_cart", "purchase", "remove_from_cart"};
constexpr std::array<std::string_view, 5> kProducts{"laptop", "mouse", "keyboard", "monitor",
                                                    "headphones"};
constexpr std::uint64_t kUsers = 100;
// Prices are drawn as whole cents so that "2 decimals" is exact, not a
// rounding of a binary double.
constexpr std::uint64_t kMinPriceCents = 1'000;
constexpr std::uint64_t kMaxPriceCents = 200'000;
constexpr std::uint64_t kMaxQuantity = 4;
constexpr std::size_t kFieldCount = 7;
// Distinct constants keep the content and partition streams independent even
// though both derive from the one user-visible seed.
constexpr std::uint64_t kContentStream = 0x636f6e74656e7421ULL;
constexpr std::uint64_t kPartitionStream = 0x706172746974696fULL;

std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31U);
}

std::uint64_t rotl(std::uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

// The seven fields of one event before rendering; malformed records are made
// by rendering a valid one with one field dropped or replaced.
struct EventFields {
    std::string id;
    std::string timestamp;
    std::uint64_t user = 1;
    EventType type = EventType::view;
    std::size_t product = 0;
    std::uint64_t price_cents = kMinPriceCents;
    std::uint64_t quantity = 1;
};

constexpr std::array<std::string_view, kFieldCount> kFieldNames{
    "event_id", "timestamp", "user_id", "event_type", "product", "price", "quantity"};
constexpr std::size_t kTimestampField = 1;
constexpr std::size_t kPriceField = 5;
constexpr std::size_t kQuantityField = 6;

std::string user_name(std::uint64_t user) {
    return "user_" + std::to_string(user);
}

// The renderers append into one buffer: the generator feeds load tests, and
// a temporary string per field would cost more than the random draws.
void append_quoted(std::string& out, std::string_view s) {
    out.push_back('"');
    out.append(s);
    out.push_back('"');
}

void append_unsigned(std::string& out, std::uint64_t n, int min_digits = 1) {
    std::array<char, 20> digits{};
    int count = 0;
    do {
        digits.at(static_cast<std::size_t>(count++)) = static_cast<char>('0' + n % 10);
        n /= 10;
    } while (n != 0 || count < min_digits);
    while (count > 0) {
        out.push_back(digits.at(static_cast<std::size_t>(--count)));
    }
}

void append_field(std::string& out, const EventFields& e, std::size_t field) {
    switch (field) {
        case 0:
            append_quoted(out, e.id);
            break;
        case 1:
            append_quoted(out, e.timestamp);
            break;
        case 2:
            out.append("\"user_");
            append_unsigned(out, e.user);
            out.push_back('"');
            break;
        case 3:
            append_quoted(out, to_string(e.type));
            break;
        case 4:
            append_quoted(out, kProducts.at(e.product));
            break;
        case kPriceField:
            append_unsigned(out, e.price_cents / 100);
            out.push_back('.');
            append_unsigned(out, e.price_cents % 100, 2);
            break;
        default:
            append_unsigned(out, e.quantity);
            break;
    }
}

std::string field_json(const EventFields& e, std::size_t field) {
    std::string out;
    append_field(out, e, field);
    return out;
}

// Renders the event as one compact JSON object in the seed's field order.
// `omit` drops a field; `replace` substitutes raw JSON text for one field.
std::string render(
    const EventFields& e, std::optional<std::size_t> omit = std::nullopt,
    const std::optional<std::pair<std::size_t, std::string>>& replace = std::nullopt) {
    std::string out;
    out.reserve(192);
    out.push_back('{');
    bool first = true;
    for (std::size_t i = 0; i < kFieldCount; ++i) {
        if (omit == i) {
            continue;
        }
        if (!first) {
            out.push_back(',');
        }
        first = false;
        append_quoted(out, kFieldNames.at(i));
        out.push_back(':');
        if (replace && replace->first == i) {
            out.append(replace->second);
        } else {
            append_field(out, e, i);
        }
    }
    out.push_back('}');
    return out;
}

// Civil date of a day count since 1970-01-01 in the proleptic Gregorian
// calendar (the era-based method: 400-year eras of 146097 days), in plain
// integers because the <chrono> calendar types are slow in unoptimised builds.
struct CivilDate {
    std::int64_t year;
    unsigned month;
    unsigned day;
};

CivilDate civil_from_days(std::int64_t days) {
    days += 719468;  // shift the epoch to 0000-03-01
    const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const auto day_of_era = static_cast<std::uint64_t>(days - era * 146097);
    const std::uint64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    const std::uint64_t day_of_year =
        day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    const std::uint64_t shifted_month = (5 * day_of_year + 2) / 153;  // March = 0
    const auto day = static_cast<unsigned>(day_of_year - (153 * shifted_month + 2) / 5 + 1);
    const auto month =
        static_cast<unsigned>(shifted_month < 10 ? shifted_month + 3 : shifted_month - 9);
    const std::int64_t year =
        static_cast<std::int64_t>(year_of_era) + era * 400 + (month <= 2 ? 1 : 0);
    return {year, month, day};
}

}  // namespace

std::string_view to_string(EventType type) {
    return kEventTypeNames.at(static_cast<std::size_t>(type));
}

std::string_view to_string(KeyMode mode) {
    switch (mode) {
        case KeyMode::user_id:
            return "user_id";
        case KeyMode::event_id:
            return "event_id";
        case KeyMode::none:
            return "none";
    }
    return "?";
}

std::string_view to_string(RecordKind kind) {
    switch (kind) {
        case RecordKind::normal:
            return "normal";
        case RecordKind::duplicate:
            return "duplicate";
        case RecordKind::late:
            return "late";
        case RecordKind::malformed:
            return "malformed";
    }
    return "?";
}

std::string_view to_string(MalformedKind kind) {
    switch (kind) {
        case MalformedKind::broken_json:
            return "broken_json";
        case MalformedKind::missing_field:
            return "missing_field";
        case MalformedKind::wrong_type:
            return "wrong_type";
        case MalformedKind::bad_timestamp:
            return "bad_timestamp";
    }
    return "?";
}

std::optional<KeyMode> parse_key_mode(std::string_view text) {
    for (KeyMode mode : {KeyMode::user_id, KeyMode::event_id, KeyMode::none}) {
        if (text == to_string(mode)) {
            return mode;
        }
    }
    return std::nullopt;
}

std::optional<EventType> parse_event_type(std::string_view text) {
    for (std::size_t i = 0; i < kEventTypeCount; ++i) {
        if (text == kEventTypeNames.at(i)) {
            return static_cast<EventType>(i);
        }
    }
    return std::nullopt;
}

std::uint64_t SimulatorTally::malformed_total() const noexcept {
    std::uint64_t total = 0;
    for (std::uint64_t n : malformed) {
        total += n;
    }
    return total;
}

std::string validate(const SimulatorOptions& o) {
    auto is_fraction = [](double x) { return std::isfinite(x) && x >= 0.0 && x <= 1.0; };
    if (!is_fraction(o.duplicate_rate)) {
        return "--duplicate-rate must be between 0 and 1";
    }
    if (!is_fraction(o.late_rate)) {
        return "--late-rate must be between 0 and 1";
    }
    if (!is_fraction(o.malformed_rate)) {
        return "--malformed-rate must be between 0 and 1";
    }
    if (!is_fraction(o.duplicate_other_partition)) {
        return "--duplicate-other-partition must be between 0 and 1";
    }
    if (o.duplicate_rate + o.late_rate + o.malformed_rate > 1.0) {
        return "--duplicate-rate, --late-rate and --malformed-rate add up to more than 1";
    }
    if (!o.event_time_step && !(std::isfinite(o.time_scale) && o.time_scale > 0.0)) {
        return "--time-scale must be a positive number";
    }
    if (o.event_time_step && o.event_time_step->count() < 0) {
        return "--event-time-step cannot be negative";
    }
    if (o.disorder.count() < 0) {
        return "--disorder cannot be negative";
    }
    if (o.late_rate > 0.0 && o.late_by.count() <= 0) {
        return "--late-by must be positive when --late-rate is set";
    }
    if (o.partitions < 0) {
        return "partition count cannot be negative";
    }
    double weights = 0.0;
    for (double w : o.type_weights) {
        if (!std::isfinite(w) || w < 0.0) {
            return "--mix weights must be non-negative numbers";
        }
        weights += w;
    }
    if (weights <= 0.0) {
        return "--mix needs at least one positive weight";
    }
    return {};
}

EventSimulator::Random::Random(std::uint64_t seed) {
    for (std::uint64_t& word : state_) {
        word = splitmix64(seed);
    }
}

std::uint64_t EventSimulator::Random::next_u64() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17U;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
}

std::uint64_t EventSimulator::Random::below(std::uint64_t bound) {
    // Rejecting the few values below 2^64 mod bound leaves a range that is an
    // exact multiple of bound.
    const std::uint64_t threshold = (0 - bound) % bound;
    for (;;) {
        const std::uint64_t r = next_u64();
        if (r >= threshold) {
            return r % bound;
        }
    }
}

double EventSimulator::Random::unit() {
    return static_cast<double>(next_u64() >> 11U) * 0x1.0p-53;
}

EventSimulator::EventSimulator(SimulatorOptions options)
    : options_(options),
      content_random_(options_.seed ^ kContentStream),
      partition_random_(options_.seed ^ kPartitionStream) {
    if (std::string problem = validate(options_); !problem.empty()) {
        throw std::invalid_argument(problem);
    }
    double total = 0.0;
    for (double w : options_.type_weights) {
        total += w;
    }
    double running = 0.0;
    for (std::size_t i = 0; i < kEventTypeCount; ++i) {
        running += options_.type_weights.at(i) / total;
        type_cumulative_.at(i) = running;
    }
}

SimTime EventSimulator::stream_time(std::chrono::nanoseconds elapsed) {
    if (options_.event_time_step) {
        return options_.event_time_start +
               *options_.event_time_step * static_cast<std::int64_t>(sequence_);
    }
    if (elapsed > last_elapsed_) {
        last_elapsed_ = elapsed;
    }
    const double scaled_ms =
        static_cast<double>(last_elapsed_.count()) * options_.time_scale / 1'000'000.0;
    return options_.event_time_start +
           std::chrono::milliseconds(static_cast<std::int64_t>(std::floor(scaled_ms)));
}

std::optional<int> EventSimulator::partition_for(const std::optional<std::string>& key) {
    if (options_.partitions <= 0) {
        return std::nullopt;
    }
    if (key) {
        return murmur2_partition(*key, options_.partitions);
    }
    return static_cast<int>(
        partition_random_.below(static_cast<std::uint64_t>(options_.partitions)));
}

void EventSimulator::note_event_time(SimTime t) {
    if (!tally_.min_event_time || t < *tally_.min_event_time) {
        tally_.min_event_time = t;
    }
    if (!tally_.max_event_time || t > *tally_.max_event_time) {
        tally_.max_event_time = t;
    }
}

SimulatedRecord EventSimulator::fresh_event(SimTime event_time, RecordKind kind) {
    EventFields e;
    e.user = content_random_.below(kUsers) + 1;
    const double u = content_random_.unit();
    e.type = EventType::remove_from_cart;
    for (std::size_t i = 0; i < kEventTypeCount; ++i) {
        if (u < type_cumulative_.at(i)) {
            e.type = static_cast<EventType>(i);
            break;
        }
    }
    e.product = static_cast<std::size_t>(content_random_.below(kProducts.size()));
    e.price_cents = kMinPriceCents + content_random_.below(kMaxPriceCents - kMinPriceCents + 1);
    e.quantity = content_random_.below(kMaxQuantity) + 1;
    e.id = event_id(options_.seed, next_id_++);
    e.timestamp = format_timestamp(event_time);

    SimulatedRecord r;
    r.sequence = sequence_;
    r.kind = kind;
    switch (options_.key) {
        case KeyMode::user_id:
            r.key = user_name(e.user);
            break;
        case KeyMode::event_id:
            r.key = e.id;
            break;
        case KeyMode::none:
            break;
    }
    r.partition = partition_for(r.key);

    if (kind == RecordKind::malformed) {
        const auto mk = static_cast<MalformedKind>(content_random_.below(kMalformedKindCount));
        r.malformed = mk;
        switch (mk) {
            case MalformedKind::broken_json: {
                // Any proper prefix of an object lacks its closing brace.
                const std::string whole = render(e);
                r.value = whole.substr(0, 1 + content_random_.below(whole.size() - 1));
                break;
            }
            case MalformedKind::missing_field:
                r.value = render(e, content_random_.below(kFieldCount));
                break;
            case MalformedKind::wrong_type: {
                // Replacements no lenient decoder could coerce: a number could
                // pass as an epoch timestamp or a numeric id, a numeric string
                // as a price, so strings become booleans or arrays and numbers
                // become words.
                const std::size_t field = content_random_.below(kFieldCount);
                const bool alternative = content_random_.below(2) == 1;
                std::string text;
                if (field == kPriceField) {
                    text = alternative ? "\"free\"" : "true";
                } else if (field == kQuantityField) {
                    text = alternative ? "\"two\"" : "[2]";
                } else {
                    text = alternative ? "true" : "[" + field_json(e, field) + "]";
                }
                r.value = render(e, std::nullopt, std::pair{field, std::move(text)});
                break;
            }
            case MalformedKind::bad_timestamp: {
                // Out-of-range components of the real timestamp, or no date at
                // all; nothing here is valid ISO-8601 (24:00 and second 60 are,
                // so they are not used).
                std::string ts = e.timestamp;
                switch (content_random_.below(6)) {
                    case 0:
                        ts.replace(5, 2, "13");
                        break;
                    case 1:
                        ts.replace(8, 2, "32");
                        break;
                    case 2:
                        ts.replace(11, 2, "25");
                        break;
                    case 3:
                        ts.replace(14, 2, "61");
                        break;
                    case 4:
                        ts = "not-a-timestamp";
                        break;
                    default:
                        ts.clear();
                        break;
                }
                r.value = render(e, std::nullopt, std::pair{kTimestampField, '"' + ts + '"'});
                break;
            }
        }
        ++tally_.malformed.at(static_cast<std::size_t>(mk));
        return r;
    }

    r.value = render(e);
    r.event_time = event_time;
    r.event_type = e.type;
    ++tally_.distinct;
    ++tally_.distinct_by_type.at(static_cast<std::size_t>(e.type));
    if (kind == RecordKind::late) {
        ++tally_.late;
    } else if (!max_fresh_time_ || event_time > *max_fresh_time_) {
        max_fresh_time_ = event_time;
    }
    note_event_time(event_time);

    Remembered& slot = recent_.at(recent_next_);
    slot.sequence = r.sequence;
    slot.key = r.key;
    slot.value = r.value;
    slot.partition = r.partition;
    slot.event_time = event_time;
    slot.event_type = e.type;
    recent_next_ = (recent_next_ + 1) % kDuplicateWindow;
    if (recent_count_ < kDuplicateWindow) {
        ++recent_count_;
    }
    return r;
}

SimulatedRecord EventSimulator::duplicate_record() {
    const Remembered& original = recent_.at(content_random_.below(recent_count_));
    SimulatedRecord r;
    r.sequence = sequence_;
    r.kind = RecordKind::duplicate;
    r.key = original.key;
    r.value = original.value;
    r.partition = original.partition;
    r.original_sequence = original.sequence;
    r.event_time = original.event_time;
    r.event_type = original.event_type;
    const int n = options_.partitions;
    if (n >= 2 && original.partition &&
        partition_random_.unit() < options_.duplicate_other_partition) {
        const auto shift = 1 + partition_random_.below(static_cast<std::uint64_t>(n - 1));
        r.partition = static_cast<int>((static_cast<std::uint64_t>(*original.partition) + shift) %
                                       static_cast<std::uint64_t>(n));
        r.other_partition = true;
        ++tally_.duplicates_other_partition;
    }
    ++tally_.duplicates;
    return r;
}

SimulatedRecord EventSimulator::next(std::chrono::nanoseconds elapsed) {
    const SimTime now = stream_time(elapsed);
    const double u = content_random_.unit();
    const double malformed_limit = options_.malformed_rate;
    const double duplicate_limit = malformed_limit + options_.duplicate_rate;
    const double late_limit = duplicate_limit + options_.late_rate;
    auto jitter = [&] {
        return std::chrono::milliseconds(static_cast<std::int64_t>(
            content_random_.below(static_cast<std::uint64_t>(options_.disorder.count()) + 1)));
    };

    SimulatedRecord r;
    if (u < malformed_limit) {
        r = fresh_event(now - jitter(), RecordKind::malformed);
    } else if (u < duplicate_limit && recent_count_ > 0) {
        r = duplicate_record();
    } else if (u >= duplicate_limit && u < late_limit) {
        // Measured from the highest event time so far, which is what a
        // watermark follows, so the event is at least late_by behind it.
        const SimTime head = max_fresh_time_.value_or(now);
        r = fresh_event(head - options_.late_by - jitter(), RecordKind::late);
    } else {
        r = fresh_event(now - jitter(), RecordKind::normal);
    }
    ++sequence_;
    ++tally_.records;
    return r;
}

std::string format_timestamp(SimTime t) {
    constexpr std::int64_t kDayMs = 86'400'000;
    const std::int64_t ms = t.time_since_epoch().count();
    const std::int64_t days = (ms >= 0 ? ms : ms - (kDayMs - 1)) / kDayMs;
    const auto of_day = static_cast<std::uint64_t>(ms - days * kDayMs);
    const CivilDate date = civil_from_days(days);
    std::string out;
    out.reserve(24);
    append_unsigned(out, static_cast<std::uint64_t>(std::max<std::int64_t>(date.year, 0)), 4);
    out.push_back('-');
    append_unsigned(out, date.month, 2);
    out.push_back('-');
    append_unsigned(out, date.day, 2);
    out.push_back('T');
    append_unsigned(out, of_day / 3'600'000, 2);
    out.push_back(':');
    append_unsigned(out, of_day / 60'000 % 60, 2);
    out.push_back(':');
    append_unsigned(out, of_day / 1'000 % 60, 2);
    out.push_back('.');
    append_unsigned(out, of_day % 1'000, 3);
    out.push_back('Z');
    return out;
}

std::string event_id(std::uint64_t seed, std::uint64_t n) {
    std::array<char, 48> buf{};
    std::snprintf(buf.data(), buf.size(), "%016llx-%012llu", static_cast<unsigned long long>(seed),
                  static_cast<unsigned long long>(n));
    return buf.data();
}

int murmur2_partition(std::string_view key, int partitions) {
    constexpr std::uint32_t kM = 0x5bd1e995U;
    constexpr std::uint32_t kSeed = 0x9747b28cU;
    const auto length = static_cast<std::uint32_t>(key.size());
    std::uint32_t h = kSeed ^ length;
    auto byte = [&](std::size_t i) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(key[i]));
    };
    const std::size_t blocks = key.size() / 4;
    for (std::size_t b = 0; b < blocks; ++b) {
        const std::size_t i = b * 4;
        std::uint32_t k =
            byte(i) | (byte(i + 1) << 8U) | (byte(i + 2) << 16U) | (byte(i + 3) << 24U);
        k *= kM;
        k ^= k >> 24U;
        k *= kM;
        h *= kM;
        h ^= k;
    }
    const std::size_t tail = blocks * 4;
    switch (key.size() % 4) {
        case 3:
            h ^= byte(tail + 2) << 16U;
            [[fallthrough]];
        case 2:
            h ^= byte(tail + 1) << 8U;
            [[fallthrough]];
        case 1:
            h ^= byte(tail);
            h *= kM;
            break;
        default:
            break;
    }
    h ^= h >> 13U;
    h *= kM;
    h ^= h >> 15U;
    return static_cast<int>((h & 0x7fffffffU) % static_cast<std::uint32_t>(partitions));
}

}  // namespace etld::daemon
