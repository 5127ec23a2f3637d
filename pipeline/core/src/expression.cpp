// GCC 12 at -O3 reports false -Wrestrict overlaps inside std::string's
// operator+ (GCC bug 105651); -Werror would make them build failures.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
#include "expression.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <utility>

namespace etld::pipeline::detail {

std::string_view name_of(ExprType t) {
    switch (t) {
        case ExprType::number:
            return "number";
        case ExprType::string:
            return "string";
        case ExprType::boolean:
            return "predicate";
    }
    return "?";
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

enum class Tok : std::uint8_t {
    end,
    ident,
    number,
    string,
    lparen,
    rparen,
    comma,
    plus,
    minus,
    star,
    slash,
    eq,
    ne,
    lt,
    le,
    gt,
    ge,
};

struct Token {
    Tok kind = Tok::end;
    std::size_t pos = 0;
    std::string_view text;  // source text of the token
    std::string value;      // unescaped string literal
    double num = 0;
};

struct Typed {
    std::uint32_t node = 0;
    ExprType type = ExprType::number;
    std::size_t pos = 0;  // where the sub-expression starts
};

struct Failure {
    ExprError error;
};

}  // namespace

std::string suggest(std::string_view name, const std::vector<std::string>& candidates) {
    std::string best;
    std::size_t best_d = std::max<std::size_t>(2, name.size() / 3) + 1;
    for (const auto& c : candidates) {
        std::size_t d = edit_distance(name, c);
        if (d < best_d) {
            best_d = d;
            best = c;
        }
    }
    return best;
}

// Recursive descent over the grammar
//   or   := and ('or' and)*
//   and  := not ('and' not)*
//   not  := 'not' not | cmp
//   cmp  := sum (('=='|'!='|'<'|'<='|'>'|'>=') sum | 'in' '(' literal (',' literal)* ')')?
//   sum  := prod (('+'|'-') prod)*
//   prod := unary (('*'|'/') unary)*
//   unary:= '-' unary | primary
//   primary := number | 'string' | true | false | field | '(' or ')'
// Errors are thrown as Failure inside the parser only and turned into values
// at its boundary.
class ExprParser {
  public:
    ExprParser(std::string_view src, const EventSchema& schema) : src_(src), schema_(schema) {}

    ParsedExpr run() {
        try {
            advance();
            if (tok_.kind == Tok::end) {
                fail(0, "empty expression");
            }
            Typed t = parse_or();
            if (tok_.kind != Tok::end) {
                fail(tok_.pos, "unexpected " + describe(tok_) + " after the end of the expression");
            }
            expr_.root_ = t.node;
            expr_.type_ = t.type;
            return std::move(expr_);
        } catch (const Failure& f) {
            return f.error;
        }
    }

  private:
    [[noreturn]] static void fail(std::size_t pos, std::string msg) {
        throw Failure{ExprError{pos, std::move(msg)}};
    }

    static std::string describe(const Token& t) {
        if (t.kind == Tok::end) {
            return "end of expression";
        }
        return "'" + std::string(t.text) + "'";
    }

