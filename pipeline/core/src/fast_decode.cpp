#include "fast_decode.h"

#include <simdjson.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "hash.h"
#include "time_parse.h"

namespace etld::pipeline::detail {

namespace {

std::size_t bucket(std::string_view k) {
    const auto first = static_cast<unsigned char>(k.front());
    const auto last = static_cast<unsigned char>(k.back());
    return (k.size() * 7 + std::size_t{first} * 3 + last) & 63;
}

bool is_ws(char c) {
    // Most bytes are above the space: one comparison rules them out.
    return static_cast<unsigned char>(c) <= ' ' &&
           (c == ' ' || c == '\n' || c == '\r' || c == '\t');
}

// 10^0 .. 10^15: every one an exact double.
constexpr double kExactPowers[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

// The first byte in [p, end) that ends or complicates a plain string: a
// quote, a backslash, a control character or a non-ASCII byte.
const char* find_special(const char* p, const char* end) {
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        // Signed: bytes >= 0x80 are negative, so "< 0x20" also finds them.
        const __m128i hit =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                         _mm_cmplt_epi8(v, space));
        const int bits = _mm_movemask_epi8(hit);
        if (bits != 0) {
            return p + __builtin_ctz(static_cast<unsigned>(bits));
        }
        p += 16;
    }
#endif
    while (p != end) {
        const auto c = static_cast<unsigned char>(*p);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) {
            return p;
        }
        ++p;
    }
    return p;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// An integer token of at most 18 digits always fits.
std::int64_t integer_value(std::string_view t) {
    const bool neg = t.front() == '-';
    std::int64_t v = 0;
    for (std::size_t i = neg ? 1 : 0; i < t.size(); ++i) {
        v = v * 10 + (t[i] - '0');
    }
    return neg ? -v : v;
}

}  // namespace

FastDecoder::FastDecoder(const EventSchema& schema) : schema_(schema) {
    names_.push_back(schema_.id_field);
    names_.push_back(schema_.time_field);
    for (const auto& f : schema_.fields) {
        names_.push_back(f.name);
    }
    found_.resize(names_.size());
    padded_.resize(names_.size());
    quoted_.resize(names_.size());
    predictable_.resize(names_.size());
    for (std::size_t i = 0; i < names_.size(); ++i) {
        const std::string& name = names_[i];
        padded_[i].fill(0);
        std::memcpy(padded_[i].data(), name.data(), std::min<std::size_t>(16, name.size()));
        // A name of at most 15 printable ASCII bytes other than '"' and '\'
        // appears in JSON as exactly those bytes, then the closing quote.
        predictable_[i] =
            !name.empty() && name.size() <= 15 && std::all_of(name.begin(), name.end(), [](char c) {
                return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
            });
        quoted_[i].fill(0);
        if (predictable_[i]) {
            std::memcpy(quoted_[i].data(), name.data(), name.size());
            quoted_[i][name.size()] = '"';
        }
    }
    predicted_.assign(32, -1);
    seen_.resize(names_.size());
    table_.fill(-1);
    for (std::size_t i = 0; i < names_.size(); ++i) {
        if (names_[i].empty()) {
            continue;
        }
        std::int8_t& t = table_[bucket(names_[i])];
        t = t == -1 && i < 100 ? static_cast<std::int8_t>(i) : std::int8_t{-2};
    }
}

int FastDecoder::slot_of(std::string_view key, const char* end) const {
    if (key.empty()) {
        return -1;
    }
    const std::int8_t t = table_[bucket(key)];
    if (t >= 0) {
        const auto i = static_cast<std::size_t>(t);
        if (names_[i].size() != key.size()) {
            return -1;
        }
#ifdef __SSE2__
        // Short keys with 16 readable bytes (the rest of the record follows
        // them): one vector comparison instead of a call to memcmp.
        if (key.size() <= 16 && end - key.data() >= 16) {
            const __m128i k = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key.data()));
            const __m128i n = _mm_loadu_si128(reinterpret_cast<const __m128i*>(padded_[i].data()));
            const auto eq = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(k, n)));
            const unsigned need = (1U << key.size()) - 1;
            return (eq & need) == need ? t : -1;
        }
