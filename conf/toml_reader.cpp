#include <algorithm>
#include <utility>

#include "conf/duration.h"
#include "conf/rules_internal.h"
#include "conf/toml_reader_internal.h"

namespace etld::conf::detail {
namespace {

bool is_blank(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

}  // namespace

SourcePos to_pos(const toml::source_position& p) {
    return SourcePos{p.line, p.column};
}

std::string_view type_name(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::string:
            return "string";
        case toml::node_type::integer:
            return "integer";
        case toml::node_type::floating_point:
            return "float";
        case toml::node_type::boolean:
            return "boolean";
        case toml::node_type::table:
            return "table";
        case toml::node_type::array:
            return "array";
        case toml::node_type::date:
            return "date";
        case toml::node_type::time:
            return "time";
        case toml::node_type::date_time:
            return "date-time";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

void Diagnostics::error(SourcePos pos, std::string message) {
    errors_.push_back(ConfigError{file_, pos.line, pos.column, std::move(message)});
}

std::vector<ConfigError> Diagnostics::take() {
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const ConfigError& a, const ConfigError& b) {
                         return std::pair(a.line, a.column) < std::pair(b.line, b.column);
                     });
    return std::move(errors_);
}

SourceText::SourceText(std::string_view text) : text_(text) {
    line_starts_.push_back(0);
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n') {
            line_starts_.push_back(i + 1);
        }
    }
}

SourcePos SourceText::string_contents(const toml::node& node) const {
    const SourcePos quote = to_pos(node.source().begin);
    if (quote.line == 0 || quote.line > line_starts_.size() || quote.column == 0) {
        return quote;
    }
    // Columns count characters: step over UTF-8 continuation bytes.
    std::size_t i = line_starts_[quote.line - 1];
    for (std::uint32_t col = 1; col < quote.column && i < text_.size(); ++col) {
        ++i;
        while (i < text_.size() && (static_cast<unsigned char>(text_[i]) & 0xC0U) == 0x80U) {
            ++i;
        }
    }
    const std::string_view rest = text_.substr(std::min(i, text_.size()));
    if (rest.starts_with("\"\"\"") || rest.starts_with("'''")) {
        // A newline right after the opening delimiter is not part of the string.
        const std::string_view after = rest.substr(3);
        if (after.starts_with("\n") || after.starts_with("\r\n")) {
            return SourcePos{quote.line + 1, 1};
        }
        return SourcePos{quote.line, quote.column + 3};
    }
    return SourcePos{quote.line, quote.column + 1};
}

TableReader::TableReader(Diagnostics& diag, const SourceText& source, const toml::table& table,
                         std::string path, std::string label,
                         std::initializer_list<std::string_view> known)
    : diag_(&diag),
      source_(&source),
      table_(&table),
      path_(std::move(path)),
      label_(std::move(label)),
      known_(known) {}

SourcePos TableReader::header() const {
    SourcePos p = to_pos(table_->source().begin);
    if (p.line == 0) {
        p = SourcePos{1, 1};
    }
    return p;
}

SourcePos TableReader::key_pos(std::string_view key) const {
    for (const auto& [k, v] : *table_) {
        if (k.str() == key) {
            const SourcePos p = to_pos(k.source().begin);
            return p.line == 0 ? to_pos(v.source().begin) : p;
        }
    }
    return header();
}

SourcePos TableReader::value_pos(std::string_view key) const {
    const toml::node* n = table_->get(key);
    return n == nullptr ? header() : to_pos(n->source().begin);
}

std::string TableReader::key_path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

std::string TableReader::where() const {
    return label_.empty() ? std::string("at the top level") : "in " + label_;
}

void TableReader::error(SourcePos pos, std::string message) const {
    diag_->error(pos, std::move(message));
}

void TableReader::value_error(std::string_view key, const std::string& message) const {
    error(value_pos(key), key_path(key) + ": " + message);
}

void TableReader::string_error(std::string_view key, const Located<std::string>& value,
                               const std::string& message) const {
    error(value.pos, key_path(key) + ": " + message);
}

bool TableReader::require(std::string_view key, std::string_view why) const {
    if (has(key)) {
        return true;
    }
    missing(key, why);
    return false;
}

void TableReader::missing(std::string_view key, std::string_view why) const {
    std::string message = "missing required key '" + std::string(key) + "' " + where();
    message.append(why);
    error(header(), std::move(message));
}

void TableReader::wrong_type(std::string_view key, std::string_view expected) const {
    value_error(key, "expected " + std::string(expected) + ", got " +
                         std::string(type_name(*table_->get(key))));
}