    void advance() {
        while (at_ < src_.size() &&
               (src_[at_] == ' ' || src_[at_] == '\t' || src_[at_] == '\n' || src_[at_] == '\r')) {
            ++at_;
        }
        tok_ = Token{};
        tok_.pos = at_;
        if (at_ >= src_.size()) {
            tok_.kind = Tok::end;
            return;
        }
        const char c = src_[at_];
        auto single = [&](Tok k) {
            tok_.kind = k;
            tok_.text = src_.substr(at_, 1);
            ++at_;
        };
        auto pair = [&](Tok k) {
            tok_.kind = k;
            tok_.text = src_.substr(at_, 2);
            at_ += 2;
        };
        const char next = at_ + 1 < src_.size() ? src_[at_ + 1] : '\0';
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
            std::size_t end = at_;
            while (end < src_.size() &&
                   ((src_[end] >= 'a' && src_[end] <= 'z') ||
                    (src_[end] >= 'A' && src_[end] <= 'Z') ||
                    (src_[end] >= '0' && src_[end] <= '9') || src_[end] == '_')) {
                ++end;
            }
            tok_.kind = Tok::ident;
            tok_.text = src_.substr(at_, end - at_);
            at_ = end;
            return;
        }
        if ((c >= '0' && c <= '9') || (c == '.' && next >= '0' && next <= '9')) {
            std::size_t end = at_;
            while (end < src_.size() && ((src_[end] >= '0' && src_[end] <= '9') ||
                                         src_[end] == '.' || src_[end] == 'e' || src_[end] == 'E' ||
                                         ((src_[end] == '+' || src_[end] == '-') &&
                                          (src_[end - 1] == 'e' || src_[end - 1] == 'E')))) {
                ++end;
            }
            tok_.kind = Tok::number;
            tok_.text = src_.substr(at_, end - at_);
            auto [p, ec] =
                std::from_chars(tok_.text.data(), tok_.text.data() + tok_.text.size(), tok_.num);
            if (ec != std::errc{} || p != tok_.text.data() + tok_.text.size() ||
                !std::isfinite(tok_.num)) {
                fail(at_, "invalid number '" + std::string(tok_.text) + "'");
            }
            at_ = end;
            return;
        }
        switch (c) {
            case '\'': {
                std::size_t i = at_ + 1;
                std::string value;
                while (true) {
                    if (i >= src_.size()) {
                        fail(at_, "unterminated string literal");
                    }
                    if (src_[i] == '\\' && i + 1 < src_.size() &&
                        (src_[i + 1] == '\'' || src_[i + 1] == '\\')) {
                        value.push_back(src_[i + 1]);
                        i += 2;
                        continue;
                    }
                    if (src_[i] == '\'') {
                        break;
                    }
                    value.push_back(src_[i]);
                    ++i;
                }
                tok_.kind = Tok::string;
                tok_.text = src_.substr(at_, i + 1 - at_);
                tok_.value = std::move(value);
                at_ = i + 1;
                return;
            }
            case '(':
                return single(Tok::lparen);
            case ')':
                return single(Tok::rparen);
            case ',':
                return single(Tok::comma);
            case '+':
                return single(Tok::plus);
            case '-':
                return single(Tok::minus);
            case '*':
                return single(Tok::star);
            case '/':
                return single(Tok::slash);
            case '=':
                if (next == '=') {
                    return pair(Tok::eq);
                }
                fail(at_, "'=' is not an operator; use '==' to compare");
            case '!':
                if (next == '=') {
                    return pair(Tok::ne);
                }
                fail(at_, "'!' is not an operator; use 'not'");
            case '<':
                if (next == '=') {
                    return pair(Tok::le);
                }
                if (next == '>') {
                    fail(at_, "'<>' is not an operator; use '!='");
                }
                return single(Tok::lt);
            case '>':
                if (next == '=') {
                    return pair(Tok::ge);
                }
                return single(Tok::gt);
            case '&':
                fail(at_, "'&' is not an operator; use 'and'");
            case '|':
                fail(at_, "'|' is not an operator; use 'or'");
            case '"':
                fail(at_, "string literals use single quotes");
            default:
                break;
        }
        const auto uc = static_cast<unsigned char>(c);
        if (uc < 0x20 || uc >= 0x7f) {
            fail(at_, "unexpected character (byte 0x" + hex(uc) + ")");
        }
        fail(at_, std::string("unexpected character '") + c + "'");
    }

    static std::string hex(unsigned char c) {
        const char* digits = "0123456789abcdef";
        return {digits[c >> 4], digits[c & 15]};
    }

    bool is_keyword(std::string_view kw) const {
        return tok_.kind == Tok::ident && tok_.text == kw;
    }

    std::uint32_t add_node(Expr::Node n) {
        expr_.nodes_.push_back(n);
        return static_cast<std::uint32_t>(expr_.nodes_.size() - 1);
    }

    void require(ExprType want, const Typed& got, std::size_t op_pos, std::string_view op,
                 bool left) {
        if (got.type != want) {
            fail(op_pos, "'" + std::string(op) + "' needs " +
                             (want == ExprType::number ? std::string("numbers")
                                                       : std::string("predicates")) +
                             ", but its " + (left ? "left" : "right") + " side is a " +
                             std::string(name_of(got.type)));
        }
    }

    Typed parse_or() {
        Typed lhs = parse_and();
        while (is_keyword("or")) {
            std::size_t op = tok_.pos;
            advance();
            Typed rhs = parse_and();
            require(ExprType::boolean, lhs, op, "or", true);
            require(ExprType::boolean, rhs, op, "or", false);
            Expr::Node n;
            n.op = Expr::Op::logical_or;
            n.a = lhs.node;
            n.b = rhs.node;
            lhs = Typed{add_node(n), ExprType::boolean, lhs.pos};
        }
        return lhs;
    }