#endif
        return names_[i] == key ? t : -1;
    }
    if (t == -1) {
        return -1;
    }
    for (std::size_t i = 0; i < names_.size(); ++i) {
        if (names_[i] == key) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

bool FastDecoder::decode(std::string_view record, Event& out, std::optional<ProcessingTimeMs> now) {
    const char* p = record.data();
    const char* const end = p + record.size();
    bool non_ascii = false;
    auto skip_ws = [&] {
        while (p != end && is_ws(*p)) {
            ++p;
        }
    };
    // Scans a string whose opening quote is at p; false for escapes and
    // control characters (left to the full decoder).
    auto scan_string = [&](std::string_view& s) {
        const char* const start = p + 1;
        const char* q = start;
        while (true) {
            q = find_special(q, end);
            if (q == end) {
                return false;
            }
            const auto c = static_cast<unsigned char>(*q);
            if (c == '"') {
                s = std::string_view(start, static_cast<std::size_t>(q - start));
                p = q + 1;
                return true;
            }
            if (c == '\\' || c < 0x20) {
                return false;
            }
            non_ascii = true;
            ++q;
        }
    };
    auto literal = [&](std::string_view word) {
        if (static_cast<std::size_t>(end - p) < word.size() ||
            std::string_view(p, word.size()) != word) {
            return false;
        }
        p += word.size();
        return true;
    };
    auto scan_value = [&](Token& tok) {
        if (p == end) {
            return false;
        }
        switch (*p) {
            case '"':
                tok.kind = Kind::string;
                return scan_string(tok.text);
            case 't':
                tok.kind = Kind::true_lit;
                return literal("true");
            case 'f':
                tok.kind = Kind::false_lit;
                return literal("false");
            case 'n':
                tok.kind = Kind::null_lit;
                return literal("null");
            default:
                break;
        }
        const char* const start = p;
        if (*p == '-') {
            ++p;
        }
        if (p == end) {
            return false;
        }
        // The digits, integer and fraction parts together, while they fit
        // in 19 decimal digits (`mantissa_digits` counts them all).
        std::uint64_t mantissa = 0;
        std::size_t mantissa_digits = 0;
        auto digit = [&] {
            if (mantissa_digits < 19) {
                mantissa = mantissa * 10 + static_cast<std::uint64_t>(*p - '0');
            }
            ++mantissa_digits;
            ++p;
        };
        std::size_t digits = 0;
        if (*p == '0') {
            ++p;
            digits = 1;
        } else if (*p >= '1' && *p <= '9') {
            while (p != end && is_digit(*p)) {
                digit();
                ++digits;
            }
        } else {
            return false;
        }
        bool fraction_or_exponent = false;
        std::size_t fraction_digits = 0;
        if (p != end && *p == '.') {
            ++p;
            if (p == end || !is_digit(*p)) {
                return false;
            }
            while (p != end && is_digit(*p)) {
                digit();
                ++fraction_digits;
            }
            fraction_or_exponent = true;
        }
        bool exponent = false;
        if (p != end && (*p == 'e' || *p == 'E')) {
            ++p;
            if (p != end && (*p == '+' || *p == '-')) {
                ++p;
            }
            if (p == end || !is_digit(*p)) {
                return false;
            }
            while (p != end && is_digit(*p)) {
                ++p;
            }
            fraction_or_exponent = true;
            exponent = true;
        }
        tok.text = std::string_view(start, static_cast<std::size_t>(p - start));
        if (!fraction_or_exponent) {
            // Longer integers may not fit in int64; "-0" is left to the full
            // decoder, which has its own view of it.
            tok.kind = Kind::integer;
            return digits <= 18 && tok.text != "-0";
        }
        tok.kind = Kind::number;
        if (!exponent && mantissa_digits <= 15) {
            // Exact: a mantissa below 10^15 < 2^53 and 10^fraction_digits
            // (fraction_digits <= mantissa_digits) are both exact doubles,
            // and one IEEE division rounds correctly, so this is the double
            // from_chars would give.
            const double v = static_cast<double>(mantissa) / kExactPowers[fraction_digits];
            tok.number = *start == '-' ? -v : v;
            return true;
        }
        const auto r =
            std::from_chars(tok.text.data(), tok.text.data() + tok.text.size(), tok.number);
        return r.ec == std::errc() && r.ptr == p && std::isfinite(tok.number);
    };

    std::fill(seen_.begin(), seen_.end(), 0);
    skip_ws();
    if (p == end || *p != '{') {
        return false;
    }
    ++p;
    skip_ws();
    if (p == end || *p != '"') {
        return false;  // not a plain object with members
    }
    for (std::size_t member = 0;; ++member) {
        if (p == end || *p != '"') {
            return false;
        }
        // Producers write their fields in the same order record after
        // record: try the key that came at this position last time, as one
        // vector comparison of the name and its closing quote.
        int slot = -1;
        const int predicted = member < predicted_.size() ? predicted_[member] : -1;
        bool known = false;
#ifdef __SSE2__
        if (predicted >= 0 && end - (p + 1) >= 16) {
            const auto i = static_cast<std::size_t>(predicted);
            const __m128i k = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 1));
            const __m128i n = _mm_loadu_si128(reinterpret_cast<const __m128i*>(quoted_[i].data()));
            const auto eq = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(k, n)));
            const unsigned need = (1U << (names_[i].size() + 1)) - 1;
            if ((eq & need) == need) {
                slot = predicted;
                p += names_[i].size() + 2;
                known = true;
            }
        }
