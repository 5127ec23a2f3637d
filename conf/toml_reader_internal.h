// Typed, position-aware access to a toml++ table for the loader. Internal to conf/: this is the
// only header that includes toml++, and only conf's .cpp files include it.
//
// A TableReader reports every problem it finds to a shared Diagnostics and keeps going; getters
// return nothing when a key is absent or wrong, so the caller just skips that value.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "conf/load.h"

namespace etld::conf::detail {

SourcePos to_pos(const toml::source_position& p);
/// "string", "integer", "float", "boolean", "table", "array", "date", "time", "date-time".
std::string_view type_name(const toml::node& node);

/// Collects errors for one file.
class Diagnostics {
  public:
    explicit Diagnostics(std::string file) : file_(std::move(file)) {}

    void error(SourcePos pos, std::string message);
    bool empty() const noexcept { return errors_.empty(); }
    /// Ordered by position; errors at the same position keep the order they were found in.
    std::vector<ConfigError> take();

  private:
    std::string file_;
    std::vector<ConfigError> errors_;
};

/// The raw text, to see how a string value was quoted: toml++ gives the position of the opening
/// quote, while expression offsets count from the first character inside the quotes.
class SourceText {
  public:
    explicit SourceText(std::string_view text);
    /// Position of the first character of a string value's contents.
    SourcePos string_contents(const toml::node& node) const;

  private:
    std::string_view text_;
    std::vector<std::size_t> line_starts_;
};

template <typename E>
struct Choice {
    std::string_view spelling;
    E value;
};

class TableReader {
  public:
    /// `path` is the dotted name used in messages ("kafka", "pipeline.aggregate"); `label` is how
    /// the table is named in "unknown key ... in <label>" ("[kafka]", "[[pipeline]]"), empty for
    /// the root. `known` lists every key the table may hold.
    TableReader(Diagnostics& diag, const SourceText& source, const toml::table& table,
                std::string path, std::string label, std::initializer_list<std::string_view> known);

    const toml::table& table() const noexcept { return *table_; }
    SourcePos header() const;
    bool has(std::string_view key) const { return table_->contains(key); }
    const toml::node* node(std::string_view key) const { return table_->get(key); }
    /// Position of the key itself (for unknown or not-allowed keys).
    SourcePos key_pos(std::string_view key) const;
    /// Position of the key's value.
    SourcePos value_pos(std::string_view key) const;
    std::string key_path(std::string_view key) const;
    /// "in [kafka]", or "at the top level".
    std::string where() const;

    void error(SourcePos pos, std::string message) const;
    /// "<path>.<key>: <message>" at the value's position.
    void value_error(std::string_view key, const std::string& message) const;
    /// "<path>.<key>: <message>" at the first character of a string value's contents.
    void string_error(std::string_view key, const Located<std::string>& value,
                      const std::string& message) const;
    /// "missing required key '<key>' in <label><why>" at the table header.
    void missing(std::string_view key, std::string_view why = {}) const;
    /// Reports the key missing unless present; returns whether it is present.
    bool require(std::string_view key, std::string_view why = {}) const;

    // Each getter returns nothing when the key is absent or its value is wrong (reported).
    std::optional<Located<std::string>> string(std::string_view key) const;
    /// A string that must not be empty or only white space.
    std::optional<Located<std::string>> text(std::string_view key) const;
    std::optional<std::int64_t> integer(std::string_view key, std::int64_t min,
                                        std::int64_t max) const;
    std::optional<bool> boolean(std::string_view key) const;
    std::optional<Duration> duration(std::string_view key, Duration min, Duration max) const;
    std::optional<std::vector<Located<std::string>>> string_array(std::string_view key) const;

    template <typename E>
    std::optional<E> choice(std::string_view key, std::span<const Choice<E>> choices) const {
        const auto s = string(key);
        if (!s) {
            return std::nullopt;
        }
        std::vector<std::string_view> spellings;
        for (const Choice<E>& c : choices) {
            if (c.spelling == s->value) {
                return c.value;
            }
            spellings.push_back(c.spelling);
        }
        bad_choice(key, *s, spellings);
        return std::nullopt;
    }

    /// A sub-table; nothing (and an error) when the value is not a table.
    std::optional<TableReader> table(std::string_view key, std::string label,
                                     std::initializer_list<std::string_view> known) const;

    /// Reports every key not in `known`, with a suggestion when one is close. Call once.
    void report_unknown_keys() const;

    Diagnostics& diagnostics() const noexcept { return *diag_; }
    const SourceText& source() const noexcept { return *source_; }
    const std::string& path() const noexcept { return path_; }

  private:
    void bad_choice(std::string_view key, const Located<std::string>& got,
                    std::span<const std::string_view> spellings) const;
    void wrong_type(std::string_view key, std::string_view expected) const;

    Diagnostics* diag_;
    const SourceText* source_;
    const toml::table* table_;
    std::string path_;
    std::string label_;
    std::vector<std::string_view> known_;
};

}  // namespace etld::conf::detail