    Typed parse_and() {
        Typed lhs = parse_not();
        while (is_keyword("and")) {
            std::size_t op = tok_.pos;
            advance();
            Typed rhs = parse_not();
            require(ExprType::boolean, lhs, op, "and", true);
            require(ExprType::boolean, rhs, op, "and", false);
            Expr::Node n;
            n.op = Expr::Op::logical_and;
            n.a = lhs.node;
            n.b = rhs.node;
            lhs = Typed{add_node(n), ExprType::boolean, lhs.pos};
        }
        return lhs;
    }

    Typed parse_not() {
        if (is_keyword("not")) {
            std::size_t op = tok_.pos;
            advance();
            Typed inner = parse_not();
            if (inner.type != ExprType::boolean) {
                fail(op, "'not' needs a predicate, but got a " + std::string(name_of(inner.type)));
            }
            Expr::Node n;
            n.op = Expr::Op::logical_not;
            n.a = inner.node;
            return Typed{add_node(n), ExprType::boolean, op};
        }
        return parse_cmp();
    }

    std::optional<Expr::Cmp> cmp_op() const {
        switch (tok_.kind) {
            case Tok::eq:
                return Expr::Cmp::eq;
            case Tok::ne:
                return Expr::Cmp::ne;
            case Tok::lt:
                return Expr::Cmp::lt;
            case Tok::le:
                return Expr::Cmp::le;
            case Tok::gt:
                return Expr::Cmp::gt;
            case Tok::ge:
                return Expr::Cmp::ge;
            default:
                return std::nullopt;
        }
    }

    Typed parse_cmp() {
        Typed lhs = parse_sum();
        if (auto cmp = cmp_op()) {
            std::size_t op = tok_.pos;
            std::string op_text(tok_.text);
            advance();
            Typed rhs = parse_sum();
            if (lhs.type != rhs.type) {
                fail(op, "cannot compare a " + std::string(name_of(lhs.type)) + " with a " +
                             std::string(name_of(rhs.type)));
            }
            Expr::Node n;
            n.cmp = *cmp;
            n.a = lhs.node;
            n.b = rhs.node;
            switch (lhs.type) {
                case ExprType::number:
                    n.op = Expr::Op::cmp_num;
                    break;
                case ExprType::string:
                    n.op = Expr::Op::cmp_str;
                    break;
                case ExprType::boolean:
                    if (*cmp != Expr::Cmp::eq && *cmp != Expr::Cmp::ne) {
                        fail(op, "'" + op_text + "' cannot order predicates; use '==' or '!='");
                    }
                    n.op = Expr::Op::cmp_bool;
                    break;
            }
            if (cmp_op()) {
                fail(tok_.pos, "comparisons cannot be chained; use 'and'");
            }
            return Typed{add_node(n), ExprType::boolean, lhs.pos};
        }
        if (is_keyword("in")) {
            std::size_t op = tok_.pos;
            advance();
            if (lhs.type == ExprType::boolean) {
                fail(op, "'in' needs a number or a string on its left, but got a predicate");
            }
            if (tok_.kind != Tok::lparen) {
                fail(tok_.pos, "expected '(' after 'in', got " + describe(tok_));
            }
            advance();
            Expr::Node n;
            n.a = lhs.node;
            if (lhs.type == ExprType::number) {
                n.op = Expr::Op::in_num;
                n.str = static_cast<std::uint32_t>(expr_.numbers_.size());
            } else {
                n.op = Expr::Op::in_str;
                n.str = static_cast<std::uint32_t>(expr_.strings_.size());
            }
            while (true) {
                bool negative = false;
                std::size_t item_pos = tok_.pos;
                if (lhs.type == ExprType::number && tok_.kind == Tok::minus) {
                    negative = true;
                    advance();
                }
                if (lhs.type == ExprType::number && tok_.kind == Tok::number) {
                    expr_.numbers_.push_back(negative ? -tok_.num : tok_.num);
                } else if (lhs.type == ExprType::string && tok_.kind == Tok::string) {
                    expr_.strings_.push_back(tok_.value);
                } else if (tok_.kind == Tok::end) {
                    fail(tok_.pos, "unexpected end of expression inside the 'in' list");
                } else {
                    fail(item_pos,
                         "'in' list items must be " +
                             std::string(lhs.type == ExprType::number ? "number" : "string") +
                             " literals, got " + describe(tok_));
                }
                ++n.b;
                advance();
                if (tok_.kind == Tok::comma) {
                    advance();
                    continue;
                }
                if (tok_.kind == Tok::rparen) {
                    advance();
                    break;
                }
                fail(tok_.pos, "expected ',' or ')' in the 'in' list, got " + describe(tok_));
            }
            return Typed{add_node(n), ExprType::boolean, lhs.pos};
        }
        return lhs;
    }