#endif
        if (!known) {
            std::string_view key;
            if (!scan_string(key)) {
                return false;
            }
            slot = slot_of(key, end);
            if (member < predicted_.size()) {
                predicted_[member] =
                    slot >= 0 && predictable_[static_cast<std::size_t>(slot)] ? slot : -1;
            }
        }
        skip_ws();
        if (p == end || *p != ':') {
            return false;
        }
        ++p;
        skip_ws();
        Token tok;
        if (!scan_value(tok)) {
            return false;
        }
        if (slot >= 0) {
            const auto s = static_cast<std::size_t>(slot);
            if (seen_[s] != 0) {
                return false;
            }
            seen_[s] = 1;
            found_[s] = tok;
        }
        skip_ws();
        if (p == end) {
            return false;
        }
        if (*p == ',') {
            ++p;
            skip_ws();
            continue;
        }
        if (*p != '}') {
            return false;
        }
        ++p;
        break;
    }
    skip_ws();
    if (p != end) {
        return false;
    }
    if (non_ascii && !simdjson::validate_utf8(record.data(), record.size())) {
        return false;
    }
    for (std::uint8_t s : seen_) {
        if (s == 0) {
            return false;
        }
    }

    out.reset(schema_.fields.size());
    const Token& id = found_[0];
    if ((id.kind != Kind::string && id.kind != Kind::integer) || id.text.empty()) {
        return false;
    }
    // An integer id is hashed as its decimal text: a plain JSON integer's
    // text is exactly that.
    out.id = hash128(id.text);

    const Token& tv = found_[1];
    std::int64_t ms = 0;
    if (schema_.time_format == TimeFormat::iso8601) {
        if (tv.kind != Kind::string) {
            return false;
        }
        const ParsedTime t = parse_iso8601(tv.text);
        if (t.status != TimeParse::ok) {
            return false;
        }
        ms = t.ms;
    } else {
        if (tv.kind != Kind::integer) {
            return false;
        }
        const std::int64_t scale = schema_.time_format == TimeFormat::epoch_s ? 1000 : 1;
        const std::int64_t v = integer_value(tv.text);
        if (v > std::numeric_limits<std::int64_t>::max() / scale ||
            v < std::numeric_limits<std::int64_t>::min() / scale) {
            return false;
        }
        ms = v * scale;
    }
    if (ms < schema_.min_event_time.value || ms > schema_.max_event_time.value) {
        return false;
    }
    if (now && schema_.max_future_skew.value > 0 &&
        ms > now->value + schema_.max_future_skew.value) {
        return false;
    }
    out.time = EventTimeMs{ms};

    for (std::size_t i = 0; i < schema_.fields.size(); ++i) {
        const Token& v = found_[i + 2];
        switch (schema_.fields[i].type) {
            case FieldType::string:
                if (v.kind != Kind::string) {
                    return false;
                }
                out.set_string_in(i, record, v.text);
                break;
            case FieldType::int64:
                if (v.kind != Kind::integer) {
                    return false;
                }
                out.set_int(i, integer_value(v.text));
                break;
            case FieldType::float64:
                if (v.kind == Kind::integer) {
                    out.set_double(i, static_cast<double>(integer_value(v.text)));
                } else if (v.kind == Kind::number) {
                    out.set_double(i, v.number);
                } else {
                    return false;
                }
                break;
            case FieldType::boolean:
                if (v.kind != Kind::true_lit && v.kind != Kind::false_lit) {
                    return false;
                }
                out.set_bool(i, v.kind == Kind::true_lit);
                break;
        }
    }
    return true;
}

}  // namespace etld::pipeline::detail
