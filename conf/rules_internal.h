// Pure checks behind the loader's rules; no TOML here. Internal to conf/ and its tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace etld::conf::detail {

/// `s` in double quotes / single quotes, for messages.
std::string quoted(std::string_view s);
std::string single_quoted(std::string_view s);

/// Optimal-string-alignment distance: insertions, deletions, substitutions and transpositions
/// of adjacent characters each cost 1.
std::size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate closest to `word` when it is close enough to be a plausible typo (at most one
/// edit per three characters, at most three; the first one wins a tie), else the first candidate
/// that `word` (three characters or more) abbreviates.
std::optional<std::string_view> closest_match(std::string_view word,
                                              std::span<const std::string_view> candidates);

/// Each returns why `text` is not acceptable, or nothing when it is. The reasons read well after
/// `"<text>" is not a valid ...: `.

/// Kafka's rules: 1..249 characters from [a-zA-Z0-9._-], not "." or "..".
std::optional<std::string> topic_name_problem(std::string_view text);
/// Pipeline and aggregate names, which also name SQLite tables and columns: [a-z][a-z0-9_]*,
/// at most 63 characters.
std::optional<std::string> name_problem(std::string_view text);
/// Schema field names, which expressions refer to: [A-Za-z_][A-Za-z0-9_]*, at most 128
/// characters, and not a word of the expression language (and, or, not, in, true, false).
std::optional<std::string> field_name_problem(std::string_view text);
/// librdkafka property names: [a-z][a-z0-9._]*.
std::optional<std::string> property_name_problem(std::string_view text);
/// Environment variable names: [A-Za-z_][A-Za-z0-9_]*.
std::optional<std::string> env_name_problem(std::string_view text);

/// How etld treats a librdkafka property in [kafka.consumer] / [kafka.producer]: the message to
/// give when the property may not be set there, or nothing when it may.
std::optional<std::string> reserved_property_problem(std::string_view property);

/// True for properties whose value is a credential (passwords, client secrets, private keys):
/// they belong in [kafka.secrets].
bool is_secret_property(std::string_view property);

/// Splits "host:port" (host may be "[v6]"); port 0..65535. Returns the problem on failure.
struct HostPort {
    std::string host;
    std::uint16_t port = 0;
};
std::optional<std::string> split_host_port(std::string_view text, HostPort& out);

}  // namespace etld::conf::detail
