#include "expression.h"

#include <cmath>

#include "test_support.h"

namespace etld::pipeline::test {
namespace {

using detail::Expr;
using detail::ExprError;

EventSchema schema() {
    EventSchema s = default_seed_schema();
    s.fields.push_back({"vip", FieldType::boolean});
    return s;
}

// user_id=u1 event_type=purchase product=mouse price=25.5 quantity=2 vip=true
Event sample() {
    Event e;
    e.reset(6);
    e.set_string(0, "u1");
    e.set_string(1, "purchase");
    e.set_string(2, "mouse");
    e.set_double(3, 25.5);
    e.set_int(4, 2);
    e.set_bool(5, true);
    return e;
}

double number(const std::string& src) {
    auto r = detail::compile_numeric(src, schema());
    if (const auto* err = std::get_if<ExprError>(&r)) {
        BOOST_FAIL(src + ": " + err->message);
    }
    return std::get<Expr>(r).number(sample());
}

bool holds(const std::string& src) {
    auto r = detail::compile_predicate(src, schema());
    if (const auto* err = std::get_if<ExprError>(&r)) {
        BOOST_FAIL(src + ": " + err->message);
    }
    return std::get<Expr>(r).predicate(sample());
}

void expect_error(const std::string& src, std::size_t pos, const std::string& message,
                  bool predicate = true) {
    auto r = predicate ? detail::compile_predicate(src, schema())
                       : detail::compile_numeric(src, schema());
    BOOST_REQUIRE_MESSAGE(std::holds_alternative<ExprError>(r), src + " should not compile");
    const ExprError& e = std::get<ExprError>(r);
    BOOST_TEST(e.message == message, src);
    BOOST_TEST(e.position == pos, src);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(expression)

BOOST_AUTO_TEST_CASE(arithmetic_follows_precedence_and_parentheses) {
    BOOST_TEST(number("price * quantity") == 51.0);
    BOOST_TEST(number("1 + 2 * 3") == 7.0);
    BOOST_TEST(number("(1 + 2) * 3") == 9.0);
    BOOST_TEST(number("10 - 4 - 3") == 3.0);
    BOOST_TEST(number("12 / 3 / 2") == 2.0);
    BOOST_TEST(number("-price + 1") == -24.5);
    BOOST_TEST(number("--quantity") == 2.0);
    BOOST_TEST(number("1.5e2 + .5") == 150.5);
}

BOOST_AUTO_TEST_CASE(predicates_combine_with_and_or_not) {
    BOOST_TEST(holds("event_type == 'purchase'"));
    BOOST_TEST(!holds("event_type != 'purchase'"));
    BOOST_TEST(holds("price > 25 and quantity >= 2"));
    BOOST_TEST(holds("price < 0 or quantity == 2"));
    BOOST_TEST(!holds("not (quantity == 2)"));
    // 'and' binds tighter than 'or'.
    BOOST_TEST(holds("true or false and false"));
    BOOST_TEST(!holds("(true or false) and false"));
    BOOST_TEST(holds("vip"));
    BOOST_TEST(holds("vip == true and not false"));
    BOOST_TEST(holds("product < 'n'"));
}

BOOST_AUTO_TEST_CASE(in_lists_match_strings_and_numbers) {
    BOOST_TEST(holds("event_type in ('view', 'purchase')"));
    BOOST_TEST(!holds("event_type in ('view')"));
    BOOST_TEST(holds("quantity in (1, 2, 3)"));
    BOOST_TEST(holds("-quantity in (-2)"));
    BOOST_TEST(holds("product in ('it\\'s', 'mouse')"));
}

BOOST_AUTO_TEST_CASE(an_unknown_field_is_reported_with_a_suggestion) {
    expect_error("prcie * quantity", 0, "unknown field 'prcie'; did you mean 'price'?", false);
    expect_error("event_type == 'x' and usr_id == 'u'", 22,
                 "unknown field 'usr_id'; did you mean 'user_id'?");
    expect_error("zzz > 1", 0, "unknown field 'zzz'");
}

BOOST_AUTO_TEST_CASE(the_id_and_time_fields_are_not_usable_in_expressions) {
    expect_error("timestamp > 5", 0,
                 "'timestamp' is the event time field; expressions can only use the typed fields "
                 "of [schema.fields]");
}

BOOST_AUTO_TEST_CASE(type_errors_point_at_the_operator) {
    expect_error("price == 'x'", 6, "cannot compare a number with a string");
    expect_error("event_type > 3", 11, "cannot compare a string with a number");
    expect_error("event_type + 1", 11, "'+' needs numbers, but its left side is a string", false);
    expect_error("price * vip", 6, "'*' needs numbers, but its right side is a predicate", false);
    expect_error("quantity and vip", 9, "'and' needs predicates, but its left side is a number");
    expect_error("not price", 0, "'not' needs a predicate, but got a number");
    expect_error("-event_type == 'a'", 0, "unary '-' needs a number, but got a string");
    expect_error("vip < true", 4, "'<' cannot order predicates; use '==' or '!='");
    expect_error("event_type in (1, 2)", 15, "'in' list items must be string literals, got '1'");
    expect_error("vip in (1)", 4,
                 "'in' needs a number or a string on its left, but got a predicate");
}

BOOST_AUTO_TEST_CASE(the_top_level_kind_must_match_the_attribute) {
    expect_error("price * 2", 0, "expected a predicate, but this is a number");
    expect_error("product", 0, "expected a predicate, but this is a string");
    expect_error("price > 2", 0, "expected a numeric expression, but this is a predicate", false);
}

BOOST_AUTO_TEST_CASE(syntax_errors_carry_their_position) {
    expect_error("", 0, "empty expression");
    expect_error("   ", 0, "empty expression");
    expect_error("price >", 7, "unexpected end of expression", false);
    expect_error("(price + 1", 10, "expected ')' to close the '(' at 0, got end of expression",
                 false);
    expect_error("price + 1)", 9, "unexpected ')' after the end of the expression", false);
    expect_error("event_type == 'abc", 14, "unterminated string literal");
    expect_error("price = 1", 6, "'=' is not an operator; use '==' to compare");
    expect_error("vip && vip", 4, "'&' is not an operator; use 'and'");
    expect_error("event_type == \"x\"", 14, "string literals use single quotes");
    expect_error("price # 2", 6, "unexpected character '#'", false);
    expect_error("1.2.3 > 1", 0, "invalid number '1.2.3'");
    expect_error("1 < price < 3", 10, "comparisons cannot be chained; use 'and'");
    expect_error("quantity in 1", 12, "expected '(' after 'in', got '1'");
    expect_error("quantity in (1 2)", 15, "expected ',' or ')' in the 'in' list, got '2'");
    expect_error("price(1) > 2", 0, "'price' is a field, not a function");
    expect_error("and > 2", 0, "unexpected keyword 'and'");
}

BOOST_AUTO_TEST_CASE(division_by_zero_yields_a_non_finite_number) {
    BOOST_TEST(!std::isfinite(number("price / (quantity - 2)")));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace etld::pipeline::test