    Typed binary(Typed lhs, Typed rhs, Expr::Op op) {
        Expr::Node n;
        n.op = op;
        n.a = lhs.node;
        n.b = rhs.node;
        return Typed{add_node(n), ExprType::number, lhs.pos};
    }

    Typed parse_sum() {
        Typed lhs = parse_prod();
        while (tok_.kind == Tok::plus || tok_.kind == Tok::minus) {
            const bool plus = tok_.kind == Tok::plus;
            std::size_t op = tok_.pos;
            advance();
            Typed rhs = parse_prod();
            require(ExprType::number, lhs, op, plus ? "+" : "-", true);
            require(ExprType::number, rhs, op, plus ? "+" : "-", false);
            lhs = binary(lhs, rhs, plus ? Expr::Op::add : Expr::Op::sub);
        }
        return lhs;
    }

    Typed parse_prod() {
        Typed lhs = parse_unary();
        while (tok_.kind == Tok::star || tok_.kind == Tok::slash) {
            const bool star = tok_.kind == Tok::star;
            std::size_t op = tok_.pos;
            advance();
            Typed rhs = parse_unary();
            require(ExprType::number, lhs, op, star ? "*" : "/", true);
            require(ExprType::number, rhs, op, star ? "*" : "/", false);
            lhs = binary(lhs, rhs, star ? Expr::Op::mul : Expr::Op::div);
        }
        return lhs;
    }

    Typed parse_unary() {
        if (tok_.kind == Tok::minus) {
            std::size_t op = tok_.pos;
            advance();
            Typed inner = parse_unary();
            if (inner.type != ExprType::number) {
                fail(op, "unary '-' needs a number, but got a " + std::string(name_of(inner.type)));
            }
            Expr::Node n;
            n.op = Expr::Op::neg;
            n.a = inner.node;
            return Typed{add_node(n), ExprType::number, op};
        }
        return parse_primary();
    }

    Typed parse_primary() {
        const std::size_t pos = tok_.pos;
        Expr::Node n;
        switch (tok_.kind) {
            case Tok::number:
                n.op = Expr::Op::num_lit;
                n.num = tok_.num;
                advance();
                return Typed{add_node(n), ExprType::number, pos};
            case Tok::string:
                n.op = Expr::Op::str_lit;
                n.str = static_cast<std::uint32_t>(expr_.strings_.size());
                expr_.strings_.push_back(tok_.value);
                advance();
                return Typed{add_node(n), ExprType::string, pos};
            case Tok::lparen: {
                advance();
                Typed inner = parse_or();
                if (tok_.kind != Tok::rparen) {
                    fail(tok_.pos, "expected ')' to close the '(' at " + std::to_string(pos) +
                                       ", got " + describe(tok_));
                }
                advance();
                inner.pos = pos;
                return inner;
            }
            case Tok::ident:
                return field_or_keyword();
            case Tok::end:
                fail(pos, "unexpected end of expression");
            default:
                fail(pos, "unexpected " + describe(tok_));
        }
    }

    Typed field_or_keyword() {
        const std::size_t pos = tok_.pos;
        const std::string_view name = tok_.text;
        Expr::Node n;
        if (name == "true" || name == "false") {
            n.op = Expr::Op::bool_lit;
            n.num = name == "true" ? 1 : 0;
            advance();
            return Typed{add_node(n), ExprType::boolean, pos};
        }
        if (name == "and" || name == "or" || name == "in" || name == "not") {
            fail(pos, "unexpected keyword '" + std::string(name) + "'");
        }
        for (std::size_t i = 0; i < schema_.fields.size(); ++i) {
            if (schema_.fields[i].name != name) {
                continue;
            }
            n.a = static_cast<std::uint32_t>(i);
            ExprType t = ExprType::number;
            switch (schema_.fields[i].type) {
                case FieldType::int64:
                    n.op = Expr::Op::int_field;
                    break;
                case FieldType::float64:
                    n.op = Expr::Op::double_field;
                    break;
                case FieldType::string:
                    n.op = Expr::Op::str_field;
                    t = ExprType::string;
                    break;
                case FieldType::boolean:
                    n.op = Expr::Op::bool_field;
                    t = ExprType::boolean;
                    break;
            }
            advance();
            if (tok_.kind == Tok::lparen) {
                fail(pos, "'" + std::string(name) + "' is a field, not a function");
            }
            return Typed{add_node(n), t, pos};
        }
        if (name == schema_.time_field || name == schema_.id_field) {
            fail(pos, "'" + std::string(name) + "' is the event " +
                          (name == schema_.time_field ? "time" : "id") +
                          " field; expressions can only use the typed fields of [schema.fields]");
        }
        std::vector<std::string> names;
        for (const auto& f : schema_.fields) {
            names.push_back(f.name);
        }
        std::string msg = "unknown field '" + std::string(name) + "'";
        if (std::string s = suggest(name, names); !s.empty()) {
            msg += "; did you mean '" + s + "'?";
        }
        fail(pos, msg);
    }

