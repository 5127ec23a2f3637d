#include <simdjson.h>

#include <array>
#include <charconv>
#include <cmath>
#include <limits>

#include "etld/pipeline/event.h"
#include "fast_decode.h"
#include "hash.h"
#include "time_parse.h"

namespace etld::pipeline {

std::string_view name_of(RejectReason r) {
    switch (r) {
        case RejectReason::too_large:
            return "too_large";
        case RejectReason::invalid_utf8:
            return "invalid_utf8";
        case RejectReason::not_json:
            return "not_json";
        case RejectReason::not_an_object:
            return "not_an_object";
        case RejectReason::missing_field:
            return "missing_field";
        case RejectReason::wrong_type:
            return "wrong_type";
        case RejectReason::duplicate_field:
            return "duplicate_field";
        case RejectReason::empty_id:
            return "empty_id";
        case RejectReason::bad_timestamp:
            return "bad_timestamp";
        case RejectReason::timestamp_out_of_range:
            return "timestamp_out_of_range";
    }
    return "unknown";
}

void Event::reset(std::size_t fields) {
    slots_.resize(fields);
    arena_.clear();
    record_ = nullptr;
}

void Event::set_string(std::size_t i, std::string_view v) {
    slots_[i].off = static_cast<std::uint32_t>(arena_.size());
    slots_[i].len = static_cast<std::uint32_t>(v.size());
    arena_.append(v);
}

IdHash hash_id(std::string_view id_text) {
    return detail::hash128(id_text);
}

namespace {

std::string_view json_type_name(simdjson::dom::element_type t) {
    using T = simdjson::dom::element_type;
    switch (t) {
        case T::ARRAY:
            return "array";
        case T::OBJECT:
            return "object";
        case T::INT64:
        case T::UINT64:
            return "integer";
        case T::DOUBLE:
            return "number";
        case T::STRING:
            return "string";
        case T::BOOL:
            return "boolean";
        case T::NULL_VALUE:
            return "null";
    }
    return "value";
}

}  // namespace

struct Decoder::Impl {
    detail::FastDecoder fast;
    simdjson::dom::parser parser;
    std::string padded;
    // Slot 0 = id, 1 = time, 2.. = schema fields.
    std::vector<std::string_view> names;
    std::vector<simdjson::dom::element> found;
    std::vector<bool> seen;

    // Key lookup: a 64-entry table indexed by (length, first, last byte);
    // a shared entry falls back to the linear scan. Objects are small and
    // keys few, so this beats hashing the whole key.
    std::array<std::int8_t, 64> table{};

    static std::size_t bucket(std::string_view k) {
        const auto first = static_cast<unsigned char>(k.front());
        const auto last = static_cast<unsigned char>(k.back());
        return (k.size() * 7 + std::size_t{first} * 3 + last) & 63;
    }

    explicit Impl(const EventSchema& s) : fast(s) {
        names.push_back(s.id_field);
        names.push_back(s.time_field);
        for (const auto& f : s.fields) {
            names.push_back(f.name);
        }
        found.resize(names.size());
        seen.resize(names.size());
        table.fill(-1);
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (names[i].empty()) {
                continue;
            }
            std::int8_t& t = table[bucket(names[i])];
            t = t == -1 && i < 100 ? static_cast<std::int8_t>(i) : std::int8_t{-2};
        }
    }

    int slot_of(std::string_view key) const {
        if (key.empty()) {
            return -1;
        }
        const std::int8_t t = table[bucket(key)];
        if (t >= 0) {
            return names[static_cast<std::size_t>(t)] == key ? t : -1;
        }
        if (t == -1) {
            return -1;
        }
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (names[i] == key) {
                return static_cast<int>(i);
            }
        }
        return -1;
    }
};

Decoder::Decoder(EventSchema schema)
    : schema_(std::move(schema)), impl_(std::make_unique<Impl>(schema_)) {}
Decoder::~Decoder() = default;
Decoder::Decoder(Decoder&&) noexcept = default;
Decoder& Decoder::operator=(Decoder&&) noexcept = default;

