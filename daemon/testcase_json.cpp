#include "daemon/testcase_json.h"

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <utility>

namespace etld::daemon::testcase {

namespace {

constexpr int kMaxDepth = 64;

class Parser {
  public:
    explicit Parser(std::string_view text) : text_(text) {}

    std::variant<Json, JsonError> parse() {
        skip_space();
        Json value;
        if (!parse_value(value, 0)) {
            return error_;
        }
        skip_space();
        if (pos_ != text_.size()) {
            fail("unexpected text after the JSON value");
            return error_;
        }
        return value;
    }

  private:
    std::string_view text_;
    std::size_t pos_ = 0;
    JsonError error_;

    std::uint32_t column_at(std::size_t pos) const { return static_cast<std::uint32_t>(pos + 1); }

    bool fail(std::string message) { return fail_at(pos_, std::move(message)); }
    bool fail_at(std::size_t pos, std::string message) {
        error_ = {column_at(pos), std::move(message)};
        return false;
    }

    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                       text_[pos_] == '\r' || text_[pos_] == '\n')) {
            ++pos_;
        }
    }

    bool parse_value(Json& out, int depth) {
        if (pos_ >= text_.size()) {
            return fail("expected a JSON value, found the end of the line");
        }
        out.begin = pos_;
        out.column = column_at(pos_);
        const char c = text_[pos_];
        bool ok = false;
        if (c == '{') {
            ok = parse_object(out, depth);
        } else if (c == '[') {
            ok = parse_array(out, depth);
        } else if (c == '"') {
            out.kind = Json::Kind::string;
            ok = parse_string(out.text);
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            ok = parse_number(out);
        } else if (literal("true")) {
            out.kind = Json::Kind::boolean;
            out.boolean = true;
            ok = true;
        } else if (literal("false")) {
            out.kind = Json::Kind::boolean;
            ok = true;
        } else if (literal("null")) {
            out.kind = Json::Kind::null;
            ok = true;
        } else {
            return fail(std::string("expected a JSON value, found '") + c + "'");
        }
        out.end = pos_;
        return ok;
    }

    bool literal(std::string_view word) {
        if (text_.substr(pos_, word.size()) != word) {
            return false;
        }
        const std::size_t after = pos_ + word.size();
        if (after < text_.size() && std::isalnum(static_cast<unsigned char>(text_[after]))) {
            return false;
        }
        pos_ = after;
        return true;
    }

    bool parse_object(Json& out, int depth) {
        if (depth >= kMaxDepth) {
            return fail("nested more than 64 levels deep");
        }
        out.kind = Json::Kind::object;
        ++pos_;
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == '}') {
            ++pos_;
            return true;
        }
        while (true) {
            skip_space();
            if (pos_ >= text_.size() || text_[pos_] != '"') {
                return fail("expected a quoted key");
            }
            JsonMember member;
            member.key_column = column_at(pos_);
            const std::size_t key_pos = pos_;
            if (!parse_string(member.key)) {
                return false;
            }
            if (out.find(member.key) != nullptr) {
                return fail_at(key_pos, "duplicate key '" + member.key + "'");
            }
            skip_space();
            if (pos_ >= text_.size() || text_[pos_] != ':') {
                return fail("expected ':' after the key");
            }
            ++pos_;
            skip_space();
            if (!parse_value(member.value, depth + 1)) {
                return false;
            }
            out.members.push_back(std::move(member));
            skip_space();
            if (pos_ < text_.size() && text_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (pos_ < text_.size() && text_[pos_] == '}') {
                ++pos_;
                return true;
            }
            return fail("expected ',' or '}'");
        }
    }

    bool parse_array(Json& out, int depth) {
        if (depth >= kMaxDepth) {
            return fail("nested more than 64 levels deep");
        }
        out.kind = Json::Kind::array;
        ++pos_;
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == ']') {
            ++pos_;
            return true;
        }
        while (true) {
            skip_space();
            Json item;
            if (!parse_value(item, depth + 1)) {
                return false;
            }
            out.items.push_back(std::move(item));
            skip_space();
            if (pos_ < text_.size() && text_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (pos_ < text_.size() && text_[pos_] == ']') {
                ++pos_;
                return true;
            }
            return fail("expected ',' or ']'");
        }
    }

    static void append_utf8(std::string& out, std::uint32_t cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    bool hex4(std::uint32_t& out) {
        if (pos_ + 4 > text_.size()) {
            return fail("\\u needs four hex digits");
        }
        out = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = text_[pos_++];
            out <<= 4;
            if (c >= '0' && c <= '9') {
                out |= static_cast<std::uint32_t>(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                out |= static_cast<std::uint32_t>(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                out |= static_cast<std::uint32_t>(c - 'A' + 10);
            } else {
                return fail_at(pos_ - 1, "\\u needs four hex digits");
            }
        }
        return true;
    }

    bool parse_string(std::string& out) {
        const std::size_t start = pos_;
        ++pos_;
        while (pos_ < text_.size()) {
            const char c = text_[pos_];
            if (c == '"') {
                ++pos_;
                return true;
            }
            if (static_cast<unsigned char>(c) < 0x20) {
                return fail("control character in a string (write it as an escape)");
            }
            if (c != '\\') {
                out += c;
                ++pos_;
                continue;
            }
            ++pos_;
            if (pos_ >= text_.size()) {
                break;
            }
            const char e = text_[pos_++];
            switch (e) {
                case '"':
                case '\\':
                case '/':
                    out += e;
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'u': {
                    std::uint32_t cp = 0;
                    if (!hex4(cp)) {
                        return false;
                    }
                    if (cp >= 0xD800 && cp < 0xDC00 && text_.substr(pos_, 2) == "\\u") {
                        pos_ += 2;
                        std::uint32_t low = 0;
                        if (!hex4(low)) {
                            return false;
                        }
                        if (low < 0xDC00 || low >= 0xE000) {
                            return fail_at(pos_ - 6, "invalid surrogate pair");
                        }
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default:
                    return fail_at(pos_ - 2, std::string("unknown escape '\\") + e + "'");
            }
        }
        return fail_at(start, "string not closed");
    }

    bool parse_number(Json& out) {
        const std::size_t start = pos_;
        bool integral = true;
        if (text_[pos_] == '-') {
            ++pos_;
        }
        auto digits = [&] {
            const std::size_t from = pos_;
            while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
                ++pos_;
            }
            return pos_ - from;
        };
        const std::size_t int_start = pos_;
        if (digits() == 0) {
            return fail_at(start, "malformed number");
        }
        if (text_[int_start] == '0' && pos_ - int_start > 1) {
            return fail_at(start, "malformed number (leading zero)");
        }
        if (pos_ < text_.size() && text_[pos_] == '.') {
            integral = false;
            ++pos_;
            if (digits() == 0) {
                return fail_at(start, "malformed number");
            }
        }
        if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
            integral = false;
            ++pos_;
            if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) {
                ++pos_;
            }
            if (digits() == 0) {
                return fail_at(start, "malformed number");
            }
        }
        out.kind = Json::Kind::number;
        out.text.assign(text_.substr(start, pos_ - start));
        const char* first = text_.data() + start;
        const char* last = text_.data() + pos_;
        auto r = std::from_chars(first, last, out.number);
        if (r.ec == std::errc::result_out_of_range) {
            return fail_at(start, "number out of range");
        }
        if (integral) {
            std::int64_t v = 0;
            auto ri = std::from_chars(first, last, v);
            if (ri.ec == std::errc() && ri.ptr == last) {
                out.integer = v;
            }
        }
        return true;
    }
};

