#include "conf/rules_internal.h"

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

namespace etld::conf::detail {
namespace {

bool is_lower(char c) {
    return c >= 'a' && c <= 'z';
}
bool is_upper(char c) {
    return c >= 'A' && c <= 'Z';
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
    return is_lower(c) || is_upper(c);
}

}  // namespace

std::string quoted(std::string_view s) {
    std::string out = "\"";
    out.append(s);
    out.push_back('"');
    return out;
}

std::string single_quoted(std::string_view s) {
    std::string out = "'";
    out.append(s);
    out.push_back('\'');
    return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    // Three rolling rows of the classic dynamic program; the one two rows up is needed for
    // transpositions ("comit" vs "cmoit").
    std::vector<std::size_t> before(b.size() + 1);
    std::vector<std::size_t> prev(b.size() + 1);
    std::vector<std::size_t> cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        prev[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                cur[j] = std::min(cur[j], before[j - 2] + 1);
            }
        }
        std::swap(before, prev);
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::optional<std::string_view> closest_match(std::string_view word,
                                              std::span<const std::string_view> candidates) {
    const std::size_t limit = std::clamp<std::size_t>((word.size() + 2) / 3, 1, 3);
    std::optional<std::string_view> best;
    std::size_t best_distance = limit + 1;
    for (const std::string_view candidate : candidates) {
        const std::size_t d = edit_distance(word, candidate);
        if (d < best_distance) {
            best = candidate;
            best_distance = d;
        }
    }
    if (best || word.size() < 3) {
        return best;
    }
    // An abbreviation ("warn", "iso") is too far by edits but still plainly meant.
    for (const std::string_view candidate : candidates) {
        if (candidate.starts_with(word)) {
            return candidate;
        }
    }
    return std::nullopt;
}

std::optional<std::string> topic_name_problem(std::string_view text) {
    if (text.empty()) {
        return "it is empty";
    }
    if (text.size() > 249) {
        return "it is longer than 249 characters";
    }
    if (text == "." || text == "..") {
        return "\".\" and \"..\" are not allowed";
    }
    for (const char c : text) {
        if (!is_alpha(c) && !is_digit(c) && c != '.' && c != '_' && c != '-') {
            return "only letters, digits, '.', '_' and '-' are allowed";
        }
    }
    return std::nullopt;
}

std::optional<std::string> name_problem(std::string_view text) {
    if (text.empty()) {
        return "it is empty";
    }
    if (text.size() > 63) {
        return "it is longer than 63 characters";
    }
    if (!is_lower(text.front())) {
        return "it must start with a lower-case letter";
    }
    for (const char c : text) {
        if (!is_lower(c) && !is_digit(c) && c != '_') {
            return "only lower-case letters, digits and '_' are allowed";
        }
    }
    return std::nullopt;
}

std::optional<std::string> field_name_problem(std::string_view text) {
    static constexpr std::array<std::string_view, 6> kKeywords{"and", "or",   "not",
                                                               "in",  "true", "false"};
    if (text.empty()) {
        return "it is empty";
    }
    if (text.size() > 128) {
        return "it is longer than 128 characters";
    }
    if (is_digit(text.front())) {
        return "it must not start with a digit";
    }
    for (const char c : text) {
        if (!is_alpha(c) && !is_digit(c) && c != '_') {
            return "only letters, digits and '_' are allowed";
        }
    }
    if (std::find(kKeywords.begin(), kKeywords.end(), text) != kKeywords.end()) {
        return "it is a word of the expression language";
    }
    return std::nullopt;
}

std::optional<std::string> property_name_problem(std::string_view text) {
    if (text.empty()) {
        return "it is empty";
    }
    if (!is_lower(text.front())) {
        return "it must start with a lower-case letter";
    }
    for (const char c : text) {
        if (!is_lower(c) && !is_digit(c) && c != '.' && c != '_') {
            return "only lower-case letters, digits, '.' and '_' are allowed";
        }
    }
    return std::nullopt;
}

std::optional<std::string> env_name_problem(std::string_view text) {
    if (text.empty()) {
        return "it is empty";
    }
    if (is_digit(text.front())) {
        return "it must not start with a digit";
    }
    for (const char c : text) {
        if (!is_alpha(c) && !is_digit(c) && c != '_') {
            return "only letters, digits and '_' are allowed";
        }
    }
    return std::nullopt;
}

std::optional<std::string> reserved_property_problem(std::string_view property) {
    struct Reserved {
        std::string_view property;
        std::string_view message;
    };
    // The exactly-once protocol depends on these; letting a passthrough override them would
    // silently break it.
    static constexpr std::array<Reserved, 11> kReserved{{
        {"bootstrap.servers", "is set by etld; use kafka.bootstrap_servers instead"},
        {"metadata.broker.list", "is set by etld; use kafka.bootstrap_servers instead"},
        {"group.id", "is set by etld; use kafka.group_id instead"},
        {"transactional.id", "is set by etld; use kafka.transactional_id instead"},
        {"enable.auto.commit",
         "is owned by etld: offsets are committed inside each transaction; remove it"},
        {"auto.commit.enable",
         "is owned by etld: offsets are committed inside each transaction; remove it"},
        {"enable.auto.offset.store",
         "is owned by etld: offsets are committed inside each transaction; remove it"},
        {"isolation.level", "is owned by etld: it always reads read_committed; remove it"},
        {"enable.idempotence",
         "is owned by etld: transactions need the idempotent producer; remove it"},
        {"acks", "is owned by etld: transactions need acks=all; remove it"},
        {"request.required.acks", "is owned by etld: transactions need acks=all; remove it"},
    }};
    for (const Reserved& r : kReserved) {
        if (r.property == property) {
            return std::string(r.message);
        }
    }
    return std::nullopt;
}

bool is_secret_property(std::string_view property) {
    static constexpr std::array<std::string_view, 2> kExact{"sasl.oauthbearer.config",
                                                            "ssl.key.pem"};
    if (std::find(kExact.begin(), kExact.end(), property) != kExact.end()) {
        return true;
    }
    return property.find("password") != std::string_view::npos ||
           property.find("secret") != std::string_view::npos;
}

std::optional<std::string> split_host_port(std::string_view text, HostPort& out) {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        return "missing \":port\"";
    }
    std::string_view host = text.substr(0, colon);
    const std::string_view port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
        if (host.empty()) {
            return "the host is empty";
        }
        for (const char c : host) {
            if (!is_digit(c) && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') && c != ':' &&
                c != '.') {
                return "the host in brackets is not an IPv6 address";
            }
        }
    } else {
        if (host.empty()) {
            return "the host is empty";
        }
        for (const char c : host) {
            if (!is_alpha(c) && !is_digit(c) && c != '.' && c != '-') {
                return "the host may only contain letters, digits, '.' and '-' (put an IPv6 "
                       "address in brackets)";
            }
        }
    }
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return is_digit(c); })) {
        return "the port must be a number from 0 to 65535";
    }
    const int number = std::stoi(std::string(port));
    if (number > 65535) {
        return "the port must be a number from 0 to 65535";
    }
    out.host = std::string(host);
    out.port = static_cast<std::uint16_t>(number);
    return std::nullopt;
}

}  // namespace etld::conf::detail
