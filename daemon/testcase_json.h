// A small JSON reader for the lines of `etld test` case files. Unlike the
// engine's decoder it keeps what a person needs in an error message and in a
// test: the column of every value and key, the exact source span of every
// value (an event written as an object is handed to the decoder as those
// bytes), and number literals as written.
//
// Limits: one document per call, nesting at most 64 deep, duplicate keys are
// an error (a case file should mean one thing). Columns count bytes from 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace etld::daemon::testcase {

struct JsonMember;

struct Json {
    enum class Kind : std::uint8_t { null, boolean, number, string, array, object };

    Kind kind = Kind::null;
    bool boolean = false;
    double number = 0;
    // Set for a number literal without fraction or exponent that fits int64.
    std::optional<std::int64_t> integer;
    std::string text;  // a string's value (unescaped); a number's literal
    std::vector<Json> items;
    std::vector<JsonMember> members;  // in source order

    std::uint32_t column = 0;  // 1-based, of the value's first byte
    std::size_t begin = 0;     // byte span of the value in its line
    std::size_t end = 0;

    bool is(Kind k) const { return kind == k; }
    // The member named `key`, or nullptr.
    const Json* find(std::string_view key) const;

    static Json make_null();
    static Json make_bool(bool b);
    static Json make_int(std::int64_t v);
    static Json make_double(double v);
    static Json make_string(std::string s);
};

struct JsonMember {
    std::string key;
    std::uint32_t key_column = 0;
    Json value;
};

struct JsonError {
    std::uint32_t column = 0;
    std::string message;
};

// Parses `line` as exactly one JSON value (surrounding whitespace allowed).
std::variant<Json, JsonError> parse_json(std::string_view line);

// `s` as a JSON string literal, quotes included.
std::string quote_json(std::string_view s);

// Compact JSON text of a value; doubles in shortest round-trip form.
std::string to_json(const Json& value);

}  // namespace etld::daemon::testcase