std::optional<Located<std::string>> TableReader::string(std::string_view key) const {
    const toml::node* n = table_->get(key);
    if (n == nullptr) {
        return std::nullopt;
    }
    const auto* s = n->as_string();
    if (s == nullptr) {
        wrong_type(key, "a string");
        return std::nullopt;
    }
    return Located<std::string>{s->get(), source_->string_contents(*n)};
}

std::optional<Located<std::string>> TableReader::text(std::string_view key) const {
    auto s = string(key);
    if (s && is_blank(s->value)) {
        string_error(key, *s, "must not be empty");
        return std::nullopt;
    }
    return s;
}

std::optional<std::int64_t> TableReader::integer(std::string_view key, std::int64_t min,
                                                 std::int64_t max) const {
    const toml::node* n = table_->get(key);
    if (n == nullptr) {
        return std::nullopt;
    }
    const auto* i = n->as_integer();
    if (i == nullptr) {
        wrong_type(key, "an integer");
        return std::nullopt;
    }
    const std::int64_t v = i->get();
    if (v < min || v > max) {
        value_error(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                             ", got " + std::to_string(v));
        return std::nullopt;
    }
    return v;
}

std::optional<bool> TableReader::boolean(std::string_view key) const {
    const toml::node* n = table_->get(key);
    if (n == nullptr) {
        return std::nullopt;
    }
    const auto* b = n->as_boolean();
    if (b == nullptr) {
        wrong_type(key, "a boolean (true or false)");
        return std::nullopt;
    }
    return b->get();
}

std::optional<Duration> TableReader::duration(std::string_view key, Duration min,
                                              Duration max) const {
    const toml::node* n = table_->get(key);
    if (n == nullptr) {
        return std::nullopt;
    }
    const auto* s = n->as_string();
    if (s == nullptr) {
        wrong_type(key, "a duration string like \"250ms\"");
        return std::nullopt;
    }
    const ParsedDuration d = parse_duration(s->get());
    if (!d.ok()) {
        error(source_->string_contents(*n), key_path(key) + ": " + d.error);
        return std::nullopt;
    }
    if (d.value < min || d.value > max) {
        value_error(key, "must be between " + format_duration(min) + " and " +
                             format_duration(max) + ", got " + s->get());
        return std::nullopt;
    }
    return d.value;
}

std::optional<std::vector<Located<std::string>>> TableReader::string_array(
    std::string_view key) const {
    const toml::node* n = table_->get(key);
    if (n == nullptr) {
        return std::nullopt;
    }
    const auto* a = n->as_array();
    if (a == nullptr) {
        wrong_type(key, "an array of strings");
        return std::nullopt;
    }
    std::vector<Located<std::string>> out;
    bool ok = true;
    for (const toml::node& element : *a) {
        const auto* s = element.as_string();
        if (s == nullptr) {
            error(to_pos(element.source().begin), key_path(key) +
                                                      ": expected an array of strings, found " +
                                                      std::string(type_name(element)));
            ok = false;
            continue;
        }
        out.push_back(Located<std::string>{s->get(), source_->string_contents(element)});
    }
    if (!ok) {
        return std::nullopt;
    }
    return out;
}

std::optional<TableReader> TableReader::table(std::string_view key, std::string label,
                                              std::initializer_list<std::string_view> known) const {
    const toml::node* n = table_->get(key);
    if (n == nullptr) {
        return std::nullopt;
    }
    const auto* t = n->as_table();
    if (t == nullptr) {
        wrong_type(key, "a table");
        return std::nullopt;
    }
    return TableReader(*diag_, *source_, *t, key_path(key), std::move(label), known);
}

void TableReader::bad_choice(std::string_view key, const Located<std::string>& got,
                             std::span<const std::string_view> spellings) const {
    std::string list;
    for (std::size_t i = 0; i < spellings.size(); ++i) {
        if (i > 0) {
            list += i + 1 == spellings.size() ? " or " : ", ";
        }
        list += spellings[i];
    }
    std::string message = quoted(got.value) + " is not one of " + list;
    if (const auto guess = closest_match(got.value, spellings)) {
        message += "; did you mean " + quoted(*guess) + "?";
    }
    string_error(key, got, message);
}

void TableReader::report_unknown_keys() const {
    for (const auto& [k, v] : *table_) {
        const std::string_view name = k.str();
        if (std::find(known_.begin(), known_.end(), name) != known_.end()) {
            continue;
        }
        std::string message = "unknown key '" + std::string(name) + "' " + where();
        if (const auto guess = closest_match(name, known_)) {
            message += "; did you mean '" + std::string(*guess) + "'?";
        }
        SourcePos p = to_pos(k.source().begin);
        if (p.line == 0) {
            p = to_pos(v.source().begin);
        }
        error(p, std::move(message));
    }
}

}  // namespace etld::conf::detail