void append_double(std::string& out, double v) {
    if (!std::isfinite(v)) {
        out += "null";
        return;
    }
    std::array<char, 32> buffer{};
    auto r = std::to_chars(buffer.data(), buffer.data() + buffer.size(), v);
    out.append(buffer.data(), r.ptr);
}

void write(std::string& out, const Json& v) {
    switch (v.kind) {
        case Json::Kind::null:
            out += "null";
            break;
        case Json::Kind::boolean:
            out += v.boolean ? "true" : "false";
            break;
        case Json::Kind::number:
            if (!v.text.empty()) {
                out += v.text;
            } else if (v.integer) {
                out += std::to_string(*v.integer);
            } else {
                append_double(out, v.number);
            }
            break;
        case Json::Kind::string:
            out += quote_json(v.text);
            break;
        case Json::Kind::array:
            out += '[';
            for (std::size_t i = 0; i < v.items.size(); ++i) {
                if (i > 0) {
                    out += ',';
                }
                write(out, v.items[i]);
            }
            out += ']';
            break;
        case Json::Kind::object:
            out += '{';
            for (std::size_t i = 0; i < v.members.size(); ++i) {
                if (i > 0) {
                    out += ',';
                }
                out += quote_json(v.members[i].key);
                out += ':';
                write(out, v.members[i].value);
            }
            out += '}';
            break;
    }
}

}  // namespace

const Json* Json::find(std::string_view key) const {
    for (const auto& m : members) {
        if (m.key == key) {
            return &m.value;
        }
    }
    return nullptr;
}

Json Json::make_null() {
    return Json{};
}

Json Json::make_bool(bool b) {
    Json j;
    j.kind = Kind::boolean;
    j.boolean = b;
    return j;
}

Json Json::make_int(std::int64_t v) {
    Json j;
    j.kind = Kind::number;
    j.integer = v;
    j.number = static_cast<double>(v);
    return j;
}

Json Json::make_double(double v) {
    Json j;
    j.kind = Kind::number;
    j.number = v;
    return j;
}

Json Json::make_string(std::string s) {
    Json j;
    j.kind = Kind::string;
    j.text = std::move(s);
    return j;
}

std::variant<Json, JsonError> parse_json(std::string_view line) {
    return Parser(line).parse();
}

std::string quote_json(std::string_view s) {
    std::string out = "\"";
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (u < 0x20) {
                    static constexpr char kHex[] = "0123456789abcdef";
                    out += "\\u00";
                    out += kHex[u >> 4];
                    out += kHex[u & 0xF];
                } else {
                    out += c;
                }
        }
    }
    out += '"';
    return out;
}

std::string to_json(const Json& value) {
    std::string out;
    write(out, value);
    return out;
}

}  // namespace etld::daemon::testcase