namespace {

Rejection reject(RejectReason r, std::string detail) {
    return Rejection{r, std::move(detail)};
}

std::string field_msg(std::string_view field, std::string_view what) {
    std::string m = "field '";
    m.append(field);
    m.append("': ");
    m.append(what);
    return m;
}

}  // namespace

std::optional<Rejection> Decoder::decode(std::string_view record, Event& out) {
    using T = simdjson::dom::element_type;
    Impl& im = *impl_;
    if (record.size() > schema_.max_record_bytes) {
        return reject(RejectReason::too_large, "record of " + std::to_string(record.size()) +
                                                   " bytes exceeds the limit of " +
                                                   std::to_string(schema_.max_record_bytes));
    }
    // Most records are plain JSON; the fast path declines everything else,
    // and every record it would have to reject, so the rules below decide.
    if (im.fast.decode(record, out, now_)) {
        return std::nullopt;
    }
    // Checked explicitly: the DOM parser does not reject every invalid
    // sequence inside strings.
    if (!simdjson::validate_utf8(record.data(), record.size())) {
        return reject(RejectReason::invalid_utf8, "record is not valid UTF-8");
    }
    // simdjson reads up to SIMDJSON_PADDING bytes past the end of its input.
    if (im.padded.size() < record.size() + simdjson::SIMDJSON_PADDING) {
        im.padded.resize(record.size() + simdjson::SIMDJSON_PADDING);
    }
    std::memcpy(im.padded.data(), record.data(), record.size());
    simdjson::dom::element root;
    if (auto err = im.parser.parse(im.padded.data(), record.size(), false).get(root); err) {
        return reject(RejectReason::not_json,
                      std::string("not JSON: ") + simdjson::error_message(err));
    }
    if (root.type() != T::OBJECT) {
        return reject(RejectReason::not_an_object,
                      "expected a JSON object, got " + std::string(json_type_name(root.type())));
    }
    std::fill(im.seen.begin(), im.seen.end(), false);
    const simdjson::dom::object object = root.get_object().value_unsafe();
    for (auto kv : object) {
        const int slot = im.slot_of(kv.key);
        if (slot < 0) {
            continue;
        }
        if (im.seen[static_cast<std::size_t>(slot)]) {
            return reject(RejectReason::duplicate_field,
                          field_msg(kv.key, "appears more than once"));
        }
        im.seen[static_cast<std::size_t>(slot)] = true;
        im.found[static_cast<std::size_t>(slot)] = kv.value;
    }
    out.reset(schema_.fields.size());

    // Event id: a non-empty string, or an integer hashed as its decimal text.
    if (!im.seen[0]) {
        return reject(RejectReason::missing_field, field_msg(schema_.id_field, "missing"));
    }
    {
        const auto id = im.found[0];
        std::array<char, 24> buf{};
        std::string_view text;
        switch (id.type()) {
            case T::STRING:
                text = id.get_string().value_unsafe();
                if (text.empty()) {
                    return reject(RejectReason::empty_id, field_msg(schema_.id_field, "empty id"));
                }
                break;
            case T::INT64: {
                auto r = std::to_chars(buf.data(), buf.data() + buf.size(),
                                       id.get_int64().value_unsafe());
                text = std::string_view(buf.data(), static_cast<std::size_t>(r.ptr - buf.data()));
                break;
            }
            case T::UINT64: {
                auto r = std::to_chars(buf.data(), buf.data() + buf.size(),
                                       id.get_uint64().value_unsafe());
                text = std::string_view(buf.data(), static_cast<std::size_t>(r.ptr - buf.data()));
                break;
            }
            default:
                return reject(
                    RejectReason::wrong_type,
                    field_msg(schema_.id_field, "expected a string or an integer, got " +
                                                    std::string(json_type_name(id.type()))));
        }
        out.id = detail::hash128(text);
    }

    // Event time.
    if (!im.seen[1]) {
        return reject(RejectReason::missing_field, field_msg(schema_.time_field, "missing"));
    }
    {
        const auto tv = im.found[1];
        std::int64_t ms = 0;
        bool in_range = true;
        if (schema_.time_format == TimeFormat::iso8601) {
            if (tv.type() != T::STRING) {
                return reject(
                    RejectReason::wrong_type,
                    field_msg(schema_.time_field, "expected an ISO-8601 string, got " +
                                                      std::string(json_type_name(tv.type()))));
            }
            const std::string_view text = tv.get_string().value_unsafe();
            const detail::ParsedTime p = detail::parse_iso8601(text);
            if (p.status != detail::TimeParse::ok) {
                return reject(RejectReason::bad_timestamp,
                              field_msg(schema_.time_field, "cannot parse '" +
                                                                std::string(text.substr(0, 64)) +
                                                                "' as ISO-8601 date-time"));
            }
            ms = p.ms;
        } else {
            const std::int64_t scale = schema_.time_format == TimeFormat::epoch_s ? 1000 : 1;
            if (tv.type() == T::INT64) {
                const std::int64_t v = tv.get_int64().value_unsafe();
                if (v > std::numeric_limits<std::int64_t>::max() / scale ||
                    v < std::numeric_limits<std::int64_t>::min() / scale) {
                    in_range = false;
                } else {
                    ms = v * scale;
                }
            } else if (tv.type() == T::UINT64) {
                in_range = false;
            } else if (tv.type() == T::DOUBLE) {
                return reject(RejectReason::bad_timestamp,
                              field_msg(schema_.time_field, "epoch time must be an integer"));
            } else {
                return reject(
                    RejectReason::wrong_type,
                    field_msg(schema_.time_field, "expected an integer epoch time, got " +
                                                      std::string(json_type_name(tv.type()))));
            }
        }
        if (!in_range || ms < schema_.min_event_time.value || ms > schema_.max_event_time.value) {
            return reject(RejectReason::timestamp_out_of_range,
                          field_msg(schema_.time_field, "event time outside the accepted range"));
        }
        if (now_ && schema_.max_future_skew.value > 0 &&
            ms > now_->value + schema_.max_future_skew.value) {
            return reject(RejectReason::timestamp_out_of_range,
                          field_msg(schema_.time_field,
                                    "event time is further in the future than "
                                    "max_future_skew allows"));
        }
        out.time = EventTimeMs{ms};
    }

    for (std::size_t i = 0; i < schema_.fields.size(); ++i) {
        const FieldSpec& f = schema_.fields[i];
        if (!im.seen[i + 2]) {
            return reject(RejectReason::missing_field, field_msg(f.name, "missing"));
        }
        const auto v = im.found[i + 2];
        const T t = v.type();
        auto wrong = [&](std::string_view want) {
            return reject(RejectReason::wrong_type,
                          field_msg(f.name, "expected " + std::string(want) + ", got " +
                                                std::string(json_type_name(t))));
        };
        switch (f.type) {
            case FieldType::string:
                if (t != T::STRING) {
                    return wrong("a string");
                }
                out.set_string(i, v.get_string().value_unsafe());
                break;
            case FieldType::int64:
                if (t == T::INT64) {
                    out.set_int(i, v.get_int64().value_unsafe());
                } else if (t == T::UINT64) {
                    return reject(RejectReason::wrong_type,
                                  field_msg(f.name, "integer does not fit in 64 signed bits"));
                } else {
                    return wrong("an integer");
                }
                break;
            case FieldType::float64:
                if (t == T::DOUBLE) {
                    out.set_double(i, v.get_double().value_unsafe());
                } else if (t == T::INT64) {
                    out.set_double(i, static_cast<double>(v.get_int64().value_unsafe()));
                } else if (t == T::UINT64) {
                    out.set_double(i, static_cast<double>(v.get_uint64().value_unsafe()));
                } else {
                    return wrong("a number");
                }
                break;
            case FieldType::boolean:
                if (t != T::BOOL) {
                    return wrong("a boolean");
                }
                out.set_bool(i, v.get_bool().value_unsafe());
                break;
        }
    }
    return std::nullopt;
}

}  // namespace etld::pipeline