    std::string_view src_;
    const EventSchema& schema_;
    std::size_t at_ = 0;
    Token tok_;
    Expr expr_;
};

double Expr::num(std::uint32_t i, const Event& e) const {
    const Node& n = nodes_[i];
    switch (n.op) {
        case Op::num_lit:
            return n.num;
        case Op::int_field:
            return static_cast<double>(e.int_at(n.a));
        case Op::double_field:
            return e.double_at(n.a);
        case Op::neg:
            return -num(n.a, e);
        case Op::add:
            return num(n.a, e) + num(n.b, e);
        case Op::sub:
            return num(n.a, e) - num(n.b, e);
        case Op::mul:
            return num(n.a, e) * num(n.b, e);
        case Op::div:
            return num(n.a, e) / num(n.b, e);
        default:
            return 0;
    }
}

std::string_view Expr::str(std::uint32_t i, const Event& e) const {
    const Node& n = nodes_[i];
    if (n.op == Op::str_field) {
        return e.string_at(n.a);
    }
    return strings_[n.str];
}

namespace {
template <typename T>
bool compare(Expr::Cmp c, const T& a, const T& b) {
    switch (c) {
        case Expr::Cmp::eq:
            return a == b;
        case Expr::Cmp::ne:
            return a != b;
        case Expr::Cmp::lt:
            return a < b;
        case Expr::Cmp::le:
            return a <= b;
        case Expr::Cmp::gt:
            return a > b;
        case Expr::Cmp::ge:
            return a >= b;
    }
    return false;
}
}  // namespace

bool Expr::pred(std::uint32_t i, const Event& e) const {
    const Node& n = nodes_[i];
    switch (n.op) {
        case Op::bool_lit:
            return n.num != 0;
        case Op::bool_field:
            return e.bool_at(n.a);
        case Op::logical_not:
            return !pred(n.a, e);
        case Op::logical_and:
            return pred(n.a, e) && pred(n.b, e);
        case Op::logical_or:
            return pred(n.a, e) || pred(n.b, e);
        case Op::cmp_num:
            return compare(n.cmp, num(n.a, e), num(n.b, e));
        case Op::cmp_str:
            return compare(n.cmp, str(n.a, e), str(n.b, e));
        case Op::cmp_bool:
            return compare(n.cmp, pred(n.a, e), pred(n.b, e));
        case Op::in_num: {
            const double v = num(n.a, e);
            for (std::uint32_t k = 0; k < n.b; ++k) {
                if (numbers_[n.str + k] == v) {
                    return true;
                }
            }
            return false;
        }
        case Op::in_str: {
            const std::string_view v = str(n.a, e);
            for (std::uint32_t k = 0; k < n.b; ++k) {
                if (strings_[n.str + k] == v) {
                    return true;
                }
            }
            return false;
        }
        default:
            return false;
    }
}

ParsedExpr parse_expression(std::string_view source, const EventSchema& schema) {
    return ExprParser(source, schema).run();
}

ParsedExpr compile_numeric(std::string_view source, const EventSchema& schema) {
    ParsedExpr r = parse_expression(source, schema);
    if (auto* e = std::get_if<Expr>(&r); e != nullptr && e->type() != ExprType::number) {
        return ExprError{
            0, "expected a numeric expression, but this is a " + std::string(name_of(e->type()))};
    }
    return r;
}

ParsedExpr compile_predicate(std::string_view source, const EventSchema& schema) {
    ParsedExpr r = parse_expression(source, schema);
    if (auto* e = std::get_if<Expr>(&r); e != nullptr && e->type() != ExprType::boolean) {
        return ExprError{0,
                         "expected a predicate, but this is a " + std::string(name_of(e->type()))};
    }
    return r;
}

}  // namespace etld::pipeline::detail
